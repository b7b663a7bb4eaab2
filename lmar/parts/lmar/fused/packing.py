"""The kernel MLP's weights laid out for the fused kernel (:mod:`lmar.parts.lmar.fused.lmar_triton`),
and what the kernel can run: the MLPs it takes (:func:`mlp_unsupported`) and its compute modes
(:data:`COMPUTES`).

The layout: transposed, padded to a power-of-two hidden size (Triton's block shapes must be powers of
two; the zero rows and columns contribute exactly nothing) and cast to the dot dtype; the 7 inputs
padded to 16 for ``tl.dot``, the first layer's weight with zero rows to match; the last layer split
into three (hidden, 32) column blocks, one per output channel. Plain PyTorch: no Triton needed here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from lmar.core.errors import LmarError
from lmar.parts.lmar.inputs import KERNEL, N_INPUTS

FEATURES_PADDED = 16  # tl.dot needs every dimension >= 16
N_TAPS = 3 * KERNEL * KERNEL  # 3 channels x the method's 3x3 neighbourhood: 27
TAPS_PADDED = 32
N_KERNEL = N_TAPS * 3  # the MLP's output: K_p as a 27x3 matrix, row-major
COMPUTES = {"fp32": (torch.float32, "ieee"), "tf32": (torch.float32, "tf32"), "bf16": (torch.bfloat16, "tf32")}
"""Compute mode -> (weight and dot-operand dtype, ``tl.dot`` input_precision); accumulation is fp32
in all three. fp32: true fp32 products, like PyTorch's matmul at float32 precision "highest";
tf32: fp32 operands through the tensor cores' TF32 mode (PyTorch's "high"); bf16: bf16 operands
(bf16 weights, or a float32 model under bf16 autocast). ("tf32x3" would need 256 KiB of shared
memory at hidden 128.)"""
MAX_HIDDEN = 128
"""The widest hidden layer the kernel takes, in either dot dtype; a wider MLP runs the PyTorch path
under "auto". Compiled for sm_90 (H100) as Triton specialises a 3840x2160 launch (pointers and sizes
divisible by 16, unit strides constant), the default launches then need 97 KiB (bf16: the hidden layers'
weights pipelined through 3 buffers of hidden x hidden), 144 KiB (fp32) or 65 KiB (tf32) of shared
memory, of the 227 KiB a block may use; bf16 at hidden 256 (or 144 to 240, padded to 256) would need
385 KiB (tests/parts/test_lmar_triton.py, compiled code)."""
WEIGHT_DTYPES = tuple(dict.fromkeys(dtype for dtype, _ in COMPUTES.values()))
"""The dtypes the kernel's weights and dot operands come in: float32 and bfloat16."""


def compute_dtype(compute: str) -> torch.dtype:
    if compute not in COMPUTES:
        raise LmarError(f"lmar: compute={compute!r} is not one of {', '.join(COMPUTES)}")
    return COMPUTES[compute][0]


@dataclass(frozen=True)
class PackedMLP:
    """The kernel MLP's weights laid out for :func:`lmar.parts.lmar.fused.lmar_triton._compensation_kernel`.

    ``hidden`` below is the MLP's hidden width rounded up to a power of two (zero padded);
    weights are in the dot dtype, biases in fp32.
    """

    w_in: torch.Tensor  # (16, hidden): first layer, input-major, rows 7..15 zero
    b_in: torch.Tensor  # (hidden,)
    w_hidden: torch.Tensor  # (max(1, n_hidden_layers), hidden, hidden), input-major
    b_hidden: torch.Tensor  # (max(1, n_hidden_layers), hidden)
    w_out: torch.Tensor  # (3, hidden, 32): [o, i, k] = W_last[k * 3 + o, i], k >= 27 zero
    b_out: torch.Tensor  # (3, 32)
    n_hidden_layers: int  # depth - 1 (hidden -> hidden layers); w_hidden is a dummy when 0
    negative_slope: float

    @property
    def hidden(self) -> int:
        return self.w_in.shape[1]

    @property
    def dtype(self) -> torch.dtype:
        return self.w_in.dtype


def _layers(mlp: nn.Module) -> tuple[list[nn.Linear], list[nn.LeakyReLU]] | None:
    """(linears, activations) of a Linear, LeakyReLU, ..., Linear stack; None for anything else."""
    if not isinstance(mlp, nn.Sequential) or len(mlp) < 3 or len(mlp) % 2 == 0:
        return None
    linears, acts = list(mlp)[0::2], list(mlp)[1::2]
    if not all(type(m) is nn.Linear for m in linears) or not all(type(m) is nn.LeakyReLU for m in acts):
        return None
    return linears, acts


def mlp_unsupported(mlp: nn.Module) -> str | None:
    """Why the fused kernel cannot run ``mlp`` (None: it can).

    Supported: ``Linear(7, h), LeakyReLU, [Linear(h, h), LeakyReLU] x (depth - 1), Linear(h, 81)``
    with or without biases (a missing one packs as zeros), one LeakyReLU slope in (0, 1], depth >= 1, fp32 or bf16 parameters and h a multiple of 16
    in [16, MAX_HIDDEN].
    """
    layers = _layers(mlp)
    if layers is None:
        return "the kernel MLP is not a Linear/LeakyReLU stack"
    linears, acts = layers
    hidden = linears[0].out_features
    if linears[0].in_features != N_INPUTS or linears[-1].out_features != N_KERNEL:
        return (f"the kernel MLP maps {linears[0].in_features} -> {linears[-1].out_features}, "
                f"not {N_INPUTS} -> {N_KERNEL}")
    if any(m.in_features != hidden for m in linears[1:]) or any(m.out_features != hidden for m in linears[:-1]):
        return "the kernel MLP's hidden layers differ in width"
    if len({m.negative_slope for m in acts}) != 1:
        return "the kernel MLP's LeakyReLU slopes differ"
    if not 0 < acts[0].negative_slope <= 1:
        return f"the kernel MLP's LeakyReLU slope {acts[0].negative_slope} is not in (0, 1]"
    dtypes = {p.dtype for p in mlp.parameters()}
    if len(dtypes) != 1 or next(iter(dtypes)) not in WEIGHT_DTYPES:
        return f"the kernel MLP's parameters are {sorted(map(str, dtypes))}, not all float32 or all bfloat16"
    if hidden % 16 or not 16 <= hidden <= MAX_HIDDEN:
        return f"hidden={hidden} is not a multiple of 16 in [16, {MAX_HIDDEN}]"
    return None


def _padded(t: torch.Tensor, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """``t`` in the top-left corner of a zero tensor of ``shape``."""
    out = torch.zeros(shape, dtype=dtype, device=t.device)
    out[tuple(slice(0, n) for n in t.shape)] = t
    return out


def _bias(m: nn.Linear) -> torch.Tensor:
    """The layer's bias, or zeros where it has none."""
    return m.bias if m.bias is not None else torch.zeros(m.out_features, dtype=m.weight.dtype, device=m.weight.device)


@torch.no_grad()
def pack_mlp(mlp: nn.Sequential, dtype: torch.dtype | None = None) -> PackedMLP:
    """Lay out ``mlp``'s weights for the kernel, in ``dtype`` (float32 or bfloat16; None: the parameters')."""
    reason = mlp_unsupported(mlp)
    if reason is not None:
        raise LmarError(f"lmar: the fused kernel cannot run this MLP: {reason}")
    linears, acts = _layers(mlp)
    first, middle, last = linears[0], linears[1:-1], linears[-1]
    dtype = first.weight.dtype if dtype is None else dtype
    if dtype not in WEIGHT_DTYPES:
        raise LmarError(f"lmar: the fused kernel computes in float32 or bfloat16, not {dtype}")
    hidden = 1 << (first.out_features - 1).bit_length()  # the next power of two
    f32 = torch.float32
    if middle:
        w_hidden = torch.stack([_padded(m.weight.t(), (hidden, hidden), dtype) for m in middle])
        b_hidden = torch.stack([_padded(_bias(m), (hidden,), f32) for m in middle])
    else:  # never read (the layer loop runs zero times), but the kernel needs a valid pointer
        w_hidden = torch.zeros(1, hidden, hidden, dtype=dtype, device=first.weight.device)
        b_hidden = torch.zeros(1, hidden, dtype=f32, device=first.weight.device)
    # W_last row k * 3 + o holds tap k of output channel o (K_p is a row-major 27x3 matrix).
    w_last = last.weight.view(N_TAPS, 3, -1).permute(1, 2, 0)  # (3, hidden, 27)
    return PackedMLP(
        w_in=_padded(first.weight.t(), (FEATURES_PADDED, hidden), dtype),
        b_in=_padded(_bias(first), (hidden,), f32),
        w_hidden=w_hidden,
        b_hidden=b_hidden,
        w_out=_padded(w_last, (3, hidden, TAPS_PADDED), dtype),
        b_out=_padded(_bias(last).view(N_TAPS, 3).t(), (3, TAPS_PADDED), f32),
        n_hidden_layers=len(middle),
        negative_slope=float(acts[0].negative_slope),
    )
