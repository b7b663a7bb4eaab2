"""Downsample -> Enhance -> Upsample (DEU): y = U(E(D(x, (h, w))), (H, W))."""

from __future__ import annotations

import torch

from lmar.interpolation import resize


def deu(x: torch.Tensor, size, resampler, backbone, upsampler: str = "bicubic") -> torch.Tensor:
    """Enhance ``x`` (B, 3, H, W) at ``size`` = (h, w); returns (B, 3, H, W) clamped to [0, 1]."""
    H, W = x.shape[-2:]
    if resampler.is_identity:
        return backbone(x).clamp(0, 1)
    small = resampler(x, size)
    return resize(backbone(small), (H, W), upsampler).clamp(0, 1)
