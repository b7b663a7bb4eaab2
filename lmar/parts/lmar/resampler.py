"""The LMAR resampler (docs/method.md section 2): model-aware, steganographic downsampling.

x0 = R(x, (h, w)); a per-pixel MLP turns 7 inputs (relative coordinate, relative cell,
detail residual) into a 27x3 kernel K_p; c(p) = unfold3x3(x)[p] @ K_p gives the
compensatory map C; x_lr = Conv1x1([x0, R(C, (h, w))]).

Its parts are switches (constructor parameters), so that ablations are config entries: the kernel's
spatial support (``kernel_size``), the compensatory map itself (``compensation``) and the
steganographic embedding (``embedding``); the defaults are the method above, exactly. The loss
terms are switched by the recipe (:class:`LMARRecipe`).

The PyTorch path (the reference) runs the MLP over bands of full-resolution rows
(``chunk_pixels`` pixels at a time), so a 3840x2160 input needs bounded memory; with gradients
each band is checkpointed (recomputed in the backward pass) unless "auto" finds that all their
activations fit in memory (:func:`lmar.parts.lmar.bands.auto_checkpoint`). On CUDA, without gradients, a fused Triton
kernel computes C in one pass with its working set on chip (:mod:`lmar.parts.lmar.fused`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from lmar.core.errors import LmarError
from lmar.core.params import NonNegativeFloat, PositiveInt
from lmar.core.registry import RESAMPLERS
from lmar.parts.lmar.bands import auto_checkpoint, auto_chunk_pixels
from lmar.parts.lmar.fused import FUSED_MODES, check_fused, fused_compute, fused_map, fused_resizer, use_fused
from lmar.parts.lmar.inputs import KERNEL, KERNEL_SIZES, identity_taps, kernel_mlp, positions, upsample_taps
from lmar.parts.lmar.losses import FALLBACKS
from lmar.parts.lmar.released import lmar_state_dict
from lmar.parts.recipes import ResamplerRecipe
from lmar.parts.resampler_base import Resampler
from lmar.parts.resize import METHODS, check_method, resize

EMBEDDINGS = ("fusion", "add")


@dataclass(frozen=True)
class LMARRecipe(ResamplerRecipe):
    """LMAR's training: the generic resampler schedule plus its losses (:mod:`lmar.parts.lmar.losses`),
    ``total = feature_weight * feature + edge_weight * edge + resize_scale * w(epoch) * resize
    + task_weight * task``.

    The resize loss is VGG16 relu4_3 features when their weights are present, else
    ``resize_loss_fallback``; ``w(epoch)`` is ``resize_weights[0]`` in the first epoch and
    ``resize_weights[1]`` after. A term whose weight is 0 is not computed at all (a zero resize
    weight skips the VGG forward; with ``resize_scale: 0`` VGG16 is not even loaded), so "each loss
    removed in turn" and "feature loss only" are overrides such as ``edge_weight: 0``. A recipe that
    leaves some epoch with no loss at all is refused.

    ``task_weight`` (0 in the method as published, which never uses the ground truth): the
    learned resizer's task loss, L1 between the frozen backbone's output on the small image brought
    back to full size by ``task_upsampler`` and the ground truth; a diagnostic that trains LMAR's
    network on the score the tables report instead of (or beside) its feature losses."""

    resize_loss: Literal[("vgg16", *FALLBACKS)] = "vgg16"
    resize_loss_fallback: Literal[FALLBACKS] = "l1"
    resize_weights: tuple[NonNegativeFloat, NonNegativeFloat] = (1.0, 1e-3)
    feature_weight: NonNegativeFloat = 1.0
    edge_weight: NonNegativeFloat = 1.0
    resize_scale: NonNegativeFloat = 1.0  # multiplies w(epoch)
    task_weight: NonNegativeFloat = 0.0
    task_upsampler: Literal[METHODS] = "lanczos3"

    def __post_init__(self):
        super().__post_init__()
        if self.feature_weight or self.edge_weight or self.task_weight:
            return
        epochs = ("the first epoch", "the epochs after the first")[: 1 if self.epochs == 1 else 2]
        empty = [when for when, w in zip(epochs, self.resize_weights) if not (self.resize_scale and w)]
        if empty:
            raise ValueError(
                f"every loss weight is 0 in {' and '.join(empty)}: feature_weight, edge_weight and task_weight are 0, and so is "
                f"the resize loss's weight resize_scale * resize_weights = {self.resize_scale:g} * "
                f"{list(self.resize_weights)}; give at least one loss a positive weight"
            )


@RESAMPLERS.register("lmar")
class LMAR(Resampler):
    trainable = True
    train_recipe = LMARRecipe
    released = "lmar"  # the authors' LMAR_model.bin (lmar.parts.lmar.released), through lmar_state_dict
    released_state = staticmethod(lmar_state_dict)
    # what the released weights were trained with and the state dict cannot tell (it loads strictly either way)
    released_params = {"interpolation": "lanczos3", "antialias": False, "compensation": True, "embedding": "fusion"}
    example_params = {"hidden": 16, "depth": 2}

    def __init__(
        self,
        interpolation: Literal[METHODS] = "lanczos3",
        antialias: bool = False,
        hidden: PositiveInt = 128,
        depth: PositiveInt = 5,
        chunk_pixels: PositiveInt | Literal["auto"] = "auto",
        fused: Literal[FUSED_MODES] = "auto",
        kernel_size: Literal[KERNEL_SIZES] = 3,
        compensation: bool = True,
        embedding: Literal[EMBEDDINGS] = "fusion",
    ):
        """``chunk_pixels``: full-resolution pixels per band of the MLP (over the batch; with
        gradients each band is checkpointed), or "auto" (band size from the memory free on the
        input's device, :func:`~lmar.parts.lmar.bands.auto_chunk_pixels`; checkpoints only when needed,
        :func:`~lmar.parts.lmar.bands.auto_checkpoint`).
        ``fused``: when the band loop runs the fused Triton kernel: "auto", "never" or "always"
        (see :mod:`lmar.parts.lmar.fused`); the PyTorch path is the reference.

        The switches for ablations (the defaults are the method, docs/method.md section 2):

        - ``kernel_size``: the per-pixel kernel's spatial support k (3 or 5): the MLP outputs
          ``3 k^2 x 3`` values per pixel, applied to the pixel's k x k x 3 neighbourhood (zero
          padding of k // 2). The fused kernel supports 3 only: with 5 the reference path runs;
        - ``compensation``: False removes the compensatory map and its MLP altogether (no MLP is
          built, nothing per pixel is computed): ``x_lr = Conv1x1([x0, 0])``, the same trainable
          6 -> 3 fusion fed a zero map, which amounts to a learned colour transform of ``x0``;
        - ``embedding``: "fusion" (``x_lr = Conv1x1([x0, R(C, (h, w))])``) or "add", no
          steganographic embedding and no fusion layer: ``x_lr = x0 + R(C, (h, w))``.

        ``compensation=False`` with ``embedding="add"`` would be ``x_lr = x0`` (the plain resize,
        nothing to learn) and is refused, as is ``fused="always"`` with a variant the fused kernel
        does not run (``kernel_size`` 5, or no compensatory map)."""
        super().__init__()
        check_method(interpolation, antialias)
        self.interpolation = interpolation
        self.antialias = antialias
        if chunk_pixels != "auto" and not (isinstance(chunk_pixels, int) and chunk_pixels >= 1):
            raise LmarError(f"lmar: chunk_pixels must be a positive integer or 'auto', got {chunk_pixels!r}")
        if type(kernel_size) is not int or kernel_size not in KERNEL_SIZES:
            sizes = ", ".join(map(str, KERNEL_SIZES))
            raise LmarError(f"lmar: kernel_size must be one of {sizes}, got {kernel_size!r}")
        if not isinstance(compensation, bool):
            raise LmarError(f"lmar: compensation must be true or false, got {compensation!r}")
        if embedding not in EMBEDDINGS:
            raise LmarError(f"lmar: embedding must be one of {', '.join(EMBEDDINGS)}, got {embedding!r}")
        if not compensation and embedding == "add":
            raise LmarError("lmar: compensation=False with embedding='add' leaves x_lr = x0, the plain resize with "
                            "nothing to learn; use the interpolation's own resampler, or embedding='fusion'")
        self.chunk_pixels = chunk_pixels
        self.kernel_size, self.compensation, self.embedding = kernel_size, compensation, embedding
        if fused == "always" and (reason := self.fused_unsupported()) is not None:
            raise LmarError(f"lmar: fused='always' cannot run: {reason}; use fused='auto' or 'never'")
        self.mlp = kernel_mlp(hidden, depth, kernel_size) if compensation else None
        self.fused = check_fused(fused, self.mlp)
        self.fuse = nn.Conv2d(6, 3, kernel_size=1) if embedding == "fusion" else None
        if self.fuse is not None:
            with torch.no_grad():  # start as the plain resampler plus a faint hidden channel
                self.fuse.weight.zero_()
                self.fuse.weight[:, :3, 0, 0] = torch.eye(3)
                self.fuse.weight[:, 3:].normal_(0.0, 0.01)
                self.fuse.bias.zero_()

    def fused_unsupported(self) -> str | None:
        """Why this variant never runs the fused kernel, whatever the input (None: it may)."""
        if not self.compensation:
            return "compensation=False computes no compensatory map"
        if self.kernel_size != KERNEL:
            return f"the fused kernel supports kernel_size={KERNEL} only, not {self.kernel_size}"
        return None

    def compile(self, *args, **kwargs) -> None:
        """torch.compile the per-pixel band (features, MLP, kernel application), where the time
        goes, and leave the band loop eager: its host-side band sizes and activation checkpoints
        gain nothing from a graph, and dynamo in torch 2.11 fails on checkpointed bands."""
        self._band = torch.compile(self._band, *args, **kwargs)

    def R(self, x: torch.Tensor, size) -> torch.Tensor:
        return resize(x, size, self.interpolation, self.antialias)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        size = (int(size[0]), int(size[1]))
        if self.compensation and self.embedding == "fusion" and self._runs_fused(x):
            return self._fused_forward(x, size)
        x0 = self.R(x, size)
        if not self.compensation:  # no map is computed: its place in the fusion holds zeros
            return self.fuse(torch.cat([x0, torch.zeros_like(x0)], dim=1))
        comp = self.compensatory_map(x, size, x0)
        if self.embedding == "add":
            return x0 + self.R(comp, size)
        return self.fuse(torch.cat([x0, self.R(comp, size)], dim=1))

    def _fused_forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """The forward pass on the fused path. Conv1x1([x0, R(C)]) = W[:, :3] R(x) + W[:, 3:] R(C) + b
        = R(W[:, :3] x + W[:, 3:] C) + b, as R is linear and treats every channel alike: the kernel's
        epilogue mixes the input and the map pixel by pixel, and one resize of that mix replaces
        R(C), the concatenation and the convolution at the target size. Both resizes (x0 = R(x), and
        the mix's, with the bias) run as a Triton kernel from tap tables where the tables fit."""
        down = fused_resizer(tuple(x.shape[-2:]), size, self.interpolation, self.antialias, str(x.device))
        x0 = down(x) if down is not None else self.R(x, size)
        inputs = self.fused_inputs(x, size, x0)
        mixed = fused_map(self.mlp, fused_compute(self.mlp, x))(*inputs, mix=self.fuse.weight[:, :, 0, 0])
        if down is not None:
            return down(mixed, bias=self.fuse.bias)
        out = self.R(mixed, size)
        return out + self.fuse.bias.to(out.dtype).view(1, 3, 1, 1)

    def compensatory_map(self, x: torch.Tensor, size: tuple[int, int], x0: torch.Tensor | None = None) -> torch.Tensor:
        """C (B, 3, H, W): each pixel's k x k x 3 neighbourhood times its MLP-estimated 3k^2 x 3 kernel
        (k = ``kernel_size``, 3 by default: a 27x3 kernel); zeros when ``compensation`` is False
        (the forward pass does not call this then)."""
        H, W = x.shape[-2:]
        if not self.compensation:
            return x.new_zeros(x.shape[0], 3, H, W)
        if self._runs_fused(x):
            # The kernel keeps each tile's working set on chip: the whole image in one launch.
            return fused_map(self.mlp, fused_compute(self.mlp, x))(*self.fused_inputs(x, size, x0))
        needs_grad = self._needs_grad(x)
        x_pad, residual, rel_y, rel_x, cell = self.band_inputs(x, size, x0)
        chunk, checkpointed = self.chunk_pixels, needs_grad
        if chunk == "auto":
            hidden, depth = self.mlp[0].out_features, len(self.mlp) // 2
            checkpointed = needs_grad and auto_checkpoint(x.device, hidden, depth, x.shape[0] * H * W, self.kernel_size)
            chunk = auto_chunk_pixels(x.device, hidden, depth, checkpointed, self.kernel_size)
        rows = max(1, chunk // (x.shape[0] * W))  # a band holds every batch item's rows
        if torch.compiler.is_compiling():  # torch.compile(model) traces the loop (LMAR.compile does not)
            rows = int(rows)  # specialise: band bounds stay plain ints inside checkpointed regions
        bands = [(r0, min(H, r0 + rows)) for r0 in range(0, H, rows)]

        halo = self.kernel_size - 1  # padded rows a band needs beyond its own

        def band(r0, r1):
            return (x_pad[:, :, r0 : r1 + halo], residual[:, :, r0:r1], rel_y[r0:r1], rel_x, cell)

        if checkpointed:
            return torch.cat([checkpoint(self._band, *band(r0, r1), use_reentrant=False) for r0, r1 in bands], dim=2)
        if needs_grad:
            return torch.cat([self._band(*band(r0, r1)) for r0, r1 in bands], dim=2)
        # without gradients each band goes straight into the output: no list of small tensors
        # pinning the allocator's memory between the bands' temporaries, and no concatenated copy
        out = x.new_empty(x.shape[0], 3, H, W)
        for r0, r1 in bands:
            out[:, :, r0:r1] = self._band(*band(r0, r1))
        return out

    def _needs_grad(self, x: torch.Tensor) -> bool:
        return torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in self.parameters()))

    def _runs_fused(self, x: torch.Tensor) -> bool:
        """Whether the map of ``x`` comes from the fused kernel (:func:`lmar.parts.lmar.fused.use_fused`)."""
        return self.kernel_size == KERNEL and use_fused(self.fused, self.mlp, x, self._needs_grad(x))

    def band_inputs(self, x: torch.Tensor, size, x0: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """The whole image as one band: ``(x_pad, residual, rel_y, rel_x, cell)``, the arguments of
        ``_band`` (``x0``: ``R(x, size)`` if already computed)."""
        H, W = x.shape[-2:]
        if x0 is None:
            x0 = self.R(x, size)
        residual = x - self.R(x0, (H, W))
        p = self.kernel_size // 2
        x_pad = F.pad(x, (p, p, p, p))  # zero padding, as unfold(padding=k // 2)
        return x_pad, residual, *self.position_inputs(x, size)

    def fused_inputs(self, x: torch.Tensor, size, x0: torch.Tensor | None = None) -> tuple:
        """The fused kernel's arguments ``(x, low, taps_y, taps_x, rel_y, rel_x, cell)``
        (:func:`lmar.parts.lmar.fused.lmar_triton.fused_compensation`): the kernel pads ``x`` and forms the
        residual ``x - R(low, (H, W))`` itself, from the resize's tap tables, so neither is
        written to memory. Where ``R`` back to (H, W) needs more taps than the tables hold, ``low``
        is that resize, computed here, and the tables are the identity."""
        H, W = x.shape[-2:]
        if x0 is None:
            x0 = self.R(x, size)
        taps = upsample_taps(tuple(x0.shape[-2:]), (H, W), self.interpolation, self.antialias, str(x.device))
        if taps is None:
            x0 = self.R(x0, (H, W))
            taps = tuple(identity_taps(n, str(x.device)) for n in (H, W))
        return x, x0, *taps, *self.position_inputs(x, size)

    def position_inputs(self, x: torch.Tensor, size) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(rel_y, rel_x, cell)``: each full-resolution row's and column's relative coordinate,
        and the relative cell (docs/method.md section 2)."""
        H, W = x.shape[-2:]
        return positions((int(H), int(W)), (int(size[0]), int(size[1])), str(x.device), x.dtype,
                          torch.is_inference_mode_enabled())

    def _band(self, x_pad, residual, rel_y, rel_x, cell) -> torch.Tensor:
        B, _, n_rows, W = residual.shape
        n = n_rows * W
        coords = torch.stack(torch.broadcast_tensors(rel_y[:, None], rel_x[None, :]), dim=-1).reshape(1, n, 2)
        feats = torch.cat(
            [
                coords.expand(B, n, 2),
                cell.expand(B, n, 2),
                residual.permute(0, 2, 3, 1).reshape(B, n, 3),
            ],
            dim=-1,
        )
        k = self.kernel_size
        kernels = self.mlp(feats).view(B, n, 3 * k * k, 3)
        patches = F.unfold(x_pad, kernel_size=k)  # (B, 3 k^2, n): channel-major, then row, then column
        out = torch.einsum("bkn,bnko->bon", patches, kernels)
        return out.reshape(B, 3, n_rows, W)

    def resizes(self, x: torch.Tensor, size: tuple[int, int]) -> tuple[list, int]:
        """x0 = R(x, size); with the compensation, the residual's R(x0, (H, W)) and R(C, size), and the
        fused kernel's map (invisible to the counter, :func:`lmar.parts.cost.lmar_map_flops`)."""
        from lmar.parts.cost import lmar_map_flops

        hw, size = tuple(x.shape[-2:]), (int(size[0]), int(size[1]))
        how = (self.interpolation, self.antialias, 3)
        out = [(hw, size, *how, True)]
        if not self.compensation:
            return out, 0
        extra, residual_seen = 0, True  # the residual, inside the fused kernel where its tap tables exist
        # the fused path as compensatory_map decides it (without gradients, in the caller's precision)
        if self.kernel_size == KERNEL and use_fused(self.fused, self.mlp, x, False):
            pixels = x.shape[0] * hw[0] * hw[1]
            # with the fusion, the kernel's epilogue also mixes 6 values into 3 per pixel (the 1x1
            # convolution, which then does not run at the target size)
            extra = lmar_map_flops(self, pixels) + (2 * 6 * 3 * pixels if self.embedding == "fusion" else 0)
            residual_seen = upsample_taps(size, hw, self.interpolation, self.antialias, str(x.device)) is None
        return out + [(size, hw, *how, residual_seen), (hw, size, *how, True)], extra

    def make_loss(self, backbone, train_spec, device):
        from lmar.parts.lmar.losses import LMARLoss

        loss = LMARLoss(backbone, self, train_spec, device)
        return loss, loss.info
