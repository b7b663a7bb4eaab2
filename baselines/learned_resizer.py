"""The learned resizer of Talebi & Milanfar, "Learning to Resize Images for Computer Vision Tasks"
(ICCV 2021), as a trainable baseline resampler.

``out = bilinear(x, size) + g(x, size)``, where ``g`` is

    conv7x7(3 -> n) -> LeakyReLU -> conv1x1(n -> n) -> LeakyReLU -> BatchNorm
    -> bilinear resize of the features to ``size``                      (= s, the skip)
    -> r residual blocks (conv3x3-BN-LeakyReLU-conv3x3-BN, plus identity)
    -> conv3x3-BN, plus s
    -> conv7x7(n -> 3)

with LeakyReLU slope 0.2 (the paper's) and "same" zero padding. Both resizes use the same bilinear
(pixel-centre aligned, ``antialias`` when downscaling) as :func:`lmar.parts.resize.resize`.

Initialisation: the last conv7x7 starts at zero (weights and bias), so an untrained resizer is
exactly the bilinear resize; training moves it away from there. Only that layer receives a gradient
in the very first step; after it, all layers do.

Training (:meth:`LearnedResizer.make_loss`, run by :func:`lmar.run.train.train_resampler`) is the
task loss against the frozen backbone: ``L1(resize(backbone(self(x, size)), (H, W), upsampler), gt)``;
gradients flow through the backbone to the resizer, whose parameters alone are optimised.

BatchNorm: the generic trainer feeds one crop at a time (batch 1). BatchNorm2d normalises each
channel over batch *and* space (N * H * W values), so batch 1 works as long as the map has more
than one pixel; the ones after the resize see only the small target map (e.g. 8x8 = 64 values at
the smallest test sizes), whose statistics are noisier than a large batch's. A 1x1 target in
training mode is refused (:class:`LmarError`). The running statistics (momentum 0.1) accumulate
over the training crops and their random target sizes; evaluation calls ``.eval()``, which uses
them, so the output at inference does not depend on the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from lmar.core.errors import LmarError
from lmar.core.params import NonNegativeInt, PositiveInt
from lmar.core.registry import RESAMPLERS
from lmar.parts.recipes import ResamplerRecipe
from lmar.parts.resampler_base import Resampler
from lmar.parts.resize import METHODS, resize

SLOPE = 0.2  # LeakyReLU negative slope


def _conv(c_in: int, c_out: int, k: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, kernel_size=k, padding=k // 2)


class ResBlock(nn.Module):
    """conv3x3-BN-LeakyReLU-conv3x3-BN, plus identity."""

    def __init__(self, n: int):
        super().__init__()
        self.body = nn.Sequential(
            _conv(n, n, 3), nn.BatchNorm2d(n), nn.LeakyReLU(SLOPE), _conv(n, n, 3), nn.BatchNorm2d(n)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


@dataclass(frozen=True)
class LearnedResizerRecipe(ResamplerRecipe):
    """The generic resampler schedule; the loss is the task loss through the frozen backbone, whose
    output is brought back to full resolution with ``upsampler``."""

    upsampler: Literal[METHODS] = "bicubic"


@RESAMPLERS.register("learned_resizer")
class LearnedResizer(Resampler):
    trainable = True
    train_recipe = LearnedResizerRecipe
    example_params = {"n": 4}

    def __init__(self, n: PositiveInt = 16, r: NonNegativeInt = 1, antialias: bool = False):
        """``n``: feature channels; ``r``: residual blocks at the target size; ``antialias``: of the
        bilinear resizes (image and features) when downscaling."""
        super().__init__()
        self.n, self.r, self.antialias = n, r, antialias
        self.head = nn.Sequential(
            _conv(3, n, 7), nn.LeakyReLU(SLOPE), _conv(n, n, 1), nn.LeakyReLU(SLOPE), nn.BatchNorm2d(n)
        )
        self.blocks = nn.Sequential(*(ResBlock(n) for _ in range(r)))
        self.merge = nn.Sequential(_conv(n, n, 3), nn.BatchNorm2d(n))
        self.tail = _conv(n, 3, 7)
        with torch.no_grad():  # start as the plain bilinear resize
            self.tail.weight.zero_()
            self.tail.bias.zero_()

    def _resize(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return resize(x, size, "bilinear", self.antialias)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        size = (int(size[0]), int(size[1]))
        if self.training and x.shape[0] * size[0] * size[1] < 2:
            raise LmarError(
                f"learned_resizer: BatchNorm in training needs more than one value per channel; the target "
                f"{size[0]}x{size[1]} at batch {x.shape[0]} has one (use a larger target_min)"
            )
        skip = self._resize(self.head(x), size)
        g = self.tail(self.merge(self.blocks(skip)) + skip)
        return self._resize(x, size) + g

    def resizes(self, x: torch.Tensor, size: tuple[int, int]) -> tuple[list, int]:
        """The features' resize and the image's, both bilinear."""
        return [(tuple(x.shape[-2:]), tuple(size), "bilinear", self.antialias, c, True) for c in (self.n, 3)], 0

    def make_loss(self, backbone: nn.Module, train_spec: dict, device: torch.device):
        """L1 between ``resize(backbone(self(x, size)), (H, W), upsampler)`` and ``gt``; the backbone
        is put in eval mode with its parameters frozen (gradients pass through it, not into it)."""
        upsampler = train_spec.get("upsampler", "bicubic")
        backbone.eval().requires_grad_(False)

        def loss_fn(x: torch.Tensor, gt: torch.Tensor, size: tuple[int, int], epoch: int):
            out = resize(backbone(self(x, size)), tuple(gt.shape[-2:]), upsampler)
            l1 = F.l1_loss(out.float(), gt.float())
            return l1, {"l1": l1.item()}

        return loss_fn, {"task_loss": "l1", "task_upsampler": upsampler}
