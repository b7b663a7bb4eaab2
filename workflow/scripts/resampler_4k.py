"""Time the whole resampler on one 3840x2160 frame at x1.8 (1200x2133), bf16 autocast, on CUDA:
bicubic (the yardstick), LMAR with R = bicubic and LMAR with R = lanczos3. Prints one JSON line.
Arguments: [device (default cuda)] [timed repeats (default 50)].

Run it twice in one device call, once with PYTHONPATH pointing at an earlier commit's library
(workflow/scripts/gpu_prepare.sh unpacks one into .prev/) and once at this tree's, to compare
the two on the same GPU: bash workflow/scripts/gpu_check.sh does.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

try:
    from lmar.bench.benchmarks import measure
except ModuleNotFoundError:  # a baseline from before lmar/ had rooms (gpu_prepare.sh unpacks an earlier commit)
    from lmar.benchmarks import measure

CASES = {
    "bicubic": {"type": "bicubic"},
    "lmar R=bicubic": {"type": "lmar", "params": {"interpolation": "bicubic"}},
    "lmar R=lanczos3": {"type": "lmar", "params": {"interpolation": "lanczos3"}},
}


def main(device: str = "cuda", repeats: int = 50) -> None:
    library = Path(__import__("lmar").__file__).parents[1]
    stamp = library / "COMMIT"  # written by gpu_prepare.sh beside an unpacked baseline
    commit = stamp.read_text().strip() if stamp.exists() else subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=library).stdout.strip()
    out = {"library": str(library), "commit": commit or "this tree (no git here)", "cases": {}}
    for label, spec in CASES.items():
        r = measure("resample", resampler=spec, size=(1200, 2133), precision="bf16", device=device,
                    repeats=repeats, warmup=min(5, repeats))
        out["device"] = r["device"]
        out["cases"][label] = {k: r[k] for k in ("seconds", "peak_extra_mib") if k in r}
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main(*(f(a) for f, a in zip((str, int), sys.argv[1:]))))
