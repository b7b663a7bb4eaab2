"""Arithmetic cost of the DEU stages: FLOPs and parameter counts.

FLOPs follow PyTorch's :class:`torch.utils.flop_counter.FlopCounterMode`: 2 per multiply-add, only
matrix products and convolutions counted (no bias adds, activations, norms or elementwise work).
The counter sees aten ops only, so three things are added or replaced by hand here:

- interpolation: ``F.interpolate``'s resizes have no formula in the counter (they count 0), and
  the authors' resize (:mod:`lmar.parts.authors_resize`) shows up as its blocked dense matrix products,
  zeros included. Every resize a resampler declares (its ``resizes`` method, see
  :class:`lmar.parts.resampler_base.Resampler`), and the upsampler, is counted by one convention
  instead, :func:`resize_flops`, and what the counter saw of it is taken out;
- LMAR's fused Triton kernel (CUDA, :mod:`lmar.parts.lmar.fused`) is invisible to the counter: where the
  resampler takes that path, its MLP and the per-pixel kernel application are added
  (:func:`lmar_map_flops`), the same count the counter gives the PyTorch reference path;
- a resampler that declares no resizes is counted as the counter sees it (its resizes missing).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from lmar.parts.resize import AUTHORS_METHODS, check_method, resize

TAPS = {"nearest": 0, "bilinear": 2, "bicubic": 4, "cubic": 4, "lanczos3": 6}
"""Source taps per output along one axis (the kernel's support, in source pixels) of each
method; ``area`` is the box size ``ceil(in / out)``."""


def count_flops(fn, *args) -> int:
    """Total FLOPs of ``fn(*args)`` as :class:`FlopCounterMode` counts them (2 per multiply-add)."""
    with FlopCounterMode(display=False) as counter:
        fn(*args)
    return int(counter.get_total_flops())


def param_count(module: nn.Module) -> int:
    """Parameters of ``module`` (each shared tensor once); 0 for a module without any."""
    return sum(p.numel() for p in module.parameters())


def _axis_taps(n_in: int, n_out: int, method: str, antialias: bool) -> int:
    if n_in == n_out:  # the axis is kept as it is: nothing to interpolate along it
        return 0
    if method == "area":
        return -(-n_in // n_out)
    taps = TAPS[method]
    if antialias and n_in > n_out:  # the kernel stretched by in / out: taps * in / out, rounded up
        taps = -(-taps * n_in // n_out)
    return taps


def resize_flops(in_hw, out_hw, method: str, antialias: bool = False, channels: int = 3) -> int:
    """FLOPs of resizing one ``channels`` x ``in_hw`` image to ``out_hw`` with ``method`` (see
    :func:`lmar.parts.resize.resize`), by convention, since the counter sees none:

    every method is separable, so each output pixel of each channel costs one multiply-add per
    source tap along each axis, ``2 * (taps_h + taps_w)`` FLOPs, where an axis' taps are its
    kernel's support: nearest 0 (a copy), bilinear 2, bicubic and cubic 4, lanczos3 6, area the
    box ``ceil(in / out)``. Antialiasing widens the support when an axis is downscaled:
    ``ceil(taps * in / out)`` on that axis (an upscaled axis keeps its taps). An axis whose size is
    kept costs 0 (it is left as it is), so a resize to the same size costs nothing. The total is
    ``channels * out_h * out_w * 2 * (taps_h + taps_w)``: the outputs' cost, not that of the
    intermediate image of a two-pass implementation, nor of weights or tap tables.
    """
    check_method(method, antialias)
    (H, W), (h, w) = (int(n) for n in in_hw), (int(n) for n in out_hw)
    taps = _axis_taps(H, h, method, antialias) + _axis_taps(W, w, method, antialias)
    return channels * h * w * 2 * taps


def lmar_map_flops(resampler, pixels: int) -> int:
    """FLOPs of LMAR's compensatory map over ``pixels`` full-resolution pixels, as the counter
    counts the PyTorch path: the MLP, ``2 * sum(in * out)`` of its Linear layers per pixel, and
    the kernel application, a ``3 k^2 x 3`` kernel times the pixel's ``3 k^2`` neighbourhood."""
    if resampler.mlp is None:
        return 0
    mlp = sum(m.in_features * m.out_features for m in resampler.mlp.modules() if isinstance(m, nn.Linear))
    k = resampler.kernel_size
    return 2 * pixels * (mlp + 3 * k * k * 3)


def stage_flops(resampler, backbone, upsampler: str, hw, size, device) -> dict:
    """FLOPs (in GFLOPs) of each DEU stage for one (3, H, W) image, ``hw`` = (H, W), enhanced at
    ``size`` = (h, w): ``resample_gflops``, ``enhance_gflops`` and ``upsample_gflops``.

    The resampler and the backbone each run once under :class:`FlopCounterMode` on a zero image
    on ``device``, without gradients (in the caller's precision mode, which decides LMAR's fused
    path); the resamplers' resizes are counted by :func:`resize_flops` in place of what the counter
    saw of them, LMAR's fused map is added (see the module doc), and the upsampler
    (``size`` -> ``hw``, no antialias, as :func:`lmar.run.pipeline.deu` calls it) is
    :func:`resize_flops`. The full-resolution resampler (``is_identity``) costs 0 to resample and
    upsample, and the backbone runs at ``hw``."""
    H, W = (int(n) for n in hw)
    x = torch.zeros(1, 3, H, W, device=device)
    with torch.no_grad():
        if resampler.is_identity:
            return {"resample_gflops": 0.0, "enhance_gflops": count_flops(backbone, x) / 1e9, "upsample_gflops": 0.0}
        size = (int(size[0]), int(size[1]))
        resample = count_flops(resampler, x, size)
        resizes, extra = resampler.resizes(x, size)
        for in_hw, out_hw, method, antialias, channels, seen in resizes:
            if seen and method in AUTHORS_METHODS:  # its matrix products, counted above: take them out
                z = torch.zeros(1, channels, *in_hw, device=device)
                resample -= count_flops(resize, z, out_hw, method, antialias)
            resample += resize_flops(in_hw, out_hw, method, antialias, channels)
        enhance = count_flops(backbone, torch.zeros(1, 3, *size, device=device))
    upsample = resize_flops(size, (H, W), upsampler, False)
    return {
        "resample_gflops": (resample + extra) / 1e9,
        "enhance_gflops": enhance / 1e9,
        "upsample_gflops": upsample / 1e9,
    }
