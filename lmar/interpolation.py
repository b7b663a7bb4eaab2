"""Fixed interpolation operators R(x, size): the plain resampler and LMAR's building block."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lmar.errors import LmarError

METHODS = ("nearest", "bilinear", "bicubic", "area")
_ANTIALIAS_OK = ("bilinear", "bicubic")


def check_method(method: str, antialias: bool) -> None:
    if method not in METHODS:
        raise LmarError(f"unknown interpolation method {method!r}; choose one of {', '.join(METHODS)}")
    if antialias and method not in _ANTIALIAS_OK:
        raise LmarError(f"antialias=True is only defined for {' and '.join(_ANTIALIAS_OK)}, not {method!r}")


def resize(x: torch.Tensor, size: tuple[int, int], method: str = "bicubic", antialias: bool = False) -> torch.Tensor:
    """Resize a (B, C, H, W) tensor to ``size = (h, w)`` (pixel-centre aligned)."""
    h, w = int(size[0]), int(size[1])
    if h < 1 or w < 1:
        raise LmarError(f"target size must be positive, got {h}x{w}")
    if tuple(x.shape[-2:]) == (h, w):
        return x
    kwargs = {} if method in ("nearest", "area") else {"align_corners": False}
    if method in _ANTIALIAS_OK:
        kwargs["antialias"] = antialias and (h < x.shape[-2] or w < x.shape[-1])
    return F.interpolate(x, size=(h, w), mode=method, **kwargs)


def target_size(hw: tuple[int, int], scale: float) -> tuple[int, int]:
    """The (h, w) a downscale by ``scale`` gives for an (H, W) image (rounded, at least 1)."""
    scale = parse_scale(scale)
    return max(1, round(hw[0] / scale)), max(1, round(hw[1] / scale))


def parse_scale(scale) -> float:
    try:
        value = float(scale)
    except (TypeError, ValueError):
        raise LmarError(f"scale must be a number >= 1 (a downscaling factor such as 2 or 1.8), got {scale!r}") from None
    if not value >= 1.0 or value == float("inf"):
        raise LmarError(f"scale must be a number >= 1 (a downscaling factor such as 2 or 1.8), got {scale!r}")
    return value
