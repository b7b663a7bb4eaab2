"""Time the whole resampler on one 3840x2160 frame at x1.8 (1200x2133), bf16 autocast, on CUDA:
bicubic (the yardstick), LMAR with R = bicubic and LMAR with R = lanczos3, then, where the library
has persistent launches of the fused kernel (weights loaded once per program), LMAR with R = bicubic
under the first two that ``lmar tune-kernel``'s sweep tries (set through LMAR_FUSED_LAUNCH; last, as a
launch that faults spoils the process's CUDA context). Prints one JSON line; a case that fails is
recorded with its error.
Arguments: [device (default cuda)] [timed repeats (default 50)].

Run it twice in one device call, once with PYTHONPATH pointing at an earlier commit's library
(workflow/scripts/gpu_prepare.sh unpacks one into .prev/) and once at this tree's, to compare
the two on the same GPU: bash workflow/scripts/gpu_check.sh does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

try:
    from lmar.bench.benchmarks import measure
    from lmar.core.errors import first_line
except ModuleNotFoundError:  # a baseline from before lmar/ had rooms (gpu_prepare.sh unpacks an earlier commit)
    from lmar.benchmarks import measure
    from lmar.errors import first_line

CASES = {
    "bicubic": {"type": "bicubic"},
    "lmar R=bicubic": {"type": "lmar", "params": {"interpolation": "bicubic"}},
    "lmar R=lanczos3": {"type": "lmar", "params": {"interpolation": "lanczos3"}},
}


def _persistent_launches() -> list:
    """The first two persistent launches the launch sweep tries, where the library has them (not a
    baseline from before them, nor a machine without Triton)."""
    try:
        import lmar.parts.lmar.fused.lmar_triton  # noqa: F401  (Triton imports)
        from lmar.bench.tuning import PERSISTENT_LAUNCHES
    except ImportError:
        return []
    return [list(launch) for launch in PERSISTENT_LAUNCHES[:2]]


def main(device: str = "cuda", repeats: int = 50) -> None:
    library = Path(__import__("lmar").__file__).parents[1]
    stamp = library / "COMMIT"  # written by gpu_prepare.sh beside an unpacked baseline
    commit = stamp.read_text().strip() if stamp.exists() else subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=library).stdout.strip()
    out = {"library": str(library), "commit": commit or "this tree (no git here)", "cases": {}}
    cases = [(label, spec, None) for label, spec in CASES.items()]
    cases += [(f"lmar R=bicubic, launch {launch}", CASES["lmar R=bicubic"], launch) for launch in _persistent_launches()]
    for label, spec, launch in cases:
        if launch is not None:
            os.environ["LMAR_FUSED_LAUNCH"] = json.dumps({"bf16": launch})
        try:
            r = measure("resample", resampler=spec, size=(1200, 2133), precision="bf16", device=device,
                        repeats=repeats, warmup=min(5, repeats))
        except Exception as exc:  # a launch that does not compile or faults: recorded, the next case runs
            out["cases"][label] = {"error": first_line(exc, 300)}
            continue
        finally:
            os.environ.pop("LMAR_FUSED_LAUNCH", None)
        out["device"] = r["device"]
        out["cases"][label] = {k: r[k] for k in ("seconds", "peak_extra_mib") if k in r}
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main(*(f(a) for f, a in zip((str, int), sys.argv[1:]))))
