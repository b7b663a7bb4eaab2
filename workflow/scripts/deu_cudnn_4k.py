"""Time one output through the evaluation's own DEU path (``lmar.run.pipeline.deu_staged``, as
``lmar.run.evaluate`` calls it) for each backbone of the paper grid, at its x1.8-aspect size (1200x2133
of a 4K frame, bicubic) and at full resolution, in the paper config's precision and upsampler, with
two cuDNN settings:

- the evaluation's: benchmark mode off (PyTorch's default), deterministic algorithms on, warnings only
  (``lmar.core.runtime.noting_nondeterminism``), which may keep cuDNN from its fastest kernels;
- benchmark mode on, no determinism: what ``lmar bench``'s DEU section timed.

If the second is much faster, the evaluation leaves speed on the table at the paper's scale. Untrained
weights (speed does not depend on them). Prints one JSON line.
Arguments: [device (default cuda)] [timed repeats (default 10)] [height width (default 2160 3840)].
"""

from __future__ import annotations

import contextlib
import json
import sys

import torch

from lmar.bench.benchmarks import _timed, device_label
from lmar.bench.scale_bench import UHD, as_fractions, paper_grid
from lmar.core.registry import BACKBONES, RESAMPLERS
from lmar.core.runtime import noting_nondeterminism, precision_mode
from lmar.run.pipeline import deu_staged

SETTINGS = {"evaluation (benchmark off, deterministic)": (False, True), "benchmark on": (True, False)}
SIZE = "x1.8-aspect"  # the paper config's target, taken as fractions of each side


def main(device: str = "cuda", repeats: int = 10, height: int = UHD[0], width: int = UHD[1]) -> None:
    dev = torch.device(device)
    grid = paper_grid()
    evaluation = grid["evaluation"]
    precision, upsampler = evaluation.get("precision", "fp32"), evaluation.get("upsampler", "bicubic")
    x = torch.rand(1, 3, height, width, device=dev)
    fy, fx = next(s["fraction"] for s in as_fractions(evaluation)["sizes"] if s["name"] == SIZE)
    cases = {f"{SIZE} bicubic": ({"type": "bicubic"}, (round(height * fy), round(width * fx))),
             "full resolution": ({"type": "full_resolution"}, (height, width))}
    out = {"device": device_label(dev), "torch": torch.__version__, "precision": precision, "upsampler": upsampler,
           "hw": [height, width], "repeats": repeats, "cases": {}}
    for bname, bspec in grid["backbones"].items():
        torch.manual_seed(0)
        backbone = BACKBONES.build(bspec).to(dev).eval()
        for case, (rspec, size) in cases.items():
            resampler = RESAMPLERS.build(rspec).to(dev).eval()
            for label, (benchmark, deterministic) in SETTINGS.items():
                torch.backends.cudnn.benchmark = benchmark

                def fn():
                    noted = noting_nondeterminism(dev, set()) if deterministic else contextlib.nullcontext()
                    with precision_mode(precision, dev), noted:
                        return deu_staged(x, size, resampler, backbone, upsampler, dev)

                r = _timed(fn, dev, repeats, warmup=3)
                out["cases"][f"{bname} {case}, {label}"] = {"seconds": r["seconds"], "peak_extra_mib": r["peak_extra_mib"]}
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main(*(f(a) for f, a in zip((str, int, int, int), sys.argv[1:]))))
