"""A fused Triton kernel for LMAR's compensatory map (the hot loop of ``LMAR._band``).

For each full-resolution pixel p of a band, the reference (``lmar.parts.lmar.resampler.LMAR._band``)
builds 7 features (relative coordinate, relative cell, detail residual), runs the kernel MLP
``7 -> hidden x depth -> 81`` on them, views the result as a 27x3 matrix K_p and computes
``c_p[o] = sum_k patch_p[k] * K_p[k, o]`` with patch_p the 27 values of the zero-padded 3x3x3
neighbourhood (``F.unfold`` order: ``c*9 + ky*3 + kx``). It materialises the features, every
hidden activation, all 81 kernel values and the unfolded patches in global memory.

Here one launch covers the whole image; one program handles BLOCK pixels of one batch item (or, in
a persistent launch, loops over blocks with the weight matrices loaded once: :class:`Launch`) and
keeps everything on chip:

- the 27 patch values are read straight from the input, zero outside it (no padded copy, no
  unfold);
- features are gathered in-kernel: the coordinates from the 1-D ``rel_y``/``rel_x`` tables,
  the cell from a 2-vector, and the residual ``x - R(x0, (H, W))`` computed on the spot from
  x0 = R(x, size) and the resize's tap tables (at most 4 source rows and columns per pixel,
  :func:`lmar.parts.resize.resize_taps`), so neither the upsampled x0 nor the residual is
  written to memory; they fill a (BLOCK, 16) tile (the 7 inputs padded to 16 for ``tl.dot``,
  the first-layer weight padded with zero rows to match);
- the hidden activations stay in registers, layer after layer (``tl.dot`` + bias + LeakyReLU);
- the last layer is split into three (hidden, 32) column blocks W_o (the 27 kernel entries
  of output channel o, zero-padded to 32), so ``c_o = sum_k patch[k] * (h @ W_o + b_o)[k]``.

Weights are packed for the kernel (:mod:`lmar.parts.lmar.fused.packing`, cached by
:func:`lmar.parts.lmar.fused.fused_map` until a parameter changes). Accumulation is fp32; the operands
are fp32, TF32 or bf16 by the compute mode (:data:`lmar.parts.lmar.fused.packing.COMPUTES`), which
:mod:`lmar.parts.lmar.fused` picks from the model's dtype, autocast and PyTorch's float32 matmul precision.
The launch (block shape, warps, pipelining) comes from :mod:`lmar.parts.lmar.fused.launch`, measured
with ``lmar tune-kernel`` (:mod:`lmar.bench.tuning`).

Triton's CPU interpreter (``TRITON_INTERPRET=1``) multiplies bf16 dot operands as raw bit
patterns (triton-lang/triton#11584, "not supported yet"); under the interpreter the bf16 path
therefore rounds the operands to bf16 and multiplies them as fp32 with fp32 accumulation, as on a
GPU (a bf16 x bf16 product is exact in fp32). One difference remains: Triton 3.8's interpreter
truncates an fp32 -> bf16 cast where a GPU rounds to nearest, so its bf16 results are about twice
as far from fp32 as a GPU's.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import nn

from lmar.parts.lmar.fused.launch import Launch, launch_for
from lmar.parts.lmar.fused.packing import COMPUTES, PackedMLP, compute_dtype, pack_mlp
from lmar.parts.lmar.fused.resize_triton import taps_at

DOT_DTYPES = {torch.float32: tl.float32, torch.bfloat16: tl.bfloat16}
"""The Triton dtype of each weight dtype (:data:`lmar.parts.lmar.fused.packing.WEIGHT_DTYPES`)."""


@triton.jit
def _dot(a, w, DOT_DTYPE: tl.constexpr, INPUT_PRECISION: tl.constexpr, EMULATE_BF16: tl.constexpr):
    """``a @ w`` in fp32 with ``a`` rounded to DOT_DTYPE (``w`` is stored in DOT_DTYPE)."""
    if EMULATE_BF16:
        out = tl.dot(a.to(DOT_DTYPE).to(tl.float32), w.to(tl.float32), input_precision="ieee")
    else:
        out = tl.dot(a.to(DOT_DTYPE), w, input_precision=INPUT_PRECISION)
    return out


@triton.jit
def _leaky_relu(h, negative_slope):
    """LeakyReLU for a slope in (0, 1] (mlp_unsupported refuses others): max(h, slope * h) is h where
    h > 0 and slope * h elsewhere, as ``where(h > 0, h, slope * h)``, bit for bit (signed zeros, infinities
    and NaN included; tests/parts/test_lmar_triton.py), in two instructions instead of three. (At slope 0,
    -inf * 0 is NaN, which max ignores where LeakyReLU returns it.)"""
    return tl.maximum(h, h * negative_slope)


@triton.jit
def _in_weight(w_in_ptr, k_hid, HIDDEN: tl.constexpr):
    """W_in, (16, HIDDEN) input-major: the 7 features' rows, zero-padded."""
    return tl.load(w_in_ptr + tl.arange(0, 16)[:, None] * HIDDEN + k_hid[None, :])


@triton.jit
def _hidden_weight(w_hid_ptr, layer, k_hid, HIDDEN: tl.constexpr):
    """W_layer, (HIDDEN, HIDDEN) input-major."""
    return tl.load(w_hid_ptr + layer * HIDDEN * HIDDEN + k_hid[:, None] * HIDDEN + k_hid[None, :])


@triton.jit
def _out_weight(w_out_ptr, o, k_hid, tap, HIDDEN: tl.constexpr):
    """W_o, (HIDDEN, 32): the 27 kernel entries of output channel o, zero-padded."""
    return tl.load(w_out_ptr + o * HIDDEN * 32 + k_hid[:, None] * 32 + tap[None, :])


@triton.jit
def _out_w(resident, w_out_ptr, o, k_hid, tap, HIDDEN: tl.constexpr, RESIDENT: tl.constexpr):
    """W_o from the resident weights, or loaded (just before its use: three would hold registers)."""
    if RESIDENT:
        w_o = resident[2][o]
    else:
        w_o = _out_weight(w_out_ptr, o, k_hid, tap, HIDDEN)
    return w_o


@triton.jit
def _hidden_layer(h, w_hid, b_hid_ptr, layer, k_hid, negative_slope, HIDDEN: tl.constexpr,
                  DOT_DTYPE: tl.constexpr, INPUT_PRECISION: tl.constexpr, EMULATE_BF16: tl.constexpr):
    """One hidden -> hidden layer: LeakyReLU(h @ W_layer + b_layer), W_layer given."""
    h = _dot(h, w_hid, DOT_DTYPE, INPUT_PRECISION, EMULATE_BF16) + tl.load(b_hid_ptr + layer * HIDDEN + k_hid)[None, :]
    return _leaky_relu(h, negative_slope)


@triton.jit
def _resident_weights(w_in_ptr, w_hid_ptr, w_out_ptr, N_HIDDEN_LAYERS: tl.constexpr, HIDDEN: tl.constexpr):
    """Every weight matrix of the MLP, loaded once: (W_in, (W_1, ...), (W_o for o = 0, 1, 2)). In a
    persistent program they are loaded before its loop over pixel blocks, and the compiler keeps them
    in shared memory for the tensor cores (the biases are re-read per block: held in registers they
    would cost a register per column per thread)."""
    k_hid = tl.arange(0, HIDDEN)
    tap = tl.arange(0, 32)
    w_in = _in_weight(w_in_ptr, k_hid, HIDDEN)
    w_hid = ()
    for layer in tl.static_range(N_HIDDEN_LAYERS):
        w_hid = w_hid + (_hidden_weight(w_hid_ptr, layer, k_hid, HIDDEN),)
    w_out = ()
    for o in tl.static_range(3):
        w_out = w_out + (_out_weight(w_out_ptr, o, k_hid, tap, HIDDEN),)
    return w_in, w_hid, w_out


@triton.jit
def _residual(x_ptr, low_ptr, iy_ptr, wy_ptr, ix_ptr, wx_ptr, channel, row, col, live, x_sc, x_sh, x_sw,
              low_sc, low_sh, low_sw, UP_TAPS: tl.constexpr):
    """x - R(x0, (H, W)) at BLOCK pixels (rows ``row``, columns ``col``), one channel: R(x0) is
    sum_ij wy_i wx_j x0[iy_i, ix_j] over the tap tables of the pixels' rows (iy, wy) and columns
    (ix, wx), each (H or W, UP_TAPS); ``x_ptr``, ``low_ptr`` point at the batch item."""
    up = taps_at(low_ptr + channel * low_sc, iy_ptr, wy_ptr, ix_ptr, wx_ptr, row, col, live, low_sh, low_sw, UP_TAPS)
    here = tl.load(x_ptr + channel * x_sc + row * x_sh + col * x_sw, mask=live, other=0.0).to(tl.float32)
    return here - up


@triton.jit
def _map_channel(h, patch, w_o, b_out_ptr, o, tap, DOT_DTYPE: tl.constexpr, INPUT_PRECISION: tl.constexpr,
                 EMULATE_BF16: tl.constexpr):
    """Channel ``o`` of the map for a block of pixels: their kernels K_o = h @ W_o + b_o applied to their patches."""
    kernel = _dot(h, w_o, DOT_DTYPE, INPUT_PRECISION, EMULATE_BF16) + tl.load(b_out_ptr + o * 32 + tap)[None, :]
    return tl.sum(patch * kernel, axis=1)


@triton.jit
def _map_block(
    blk, b, resident,
    x_ptr, low_ptr, iy_ptr, wy_ptr, ix_ptr, wx_ptr, rel_y_ptr, rel_x_ptr, cell_ptr, out_ptr, mix_ptr,
    w_in_ptr, b_in_ptr, w_hid_ptr, b_hid_ptr, w_out_ptr, b_out_ptr,
    n_pixels, height, width, negative_slope,
    x_sc, x_sh, x_sw, low_sc, low_sh, low_sw,
    N_HIDDEN_LAYERS: tl.constexpr,
    HIDDEN: tl.constexpr,
    BLOCK: tl.constexpr,
    UP_TAPS: tl.constexpr,
    DOT_DTYPE: tl.constexpr,
    INPUT_PRECISION: tl.constexpr,
    EMULATE_BF16: tl.constexpr,
    UNROLL: tl.constexpr,
    MIX: tl.constexpr,
    RESIDENT: tl.constexpr,
):  # fmt: skip
    """Pixels ``blk * BLOCK ...`` (row-major over the image) of batch item ``b``: see :func:`_compensation_kernel`.
    ``x_ptr``, ``low_ptr`` point at the batch item. With RESIDENT the weight matrices are ``resident``
    (:func:`_resident_weights`); otherwise they are loaded here."""
    pix = blk * BLOCK + tl.arange(0, BLOCK)
    live = pix < n_pixels
    row = pix // width
    col = pix % width

    # Features (BLOCK, 16): rel_y, rel_x, cell_y, cell_x, residual r, g, b (x - R(x0, (H, W))), zeros.
    res_r = _residual(x_ptr, low_ptr, iy_ptr, wy_ptr, ix_ptr, wx_ptr, 0, row, col, live, x_sc, x_sh, x_sw,
                      low_sc, low_sh, low_sw, UP_TAPS)
    res_g = _residual(x_ptr, low_ptr, iy_ptr, wy_ptr, ix_ptr, wx_ptr, 1, row, col, live, x_sc, x_sh, x_sw,
                      low_sc, low_sh, low_sw, UP_TAPS)
    res_b = _residual(x_ptr, low_ptr, iy_ptr, wy_ptr, ix_ptr, wx_ptr, 2, row, col, live, x_sc, x_sh, x_sw,
                      low_sc, low_sh, low_sw, UP_TAPS)
    j = tl.arange(0, 16)[None, :]
    rel_y = tl.load(rel_y_ptr + row, mask=live, other=0.0).to(tl.float32)[:, None]
    rel_x = tl.load(rel_x_ptr + col, mask=live, other=0.0).to(tl.float32)[:, None]
    cell_y = tl.load(cell_ptr).to(tl.float32)
    cell_x = tl.load(cell_ptr + 1).to(tl.float32)
    feats = tl.where(j == 0, rel_y, tl.where(j == 1, rel_x, tl.where(j == 2, cell_y, tl.where(j == 3, cell_x, 0.0))))
    feats = tl.where(j == 4, res_r[:, None], tl.where(j == 5, res_g[:, None], tl.where(j == 6, res_b[:, None], feats)))

    # Hidden layers: activations stay on chip.
    k_hid = tl.arange(0, HIDDEN)
    if RESIDENT:
        w_in = resident[0]
    else:
        w_in = _in_weight(w_in_ptr, k_hid, HIDDEN)
    h = _dot(feats, w_in, DOT_DTYPE, INPUT_PRECISION, EMULATE_BF16) + tl.load(b_in_ptr + k_hid)[None, :]
    h = _leaky_relu(h, negative_slope)
    if RESIDENT:
        for layer in tl.static_range(N_HIDDEN_LAYERS):
            h = _hidden_layer(h, resident[1][layer], b_hid_ptr, layer, k_hid, negative_slope, HIDDEN, DOT_DTYPE,
                              INPUT_PRECISION, EMULATE_BF16)
    elif UNROLL:  # straight-line code: the compiler may load layer l + 1's weights during layer l
        for layer in tl.static_range(N_HIDDEN_LAYERS):
            h = _hidden_layer(h, _hidden_weight(w_hid_ptr, layer, k_hid, HIDDEN), b_hid_ptr, layer, k_hid,
                              negative_slope, HIDDEN, DOT_DTYPE, INPUT_PRECISION, EMULATE_BF16)
    else:  # a loop: Triton software-pipelines the weight loads (num_stages buffers in shared memory)
        for layer in range(N_HIDDEN_LAYERS):
            h = _hidden_layer(h, _hidden_weight(w_hid_ptr, layer, k_hid, HIDDEN), b_hid_ptr, layer, k_hid,
                              negative_slope, HIDDEN, DOT_DTYPE, INPUT_PRECISION, EMULATE_BF16)

    # The 27 taps of each pixel's 3x3x3 neighbourhood, zero outside the image (unfold's padding), loaded
    # after the MLP so that they do not hold registers during it.
    tap = tl.arange(0, 32)
    channel = tap // 9
    y = row[:, None] + ((tap % 9) // 3)[None, :] - 1
    x = col[:, None] + (tap % 3)[None, :] - 1
    inside = live[:, None] & (tap < 27)[None, :] & (y >= 0) & (y < height) & (x >= 0) & (x < width)
    patch = tl.load(x_ptr + channel[None, :] * x_sc + y * x_sh + x * x_sw, mask=inside, other=0.0).to(tl.float32)

    # Last layer, one output channel at a time: K_o = h @ W_o + b_o, c_o = sum_k patch * K_o.
    out_base = out_ptr + b * 3 * n_pixels + pix
    if MIX:  # y_o = sum_c M[o, c] x_c + sum_c M[o, 3 + c] c_c (the input read after the map: fewer spills)
        c0 = _map_channel(h, patch, _out_w(resident, w_out_ptr, 0, k_hid, tap, HIDDEN, RESIDENT), b_out_ptr, 0, tap,
                          DOT_DTYPE, INPUT_PRECISION, EMULATE_BF16)
        c1 = _map_channel(h, patch, _out_w(resident, w_out_ptr, 1, k_hid, tap, HIDDEN, RESIDENT), b_out_ptr, 1, tap,
                          DOT_DTYPE, INPUT_PRECISION, EMULATE_BF16)
        c2 = _map_channel(h, patch, _out_w(resident, w_out_ptr, 2, k_hid, tap, HIDDEN, RESIDENT), b_out_ptr, 2, tap,
                          DOT_DTYPE, INPUT_PRECISION, EMULATE_BF16)
        centre = x_ptr + row * x_sh + col * x_sw  # the pixel itself, each channel
        x0 = tl.load(centre, mask=live, other=0.0).to(tl.float32)
        x1 = tl.load(centre + x_sc, mask=live, other=0.0).to(tl.float32)
        x2 = tl.load(centre + 2 * x_sc, mask=live, other=0.0).to(tl.float32)
        for o in tl.static_range(3):
            m = mix_ptr + o * 6
            y = (tl.load(m) * x0 + tl.load(m + 1) * x1 + tl.load(m + 2) * x2
                 + tl.load(m + 3) * c0 + tl.load(m + 4) * c1 + tl.load(m + 5) * c2)
            tl.store(out_base + o * n_pixels, y.to(out_ptr.dtype.element_ty), mask=live)
    else:
        for o in tl.static_range(3):
            c = _map_channel(h, patch, _out_w(resident, w_out_ptr, o, k_hid, tap, HIDDEN, RESIDENT), b_out_ptr, o,
                             tap, DOT_DTYPE, INPUT_PRECISION, EMULATE_BF16)
            tl.store(out_base + o * n_pixels, c.to(out_ptr.dtype.element_ty), mask=live)


@triton.jit
def _compensation_kernel(
    x_ptr, low_ptr, iy_ptr, wy_ptr, ix_ptr, wx_ptr, rel_y_ptr, rel_x_ptr, cell_ptr, out_ptr, mix_ptr,
    w_in_ptr, b_in_ptr, w_hid_ptr, b_hid_ptr, w_out_ptr, b_out_ptr,
    n_pixels, height, width, negative_slope,
    x_sb, x_sc, x_sh, x_sw,
    low_sb, low_sc, low_sh, low_sw,
    N_HIDDEN_LAYERS: tl.constexpr,
    HIDDEN: tl.constexpr,
    BLOCK: tl.constexpr,
    UP_TAPS: tl.constexpr,
    DOT_DTYPE: tl.constexpr,
    INPUT_PRECISION: tl.constexpr,
    EMULATE_BF16: tl.constexpr,
    UNROLL: tl.constexpr,
    MIX: tl.constexpr,
    PERSISTENT: tl.constexpr,
):  # fmt: skip
    """Batch item ``program_id(1)``: one block of BLOCK pixels (row-major over the image), block
    ``program_id(0)``; or, PERSISTENT, blocks ``program_id(0)``, ``+ num_programs(0)``, ... with the weight
    matrices loaded once for all of them (:func:`_resident_weights`).

    x: the input (B, 3, H, W); low: x0 = R(x, (h, w)) (B, 3, h, w), brought back to (H, W) by the
    tap tables iy, wy (H, UP_TAPS) and ix, wx (W, UP_TAPS) to form the residual; out: (B, 3, H, W),
    contiguous: the map C, or with MIX the per-pixel mix ``M[:, :3] x + M[:, 3:] C`` of the input and
    the map by mix (3, 6) float32, row-major (LMAR's 1x1 fusion moved before its resize: the
    epilogue). Weight layouts: see :class:`PackedMLP`.
    """
    b = tl.program_id(1).to(tl.int64)
    x_ptr += b * x_sb
    low_ptr += b * low_sb
    if PERSISTENT:
        resident = _resident_weights(w_in_ptr, w_hid_ptr, w_out_ptr, N_HIDDEN_LAYERS, HIDDEN)
        for blk in range(tl.program_id(0), tl.cdiv(n_pixels, BLOCK), tl.num_programs(0)):
            _map_block(blk, b, resident, x_ptr, low_ptr, iy_ptr, wy_ptr, ix_ptr, wx_ptr, rel_y_ptr, rel_x_ptr,
                       cell_ptr, out_ptr, mix_ptr, w_in_ptr, b_in_ptr, w_hid_ptr, b_hid_ptr, w_out_ptr, b_out_ptr,
                       n_pixels, height, width, negative_slope, x_sc, x_sh, x_sw, low_sc, low_sh, low_sw,
                       N_HIDDEN_LAYERS, HIDDEN, BLOCK, UP_TAPS, DOT_DTYPE, INPUT_PRECISION, EMULATE_BF16, UNROLL,
                       MIX, True)
    else:
        _map_block(tl.program_id(0), b, None, x_ptr, low_ptr, iy_ptr, wy_ptr, ix_ptr, wx_ptr, rel_y_ptr, rel_x_ptr,
                   cell_ptr, out_ptr, mix_ptr, w_in_ptr, b_in_ptr, w_hid_ptr, b_hid_ptr, w_out_ptr, b_out_ptr,
                   n_pixels, height, width, negative_slope, x_sc, x_sh, x_sw, low_sc, low_sh, low_sw,
                   N_HIDDEN_LAYERS, HIDDEN, BLOCK, UP_TAPS, DOT_DTYPE, INPUT_PRECISION, EMULATE_BF16, UNROLL,
                   MIX, False)


INTERPRETED = not isinstance(_compensation_kernel, triton.JITFunction)
"""Whether Triton's CPU interpreter runs the kernel (TRITON_INTERPRET=1 when this module was imported)."""


def kernel_constants(packed: PackedMLP, compute: str, launch: Launch, up_taps: int = 4,
                     mix: bool = False) -> dict[str, object]:
    """The ``tl.constexpr`` arguments of :func:`_compensation_kernel` for ``packed`` weights,
    ``up_taps`` taps per row and column in the residual's resize tables, and whether the kernel
    writes the mix of the input and the map (``mix``) rather than the map."""
    dtype, precision = COMPUTES[compute]
    if packed.dtype != dtype:
        raise ValueError(f"compute={compute!r} needs {dtype} weights, the packed MLP has {packed.dtype}")
    return {
        "N_HIDDEN_LAYERS": packed.n_hidden_layers,
        "HIDDEN": packed.hidden,
        "BLOCK": launch.block,
        "UP_TAPS": up_taps,
        "DOT_DTYPE": DOT_DTYPES[dtype],
        "INPUT_PRECISION": precision,
        "EMULATE_BF16": INTERPRETED and compute == "bf16",
        "UNROLL": launch.unroll,
        "MIX": mix,
        "PERSISTENT": bool(launch.persistent),
    }


def fused_compensation(
    x: torch.Tensor,
    low: torch.Tensor,
    taps_y: tuple[torch.Tensor, torch.Tensor],
    taps_x: tuple[torch.Tensor, torch.Tensor],
    rel_y: torch.Tensor,
    rel_x: torch.Tensor,
    cell: torch.Tensor,
    mlp: nn.Sequential | PackedMLP,
    *,
    compute: str | None = None,
    launch: Launch | None = None,
    compiled: dict | None = None,
    mix: torch.Tensor | None = None,
) -> torch.Tensor:
    """The compensatory map of a whole image, as ``LMAR._band`` over it (``LMAR.fused_inputs``
    builds the arguments).

    x: (B, 3, H, W), any strides; low: x0 = R(x, size) (B, 3, h, w), any strides; taps_y, taps_x:
    ``(index, weight)`` tables (H, T) and (W, T), int32 and float32, of the resize from (h, w)
    back to (H, W) (:func:`lmar.parts.resize.resize_taps`; T a power of two; every index
    within ``low``): the residual is ``x - R(low, (H, W))``. rel_y: (H,); rel_x: (W,); cell:
    (2,). Returns (B, 3, H, W) in x's dtype. ``mlp``: the kernel MLP, or :func:`pack_mlp` of it.
    ``compute``: "fp32", "tf32" or "bf16" (see COMPUTES; None: "bf16" for bf16 weights, else
    "fp32"). ``launch``: block shape and schedule (None: :func:`launch_for` ``compute``).
    ``compiled``: a dict that receives what the compiler reports for this launch on a GPU
    (registers, spills, shared memory per program). ``mix``: (3, 6), when given the result is
    ``mix[:, :3] x + mix[:, 3:] C`` per pixel instead of the map C (computed in float32 on chip).
    No autograd: call it without gradients.
    """
    B, channels, H, W = x.shape
    (iy, wy), (ix, wx) = taps_y, taps_x
    taps = iy.shape[-1]
    if channels != 3 or low.dim() != 4 or tuple(low.shape[:2]) != (B, 3):
        raise ValueError(f"x {tuple(x.shape)} and low {tuple(low.shape)} are not (B, 3, H, W) and (B, 3, h, w)")
    if {iy.shape, wy.shape} != {(H, taps)} or {ix.shape, wx.shape} != {(W, taps)} or taps & (taps - 1):
        raise ValueError(f"tap tables {tuple(iy.shape)}, {tuple(wy.shape)}, {tuple(ix.shape)}, {tuple(wx.shape)} "
                         f"do not fit {H}x{W} with a power-of-two tap count")
    if iy.dtype != torch.int32 or ix.dtype != torch.int32 or wy.dtype != torch.float32 or wx.dtype != torch.float32:
        raise ValueError("tap indices must be int32 and tap weights float32")
    if rel_y.shape != (H,) or rel_x.shape != (W,) or cell.shape != (2,):
        raise ValueError(f"rel_y {tuple(rel_y.shape)}, rel_x {tuple(rel_x.shape)}, cell {tuple(cell.shape)} do not fit")
    weights = mlp.dtype if isinstance(mlp, PackedMLP) else next(mlp.parameters()).dtype
    compute = compute or ("bf16" if weights == torch.bfloat16 else "fp32")
    packed = mlp if isinstance(mlp, PackedMLP) else pack_mlp(mlp, compute_dtype(compute))
    launch = launch or launch_for(compute)
    if mix is not None and tuple(mix.shape) != (3, 6):
        raise ValueError(f"mix {tuple(mix.shape)} is not (3, 6)")
    mix_arg = (mix.detach().to(device=x.device, dtype=torch.float32).contiguous() if mix is not None
               else packed.b_out)  # never read without MIX
    n = H * W
    out = torch.empty(B, 3, H, W, dtype=x.dtype, device=x.device)
    if n == 0 or B == 0:
        return out
    kernel = _compensation_kernel[(launch.programs(triton.cdiv(n, launch.block), B, x.device), B)](
        x, low, iy.contiguous(), wy.contiguous(), ix.contiguous(), wx.contiguous(),
        rel_y.contiguous(), rel_x.contiguous(), cell.contiguous(), out, mix_arg,
        packed.w_in, packed.b_in, packed.w_hidden, packed.b_hidden, packed.w_out, packed.b_out,
        n, H, W, packed.negative_slope,
        *x.stride(),
        *low.stride(),
        **kernel_constants(packed, compute, launch, taps, mix is not None),
        num_warps=launch.num_warps,
        num_stages=launch.num_stages,
    )  # fmt: skip
    if compiled is not None and kernel is not None:  # the interpreter compiles nothing
        compiled.update(registers=getattr(kernel, "n_regs", None), spills=getattr(kernel, "n_spills", None),
                        shared_bytes=getattr(getattr(kernel, "metadata", None), "shared", None))
    return out
