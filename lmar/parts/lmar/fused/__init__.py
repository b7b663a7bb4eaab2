"""Optional fused kernels for LMAR, and the rule that decides when they run.

The fused path lives in :mod:`lmar.parts.lmar.fused.lmar_triton`; it needs Triton, which is not a
dependency of the harness. Nothing here imports Triton until a decision actually needs it,
so ``import lmar.parts.lmar.resampler`` stays cheap and works where Triton is missing or broken.

Modes (``LMAR(fused=...)``):

- ``"auto"``: the fused kernel on CUDA tensors when Triton imports, the MLP shape and dtype
  are supported, no gradient is needed and the compute mode is bf16 or TF32 (AUTO_COMPUTES);
  the PyTorch reference otherwise;
- ``"never"``: always the PyTorch reference;
- ``"always"``: the fused kernel, on CPU too (which works only under ``TRITON_INTERPRET=1``,
  Triton's CPU interpreter, and is meant for testing); anything unsupported raises LmarError.

The kernel's arithmetic follows what PyTorch would do with the same model and settings
(:func:`fused_compute`): bf16 weights, or bf16 autocast on the input's device, give bf16 dot
operands; float32 weights give true fp32 products at ``torch.get_float32_matmul_precision()``
"highest" (PyTorch's default) and TF32 otherwise. float16 is not supported: under float16
autocast (the "fp16" precision of :mod:`lmar.core.runtime`) "auto" declines and the reference runs in
float16, and "always" raises; float16 weights are refused as an unsupported MLP.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, partial

import torch
from torch import nn

from lmar.core.errors import LmarError

FUSED_MODES = ("auto", "never", "always")
AUTO_COMPUTES = ("bf16", "tf32")
"""The compute modes in which "auto" runs the kernel. Not "fp32": true fp32 products run on the
CUDA cores, where the kernel was slower than the reference's cuBLAS matmuls (H200, 3840x2160:
72 ms at its best launch against 67 ms; see README, Speed)."""


def check_fused(mode: str, mlp: nn.Module) -> str:
    """``mode``, checked when LMAR is built: LmarError if it is not one of FUSED_MODES, or if it
    is "always" and the kernel cannot run ``mlp`` (the input-dependent checks come later)."""
    if mode not in FUSED_MODES:
        raise LmarError(f"lmar: fused={mode!r} is not one of {', '.join(FUSED_MODES)}")
    if mode == "always" and (reason := mlp_unsupported(mlp)) is not None:
        raise _cannot_run(reason)
    return mode


@cache
def triton_available() -> bool:
    """Whether ``import triton`` works in this process (checked once)."""
    try:
        import triton.language  # noqa: F401
    except (ImportError, OSError, RuntimeError):  # missing, or a broken install (libraries, driver stubs)
        return False
    return True


def mlp_unsupported(mlp: nn.Module) -> str | None:
    """Why the fused kernel cannot run ``mlp`` (None: it can): Triton does not import, or the MLP is not
    one the kernel takes (:func:`lmar.parts.lmar.fused.packing.mlp_unsupported`)."""
    if not triton_available():
        return "triton is not installed or does not import"
    from lmar.parts.lmar.fused.packing import mlp_unsupported as layout_unsupported

    return layout_unsupported(mlp)


def use_fused(mode: str, mlp: nn.Module, x: torch.Tensor, needs_grad: bool) -> bool:
    """Whether LMAR's compensatory map for input ``x`` runs the fused kernel (see the module doc).

    ``needs_grad``: whether the map must be differentiable (the kernel has no backward pass).
    Under float16 autocast it is False for "auto" (LmarError for "always"): the kernel's dot
    operands are float32 or bfloat16 only (:data:`lmar.parts.lmar.fused.packing.COMPUTES`), and a
    float16 mode would be another packed dtype and launch, unmeasured on a GPU.
    """
    if mode == "never":
        return False
    if mode == "auto":
        # Cheap checks first: on CPU, or with gradients, Triton is never imported.
        return (
            x.is_cuda
            and not needs_grad
            and _autocast_unsupported(x) is None
            and fused_compute(mlp, x) in AUTO_COMPUTES
            and mlp_unsupported(mlp) is None
            and _dtype_mismatch(mlp, x) is None
        )
    reason = (
        mlp_unsupported(mlp)
        or _dtype_mismatch(mlp, x)
        or _autocast_unsupported(x)
        or ("a gradient is required and the fused kernel has no backward pass" if needs_grad else None)
        or _device_unsupported(x)
    )
    if reason is not None:
        raise _cannot_run(reason)
    return True


def fused_compute(mlp: nn.Module, x: torch.Tensor) -> str:
    """The kernel's compute mode ("fp32", "tf32" or "bf16") for ``mlp`` on input ``x``, as PyTorch
    would compute the reference (see the module doc)."""
    if next(mlp.parameters()).dtype == torch.bfloat16:
        return "bf16"
    if torch.is_autocast_enabled(x.device.type) and torch.get_autocast_dtype(x.device.type) == torch.bfloat16:
        return "bf16"
    return "fp32" if torch.get_float32_matmul_precision() == "highest" else "tf32"


def fused_map(mlp: nn.Sequential, compute: str) -> Callable[..., torch.Tensor]:
    """The compensatory map of a whole image from ``LMAR.fused_inputs`` (``x, low, taps_y, taps_x,
    rel_y, rel_x, cell``), by the fused kernel with ``mlp``'s current weights in ``compute`` mode.
    The packed weights are kept on ``mlp`` and re-packed only when a parameter changed (in place,
    as an optimiser step or ``load_state_dict`` does, or by moving) or the mode differs."""
    from lmar.parts.lmar.fused.lmar_triton import fused_compensation
    from lmar.parts.lmar.fused.packing import compute_dtype, pack_mlp

    key = (compute, tuple((p.data_ptr(), p._version, p.dtype) for p in mlp.parameters()))
    cached = getattr(mlp, "_lmar_packed", None)
    if cached is None or cached[0] != key:
        cached = (key, pack_mlp(mlp, compute_dtype(compute)))
        mlp._lmar_packed = cached
    return partial(fused_compensation, mlp=cached[1], compute=compute)


def fused_resizer(in_hw: tuple[int, int], out_hw: tuple[int, int], method: str, antialias: bool, device: str):
    """The resize from ``in_hw`` to ``out_hw`` as a Triton kernel from tap tables, for the fused path:
    a callable ``(src, bias=None) -> resized (+ bias per channel)``, or None where no tables fit
    (:mod:`lmar.parts.lmar.fused.resize_triton`). Imports Triton."""
    from lmar.parts.lmar.fused.resize_triton import fused_resize, resize_tables

    tables = resize_tables(in_hw, out_hw, method, antialias, device)
    return None if tables is None else partial(fused_resize, tables=tables)


def _cannot_run(reason: str) -> LmarError:
    return LmarError(f"lmar: fused='always' cannot run: {reason}; use fused='auto' or 'never'")


def _dtype_mismatch(mlp: nn.Module, x: torch.Tensor) -> str | None:
    dtype = next(mlp.parameters()).dtype
    if x.dtype != dtype:
        return f"the input is {x.dtype} but the kernel MLP is {dtype}"
    return None


def _autocast_unsupported(x: torch.Tensor) -> str | None:
    if torch.is_autocast_enabled(x.device.type) and torch.get_autocast_dtype(x.device.type) != torch.bfloat16:
        return f"autocast to {torch.get_autocast_dtype(x.device.type)} is not supported (bfloat16 is)"
    return None


def _device_unsupported(x: torch.Tensor) -> str | None:
    from lmar.parts.lmar.fused.lmar_triton import INTERPRETED

    if INTERPRETED or x.is_cuda:
        return None
    return f"the input is on {x.device}, and Triton runs there only with TRITON_INTERPRET=1 set before it is imported"
