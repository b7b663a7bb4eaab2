"""LMAR's whole resampler once per launch of the fused kernel, on one frame, in bf16 autocast: the
program Nsight Compute profiles in workflow/scripts/gpu_check.sh (``ncu -k regex:_compensation_kernel``),
so that its report shows where the kernel's time goes (tensor pipes, issue slots, L2, occupancy) for the
built-in launch and for each launch given. Each launch runs once: its first call compiles the kernel
before launching it, and ncu flushes the caches before each of its passes anyway. Prints one JSON line:
the launches run and the output's size.
Arguments: [device (default cuda)] [height width (default 2160 3840)] [launch as JSON ...].
"""

from __future__ import annotations

import json
import os
import sys

import torch

from lmar.core.registry import RESAMPLERS
from lmar.core.runtime import precision_mode


def main(device: str = "cuda", height: int = 2160, width: int = 3840, *launches: str) -> None:
    dev = torch.device(device)
    torch.manual_seed(0)
    lmar = RESAMPLERS.build({"type": "lmar", "params": {"interpolation": "bicubic"}}).to(dev).eval()
    x = torch.rand(1, 3, height, width, device=dev)
    size = (round(height / 1.8), round(width / 1.8))
    ran = []
    for launch in (None, *launches):
        if launch is not None:
            os.environ["LMAR_FUSED_LAUNCH"] = json.dumps({"bf16": json.loads(launch)})
        try:
            with torch.no_grad(), precision_mode("bf16", dev):
                out = lmar(x, size)
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
        finally:
            os.environ.pop("LMAR_FUSED_LAUNCH", None)
        ran.append(launch or "built-in")
    print(json.dumps({"launches": ran, "out": list(out.shape)}))


if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(main(*(f(a) for f, a in zip((str, int, int), args[:3])), *args[3:]))
