"""Image-quality metrics through pyiqa (imported lazily: it is slow to import).

LPIPS needs torchvision's ImageNet AlexNet and the LPIPS linear layers (lmar.weights). When
they are absent it is reported missing, with a one-line reason, unless it is required.
"""

from __future__ import annotations

import logging

import torch

from lmar.errors import LmarError
from lmar.weights import missing_reason, weight_path

log = logging.getLogger(__name__)

# our name -> (pyiqa metric name, options). ssim is the authors' choice: pyiqa `ssimc`, downsample=True.
PYIQA_METRICS = {
    "psnr": ("psnr", {}),
    "ssim": ("ssimc", {"downsample": True}),
    "lpips": ("lpips", {}),
}
NEEDS_WEIGHTS = {"lpips": ("alexnet", "lpips_alex")}


class Scorer:
    """Scores (3, H, W) outputs in [0, 1] against their ground truth with each named metric.

    ``missing`` maps each metric that could not be built to the reason; its column is NaN.
    """

    def __init__(self, names, device: torch.device, required=("psnr", "ssim")):
        unknown = sorted(set(names) - set(PYIQA_METRICS))
        if unknown:
            raise LmarError(f"unknown metric(s) {unknown} in evaluation.metrics; known: {sorted(PYIQA_METRICS)}")
        import pyiqa

        self.names, self.device, self.metrics, self.missing = list(names), device, {}, {}
        for n in names:
            reason = missing_reason(NEEDS_WEIGHTS.get(n, ()))
            if reason:
                if n in required:
                    raise LmarError(f"metric {n!r} is required (evaluation.required_metrics) but {reason}")
                log.warning("metric %s missing: %s", n, reason)
                self.missing[n] = reason
                continue
            options = dict(PYIQA_METRICS[n][1])
            if n == "lpips":
                options["pretrained_model_path"] = str(weight_path("lpips_alex"))
            self.metrics[n] = pyiqa.create_metric(PYIQA_METRICS[n][0], device=device, as_loss=False, **options)

    def __call__(self, out: torch.Tensor, gt: torch.Tensor) -> dict[str, float]:
        out, gt = out[None].to(self.device), gt[None].to(self.device)
        with torch.no_grad():
            scores = {n: float(m(out, gt)) for n, m in self.metrics.items()}
        return {n: scores.get(n, float("nan")) for n in self.names}
