"""The LMAR authors' resize (their copy of resize_right): ``lanczos3`` and ``cubic``, separable.

Along one axis of ``n_in -> n_out`` pixels, output ``y`` samples the source at the pixel-centre
aligned coordinate ``u = (y + 0.5) * n_in / n_out - 0.5`` (the scale is taken from the sizes).
Its window is every source position ``i`` with ``|u - i|`` inside the kernel's support, weighted
``k(u - i)``, and the weights are divided by their sum over the whole window. Positions outside
the image read zero but keep their weight in that sum, so outputs near the border differ from
PyTorch's clamp to the edge pixel (darker when upscaling; at x2 downscaling only the kernel's
negative lobes reach outside, and the border comes out slightly brighter). An axis whose size does not change is left
as it is.

Kernels: ``lanczos3`` (``sinc(d) * sinc(d / 3)`` for ``|d| < 3``: 6 taps) and ``cubic`` (Keys'
cubic convolution with ``a = -0.5``, ``|d| < 2``: 4 taps; PyTorch's bicubic uses ``a = -0.75``).
``antialias=True`` changes only downscaling (``s = n_out / n_in < 1``): the kernel is stretched
to ``k(s * d)`` and its support widened to ``support / s`` source pixels, a low-pass filter over
about ``6 / s`` (lanczos3) or ``4 / s`` (cubic) taps; upscaling is unchanged.

The weights are computed in float64 from integer arithmetic (``u - i`` and the windows are exact
fractions) and kept per axis, device and dtype. Each axis' banded weight matrix is applied in
blocks of outputs, as small dense matrix products over the source positions each block reads:
float32 and float64 inputs in their own dtype, half-precision inputs in float32 (the result is
returned in the input's dtype); autocast is switched off inside. On CUDA the products follow
PyTorch's float32 matmul precision (TF32 where the user allows it).
"""

from __future__ import annotations

from functools import lru_cache

import torch

from lmar.core.errors import LmarError


def _lanczos3(d: torch.Tensor) -> torch.Tensor:
    return torch.sinc(d) * torch.sinc(d / 3)


def _cubic(d: torch.Tensor) -> torch.Tensor:
    a = d.abs()
    near = (1.5 * a - 2.5) * a * a + 1.0
    far = ((-0.5 * a + 2.5) * a - 4.0) * a + 2.0
    return torch.where(a <= 1.0, near, far)


KERNELS = {"lanczos3": (_lanczos3, 6), "cubic": (_cubic, 4)}  # method -> (kernel, support in kernel units)


@lru_cache(maxsize=64)
def axis_weights(n_in: int, n_out: int, method: str, antialias: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """One axis' windows on the CPU: ``(index, weight)``, each ``(n_out, T)`` (int64, float64):
    the source positions of each output's window (some outside ``[0, n_in)``, which read zero) and
    their normalised weights (each row sums to 1, the outside positions included)."""
    if method not in KERNELS:
        raise LmarError(f"unknown kernel {method!r}; choose one of {', '.join(KERNELS)}")
    if n_in < 1 or n_out < 1:
        raise LmarError(f"sizes must be positive, got {n_in} -> {n_out}")
    kernel, support = KERNELS[method]
    # k's argument is num / (2 m), num = (2y + 1) n_in - (2i + 1) n_out (integers): u - i = num / (2 n_out)
    # without antialias, s (u - i) = num / (2 n_in) when antialiased downscaling stretches the kernel
    m = n_in if antialias and n_out < n_in else n_out
    y = torch.arange(n_out, dtype=torch.int64)
    centre = (2 * y + 1) * n_in - n_out  # (2i + 1) n_out - n_out spans the window |num| < support * m
    first = torch.div(centre - support * m, 2 * n_out, rounding_mode="floor") + 1
    last = -torch.div(-(centre + support * m), 2 * n_out, rounding_mode="floor") - 1
    taps = int((last - first).max()) + 1
    index = first[:, None] + torch.arange(taps, dtype=torch.int64)
    num = (2 * y[:, None] + 1) * n_in - (2 * index + 1) * n_out
    arg = num.to(torch.float64) / (2 * m)
    weight = torch.where(num.abs() < support * m, kernel(arg), 0.0)
    exact = num % (2 * m) == 0  # an integer argument: the kernel is 1 at 0 and exactly 0 elsewhere
    weight = torch.where(exact, (num == 0).to(torch.float64), weight)
    total = weight.sum(dim=1, keepdim=True)
    return index, weight / torch.where(total == 0, 1.0, total)


def axis_matrix(n_in: int, n_out: int, method: str, antialias: bool = False) -> torch.Tensor:
    """One axis' resize as a dense ``(n_out, n_in)`` float64 matrix on the CPU (the outside
    positions dropped): ``out = matrix @ in`` along that axis; the identity when the size is kept."""
    if n_in == n_out:
        return torch.eye(n_in, dtype=torch.float64)
    index, weight = axis_weights(n_in, n_out, method, antialias)
    inside = (index >= 0) & (index < n_in)
    dense = torch.zeros(n_out, n_in, dtype=torch.float64)
    return dense.scatter_add_(1, index.clamp(0, n_in - 1), torch.where(inside, weight, 0.0))


SPAN = 64  # source positions per block of outputs, about: small dense products, little work on zeros


@lru_cache(maxsize=64)
def _axis_blocks(n_in: int, n_out: int, method: str, antialias: bool, device: torch.device, dtype: torch.dtype):
    """One axis' resize as consecutive blocks of outputs, each ``(lo, hi, weight)``: the outputs'
    weights over source positions ``lo:hi`` (``weight``: ``(outputs, hi - lo)`` in ``dtype`` on
    ``device``; the positions outside the image, which read zero, left out). Blocks hold about
    ``SPAN`` source positions each, so the banded matrix is applied as small dense products."""
    index, weight = axis_weights(n_in, n_out, method, antialias)
    inside = (index >= 0) & (index < n_in)
    weight = torch.where(inside, weight, 0.0)
    used = weight != 0
    taps = index.shape[1]
    size = max(8, min(256, 8 * round(max(SPAN - taps, 8) * n_out / n_in / 8)))
    blocks = []
    for r0 in range(0, n_out, size):
        rows = slice(r0, min(n_out, r0 + size))
        kept = index[rows][used[rows]]
        lo, hi = (int(kept.min()), int(kept.max()) + 1) if kept.numel() else (0, 1)
        dense = torch.zeros(rows.stop - r0, hi - lo, dtype=torch.float64)
        dense.scatter_add_(1, (index[rows] - lo).clamp(0, hi - lo - 1), weight[rows])
        blocks.append((lo, hi, dense.to(device=device, dtype=dtype)))
    return tuple(blocks)


def _resize_axis(x: torch.Tensor, dim: int, n_out: int, method: str, antialias: bool) -> torch.Tensor:
    blocks = _axis_blocks(x.shape[dim], n_out, method, antialias, x.device, x.dtype)
    if dim == -2:
        return torch.cat([weight @ x[..., lo:hi, :] for lo, hi, weight in blocks], dim=-2)
    return torch.cat([x[..., lo:hi] @ weight.t() for lo, hi, weight in blocks], dim=-1)


def resize(x: torch.Tensor, size: tuple[int, int], method: str = "lanczos3", antialias: bool = False) -> torch.Tensor:
    """Resize the last two dims of ``x`` (any leading dims, floating point) to ``size = (h, w)``
    with the authors' ``method`` (see the module's description)."""
    if not x.is_floating_point():
        raise LmarError(f"{method} resizes floating-point images, got {x.dtype}")
    h, w = int(size[0]), int(size[1])
    H, W = x.shape[-2:]
    y = x if x.dtype in (torch.float32, torch.float64) else x.float()
    # the pass that leaves the smaller intermediate first (the rows first on a tie: whole-row copies)
    passes = [(-1, w), (-2, h)] if H * w < h * W else [(-2, h), (-1, w)]
    with torch.autocast(x.device.type, enabled=False):  # the products in float32, also under autocast
        for dim, n in passes:
            if y.shape[dim] != n:
                y = _resize_axis(y, dim, n, method, antialias)
    return y.to(x.dtype)
