"""What LMAR's kernel network reads at each full-resolution pixel, and its shape (docs/method.md
section 2): the relative coordinate to the nearest low-resolution pixel, the relative cell, the
taps of the resize that brings the low-resolution image back (for the detail residual), and the MLP
that maps these 7 inputs to a pixel's kernel. Shapes' tensors are kept per shape and device."""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import nn

from lmar.parts.resize import resize_taps

N_INPUTS = 7  # rel. coordinate (2) + rel. cell (2) + detail residual (3)
KERNEL = 3  # 3x3 spatial support over the 3 input channels -> 27 values per pixel (the method's, the fused kernel's)
KERNEL_SIZES = (3, 5)  # the spatial supports LMAR(kernel_size=...) offers


def kernel_mlp(hidden: int = 128, depth: int = 5, kernel_size: int = KERNEL) -> nn.Sequential:
    """f: 7 -> hidden x depth -> 3 k^2 x 3 (81 for k = 3: a 27x3 matrix), LeakyReLU (slope 0.01), no output
    activation; a bias on the first layer only, as in the authors' network (their first-layer bias is
    implicit: padded inputs of value 1)."""
    layers: list[nn.Module] = [nn.Linear(N_INPUTS, hidden), nn.LeakyReLU()]
    for _ in range(depth - 1):
        layers += [nn.Linear(hidden, hidden, bias=False), nn.LeakyReLU()]
    layers.append(nn.Linear(hidden, 3 * kernel_size * kernel_size * 3, bias=False))
    return nn.Sequential(*layers)


def pixel_centres(n: int, device) -> torch.Tensor:
    """The n pixel centres of one axis in [-1, 1], ``-1 + 1/n + (2/n) i``, in float32 (the authors'
    arithmetic, so that ties below fall the way theirs did)."""
    r = 1.0 / n
    return (2.0 * r) * torch.arange(n, dtype=torch.float32, device=device) + (-1.0 + r)


def relative_coordinate(n_full: int, n_low: int, device, dtype) -> torch.Tensor:
    """Per full-res index i along one axis: (coord_i - centre of its nearest low-res pixel) * n_low,
    in low-res pixel units, in [-1, 1].

    Computed as the authors' code does: float32 pixel centres, the nearest low-res pixel by rounding
    ``((c + 1) n_low - 1) / 2`` half to even (grid_sample's nearest mode), the difference times
    n_low in float32. At integer ratios nothing ties; at x1.5 every third full-res pixel lies exactly
    between two low-res ones, and the float32 rounding decides the side, as it did for the
    released model.
    """
    c, low = pixel_centres(n_full, device), pixel_centres(n_low, device)
    k = torch.round(((c + 1) * n_low - 1) / 2).clamp_(0, n_low - 1).long()
    return ((c - low[k]) * n_low).to(dtype)


@lru_cache(maxsize=16)
def upsample_taps(low_hw: tuple[int, int], hw: tuple[int, int], method: str, antialias: bool, device: str):
    """:func:`resize_taps` for the residual's resize, kept per shape and device (a few KiB each)."""
    return resize_taps(low_hw, hw, method, antialias, device)


@lru_cache(maxsize=16)
def positions(hw: tuple[int, int], size: tuple[int, int], device: str, dtype: torch.dtype, _inference: bool):
    """:meth:`LMAR.position_inputs <lmar.parts.lmar.resampler.LMAR.position_inputs>` for one shape, kept per shape, device and dtype (read only: a few KiB;
    about 30 small kernels a forward pass otherwise). ``_inference``: whether inference mode made them
    (such tensors cannot enter autograd, so the two kinds are kept apart)."""
    (H, W), (h, w) = hw, size
    rel_y = relative_coordinate(H, h, device, dtype)
    rel_x = relative_coordinate(W, w, device, dtype)
    # filled on the device: a tensor built from a Python list would be a host-to-device copy,
    # which waits for the GPU's queue to drain in the middle of the forward pass
    cell = torch.full((2,), 2.0 * h / H, device=device, dtype=dtype)
    cell[1:].fill_(2.0 * w / W)
    return rel_y, rel_x, cell


@lru_cache(maxsize=16)
def identity_taps(n: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.arange(n, device=device, dtype=torch.int32)[:, None], torch.ones(n, 1, device=device)
