"""Fixed interpolation operators R(x, size): the plain resampler and LMAR's building block."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lmar.core.errors import LmarError
from lmar.parts import authors_resize

TORCH_METHODS = ("nearest", "bilinear", "bicubic", "area")  # F.interpolate's modes, borders clamped
AUTHORS_METHODS = tuple(authors_resize.KERNELS)  # the LMAR authors' resize (lmar.parts.authors_resize), zero outside
METHODS = TORCH_METHODS + AUTHORS_METHODS
_ANTIALIAS_OK = ("bilinear", "bicubic", *AUTHORS_METHODS)


def check_method(method: str, antialias: bool) -> None:
    if method not in METHODS:
        raise LmarError(f"unknown interpolation method {method!r}; choose one of {', '.join(METHODS)}")
    if antialias and method not in _ANTIALIAS_OK:
        raise LmarError(f"antialias=True is only defined for {', '.join(_ANTIALIAS_OK)}, not {method!r}")


def resize(x: torch.Tensor, size: tuple[int, int], method: str = "bicubic", antialias: bool = False) -> torch.Tensor:
    """Resize a (B, C, H, W) tensor to ``size = (h, w)`` (pixel-centre aligned): PyTorch's
    ``F.interpolate`` for TORCH_METHODS, the authors' resize for AUTHORS_METHODS
    (:func:`lmar.parts.authors_resize.resize`). ``antialias`` acts only when downscaling."""
    h, w = int(size[0]), int(size[1])
    if h < 1 or w < 1:
        raise LmarError(f"target size must be positive, got {h}x{w}")
    if tuple(x.shape[-2:]) == (h, w):
        return x
    if method in AUTHORS_METHODS:
        return authors_resize.resize(x, (h, w), method, antialias)
    return F.interpolate(x, size=(h, w), mode=method, **_interpolate_kwargs(x.shape[-2:], (h, w), method, antialias))


def _interpolate_kwargs(in_hw, out_hw, method: str, antialias: bool) -> dict:
    """The keyword arguments :func:`resize` passes to ``F.interpolate`` for ``in_hw -> out_hw``."""
    kwargs = {} if method in ("nearest", "area") else {"align_corners": False}
    if method in _ANTIALIAS_OK:
        kwargs["antialias"] = antialias and (out_hw[0] < in_hw[0] or out_hw[1] < in_hw[1])
    return kwargs


def resize_taps(in_hw, out_hw, method: str = "bicubic", antialias: bool = False, device="cpu", max_taps: int = 4):
    """:func:`resize` from ``in_hw`` to ``out_hw`` as two tables of at most ``max_taps`` source
    taps per output row and column: ``((index_y, weight_y), (index_x, weight_x))`` on ``device``,
    each ``(n_out, max_taps)`` int32 / float32 with unused taps weighted 0, so that
    ``out[y, x] = sum_ij weight_y[y, i] * weight_x[x, j] * in[index_y[y, i], index_x[x, j]]``.
    None when some output needs more taps (antialiased downscaling; lanczos3's 6-tap window in
    general, up or down, so with ``max_taps=4`` its tables exist only where an axis keeps its size
    or every output lands on a source pixel, e.g. x3 downscaling) or the tables do not reproduce
    :func:`resize` on ``device`` (checked on a random probe at sampled pixels). ``cubic`` fits 4
    taps without antialiasing. Taps outside the image are left out of the tables (they read zero
    in the authors' resize), so border outputs may use fewer.

    Every method here is separable. For PyTorch's, resizing the columns of an identity matrix
    (one axis at a time, the other kept at width 2, on the CPU) gives that axis' weights as
    PyTorch computes them, border clamping included; for the authors', the weights are
    :func:`lmar.parts.authors_resize.axis_matrix`.
    """
    tables = []
    for n_in, n_out in zip(in_hw, out_hw):
        dense = _axis_matrix(n_in, n_out, method, antialias, in_hw, out_hw)  # (n_out, n_in)
        k = min(max_taps, n_in)
        if (dense != 0).sum(dim=1).max().item() > k:
            return None
        index = dense.abs().topk(k, dim=1).indices
        weight = dense.gather(1, index)
        pad = (0, max_taps - k)
        tables.append(tuple(t.contiguous().to(device) for t in (F.pad(index, pad).to(torch.int32), F.pad(weight, pad))))
    gen = torch.Generator().manual_seed(0)
    probe = torch.rand(1, 1, *in_hw, generator=gen).to(device)
    ys = torch.cat([torch.tensor([0, out_hw[0] - 1]), torch.randint(out_hw[0], (4096,), generator=gen)]).to(device)
    xs = torch.cat([torch.tensor([0, out_hw[1] - 1]), torch.randint(out_hw[1], (4096,), generator=gen)]).to(device)
    want = resize(probe, out_hw, method, antialias)[0, 0, ys, xs]
    if not torch.allclose(_taps_at(probe[0, 0], tables, ys, xs), want, atol=1e-5):
        return None
    return tuple(tables)


def _axis_matrix(n_in: int, n_out: int, method: str, antialias: bool, in_hw, out_hw) -> torch.Tensor:
    """:func:`resize` from ``in_hw`` to ``out_hw`` along one axis (``n_in -> n_out``) as a dense
    float32 ``(n_out, n_in)`` matrix (CPU). PyTorch antialiases both axes or neither (its
    antialiased bicubic is another cubic, even where an axis is upscaled), as :func:`resize` calls it."""
    if method in AUTHORS_METHODS:
        return authors_resize.axis_matrix(n_in, n_out, method, antialias).float()
    kwargs = _interpolate_kwargs(in_hw, out_hw, method, antialias)
    eye = torch.eye(n_in)[None, :, :, None].expand(1, n_in, n_in, 2)
    return F.interpolate(eye, size=(n_out, 2), mode=method, **kwargs)[0, :, :, 0].t()


def _taps_at(image: torch.Tensor, tables, ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """The resize of a 2-D ``image`` by :func:`resize_taps`' tables at output pixels (ys, xs)."""
    (iy, wy), (ix, wx) = tables
    taps = image[iy[ys].long()[:, :, None], ix[xs].long()[:, None, :]]  # (n, T, T)
    return (taps * wy[ys][:, :, None] * wx[xs][:, None, :]).sum(dim=(1, 2))
