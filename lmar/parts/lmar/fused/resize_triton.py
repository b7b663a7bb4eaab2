"""A resize from tap tables as one Triton kernel, for LMAR's fused inference path.

``out[b, c, i, j] = sum_pq wy[i, p] wx[j, q] src[b, c, iy[i, p], ix[j, q]] (+ bias[c])``, the tables
being :func:`lmar.parts.resize.resize_taps` of the resize (checked there against
:func:`lmar.parts.resize.resize` on the device). Each program computes BLOCK output pixels of one
channel plane, reading its TAPS x TAPS source pixels (4 for bicubic, 8 for lanczos3) through the source's strides, in float32.
Where no tables fit (antialiased downscaling, more than MAX_TAPS taps), LMAR keeps PyTorch's resize.
"""

from __future__ import annotations

from functools import lru_cache

import torch
import triton
import triton.language as tl

from lmar.parts.resize import resize_taps

MAX_TAPS = 8  # per output row and column: lanczos3's 6-tap window, padded to a power of two
BLOCK = 128  # output pixels per program


@triton.jit
def taps_at(plane_ptr, iy_ptr, wy_ptr, ix_ptr, wx_ptr, row, col, live, s_h, s_w, TAPS: tl.constexpr):
    """``sum_pq wy[row, p] wx[col, q] plane[iy[row, p], ix[col, q]]`` in float32 at a block of output
    pixels (rows ``row``, columns ``col``, masked by ``live``), from (n, TAPS) tap tables; ``plane_ptr``
    points at one channel plane, read through its strides ``s_h``, ``s_w``."""
    t = tl.arange(0, TAPS)
    iy = tl.load(iy_ptr + row[:, None] * TAPS + t[None, :], mask=live[:, None], other=0)
    wy = tl.load(wy_ptr + row[:, None] * TAPS + t[None, :], mask=live[:, None], other=0.0)
    ix = tl.load(ix_ptr + col[:, None] * TAPS + t[None, :], mask=live[:, None], other=0)
    wx = tl.load(wx_ptr + col[:, None] * TAPS + t[None, :], mask=live[:, None], other=0.0)
    vals = tl.load(plane_ptr + iy[:, :, None] * s_h + ix[:, None, :] * s_w, mask=live[:, None, None], other=0.0)
    return tl.sum(tl.sum(vals.to(tl.float32) * wy[:, :, None] * wx[:, None, :], axis=2), axis=1)


@triton.jit
def _resize_kernel(
    src_ptr, out_ptr, iy_ptr, wy_ptr, ix_ptr, wx_ptr, bias_ptr,
    n_out, out_w,
    s_sb, s_sc, s_sh, s_sw,
    TAPS: tl.constexpr,
    BLOCK: tl.constexpr,
    BIAS: tl.constexpr,
):  # fmt: skip
    """Program (k, plane): output pixels k * BLOCK ... of plane ``b * 3 + c``; ``out`` is (B, 3, h, w) contiguous."""
    plane = tl.program_id(1)
    b = (plane // 3).to(tl.int64)
    c = plane % 3
    pix = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    live = pix < n_out
    plane_ptr = src_ptr + b * s_sb + c * s_sc
    acc = taps_at(plane_ptr, iy_ptr, wy_ptr, ix_ptr, wx_ptr, pix // out_w, pix % out_w, live, s_sh, s_sw, TAPS)
    if BIAS:
        acc += tl.load(bias_ptr + c).to(tl.float32)
    tl.store(out_ptr + plane.to(tl.int64) * n_out + pix, acc.to(out_ptr.dtype.element_ty), mask=live)


@lru_cache(maxsize=16)
def resize_tables(in_hw: tuple[int, int], out_hw: tuple[int, int], method: str, antialias: bool, device: str):
    """:func:`resize_taps` with 4 taps where they fit (bicubic), else MAX_TAPS (lanczos3's 6), kept per
    shape and device; None where neither fits."""
    for taps in (4, MAX_TAPS):
        tables = resize_taps(in_hw, out_hw, method, antialias, device, max_taps=taps)
        if tables is not None:
            return tables
    return None


def fused_resize(src: torch.Tensor, tables, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``src`` (B, 3, H, W), any strides, resized by ``tables`` (:func:`resize_tables`, not None) to
    (B, 3, h, w) contiguous in ``src``'s dtype, plus ``bias`` (3,) per channel when given. No autograd."""
    (iy, wy), (ix, wx) = tables
    B, C, _, _ = src.shape
    taps = iy.shape[1]
    if C != 3 or ix.shape[1] != taps or taps & (taps - 1):
        raise ValueError(f"src {tuple(src.shape)} is not (B, 3, H, W), or the tables' tap counts differ or "
                         "are not a power of two")
    h, w = iy.shape[0], ix.shape[0]
    out = torch.empty(B, 3, h, w, dtype=src.dtype, device=src.device)
    if out.numel() == 0:
        return out
    _resize_kernel[(triton.cdiv(h * w, BLOCK), B * 3)](
        src, out, iy, wy, ix, wx, bias if bias is not None else wy,
        h * w, w,
        *src.stride(),
        TAPS=taps, BLOCK=BLOCK, BIAS=bias is not None,
    )  # fmt: skip
    return out
