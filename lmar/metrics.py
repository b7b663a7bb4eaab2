"""Image-quality metrics through pyiqa (imported lazily: it is slow to import)."""

from __future__ import annotations

import torch

from lmar.errors import LmarError

# our name -> (pyiqa metric name, options). ssim is the authors' choice: pyiqa `ssimc`, downsample=True.
PYIQA_METRICS = {
    "psnr": ("psnr", {}),
    "ssim": ("ssimc", {"downsample": True}),
}


class Scorer:
    """Scores (3, H, W) outputs in [0, 1] against their ground truth with each named metric."""

    def __init__(self, names, device: torch.device):
        unknown = sorted(set(names) - set(PYIQA_METRICS))
        if unknown:
            raise LmarError(f"unknown metric(s) {unknown} in evaluation.metrics; known: {sorted(PYIQA_METRICS)}")
        import pyiqa

        self.metrics = {
            n: pyiqa.create_metric(PYIQA_METRICS[n][0], device=device, as_loss=False, **PYIQA_METRICS[n][1])
            for n in names
        }
        self.device = device

    def __call__(self, out: torch.Tensor, gt: torch.Tensor) -> dict[str, float]:
        out, gt = out[None].to(self.device), gt[None].to(self.device)
        with torch.no_grad():
            return {n: float(m(out, gt)) for n, m in self.metrics.items()}
