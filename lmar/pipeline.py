"""Downsample -> Enhance -> Upsample (DEU): y = U(E(D(x, (h, w))), (H, W))."""

from __future__ import annotations

import torch

from lmar.errors import LmarError
from lmar.interpolation import resize


def check_target(size, hw, backbone, what) -> None:
    """Refuse a target ``size`` = (h, w) below the backbone's smallest input (``min_size``), naming
    ``what`` (the image, or the target) and the largest factor that ``hw`` = (H, W) allows."""
    if min(size) < backbone.min_size:
        raise LmarError(
            f"{what}: the target {size[0]}x{size[1]} of {hw[0]}x{hw[1]} is below the backbone's smallest input "
            f"{backbone.min_size}x{backbone.min_size}; use a scale of at most {min(hw) / backbone.min_size:.3g}"
        )


def deu(x: torch.Tensor, size, resampler, backbone, upsampler: str = "bicubic") -> torch.Tensor:
    """Enhance ``x`` (B, 3, H, W) at ``size`` = (h, w); returns (B, 3, H, W) clamped to [0, 1]."""
    H, W = x.shape[-2:]
    if resampler.is_identity:
        return backbone(x).clamp(0, 1)
    small = resampler(x, size)
    return resize(backbone(small), (H, W), upsampler).clamp(0, 1)
