"""LMAR's whole resampler once, on one frame, in bf16 autocast, with the fused kernel's built-in launch or
the one given: the program Nsight Compute profiles in workflow/scripts/gpu_check.sh (``ncu -k
regex:_compensation_kernel``, one ncu call per launch, so that a time limit keeps the launches already
read), so that its report shows where the kernel's time goes (tensor pipes, issue slots, L2, occupancy).
The call compiles the kernel before launching it; ncu flushes the caches before each of its passes.
Prints one JSON line: the launch run and the output's size.
Arguments: [device (default cuda)] [height width (default 2160 3840)] [launch as JSON (default: built-in)].
"""

from __future__ import annotations

import json
import os
import sys

import torch

from lmar.core.registry import RESAMPLERS
from lmar.core.runtime import precision_mode


def main(device: str = "cuda", height: int = 2160, width: int = 3840, launch: str | None = None) -> None:
    dev = torch.device(device)
    torch.manual_seed(0)
    lmar = RESAMPLERS.build({"type": "lmar", "params": {"interpolation": "bicubic"}}).to(dev).eval()
    x = torch.rand(1, 3, height, width, device=dev)
    if launch is not None:
        os.environ["LMAR_FUSED_LAUNCH"] = json.dumps({"bf16": json.loads(launch)})
    with torch.no_grad(), precision_mode("bf16", dev):
        out = lmar(x, (round(height / 1.8), round(width / 1.8)))
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    print(json.dumps({"launch": launch or "built-in", "out": list(out.shape)}))


if __name__ == "__main__":
    sys.exit(main(*(f(a) for f, a in zip((str, int, int, str), sys.argv[1:]))))
