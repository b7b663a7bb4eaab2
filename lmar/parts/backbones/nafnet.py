"""NAFNet, the activation-free U-Net of Chen et al., "Simple Baselines for Image Restoration" (ECCV 2022).

Written for this harness from the paper's description; small by default so that it trains on a CPU.
With ``width`` = w and L = ``len(enc_blocks)`` levels (3 by default):

* intro: a 3x3 convolution 3 -> w;
* encoder: at level i (w * 2**i channels, 1/2**i resolution) ``enc_blocks[i]`` NAF blocks, whose
  output is kept as the skip ``enc{i}``, then a 2x2 stride-2 convolution that doubles the channels;
* middle: ``middle_blocks`` NAF blocks at w * 2**L channels and 1/2**L resolution;
* decoder, from level L-1 down to 0: a 1x1 convolution (no bias) to twice the channels and a pixel
  shuffle (half the channels, twice the resolution), plus the skip of that level (added, not
  concatenated), then ``dec_blocks[i]`` NAF blocks;
* ending: a 3x3 convolution w -> 3, added to the input (global residual).

A NAF block at c channels has no nonlinear activation. It normalizes each pixel over its channels
(layer norm with a learnable scale and shift), then mixes space: a 1x1 convolution to 2c, a 3x3
depthwise convolution, a SimpleGate (the product of the two channel halves, back to c), simplified
channel attention (the feature times a 1x1 convolution of its global average) and a 1x1 convolution;
the result, times a learnable per-channel ``beta`` (zero at start), is added to the block's input.
Then it mixes channels: layer norm, a 1x1 convolution to 2c, a SimpleGate and a 1x1 convolution,
times a per-channel ``gamma`` (zero at start), added again. Every block starts as the identity.
A block has 7c^2 + 33c parameters.

The feature tap is ``enc2``: the output of the third encoder level's blocks, the skip at 1/4
resolution with 4w channels (64 at the defaults), the counterpart of the authors' U-Net ``skip2``.
Sizes must be multiples of 2**L (8 at the defaults); the base class pads other sizes and crops the
result back. Per-pixel layer norm and global average pooling work on any map, even 1x1, so there is
no smallest input beyond that padding. At the defaults (w = 16, blocks [1, 1, 2], 1, [1, 1, 1])
the network has 319,475 parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import torch
import torch.nn.functional as F
from torch import nn

from lmar.core.errors import LmarError
from lmar.core.params import Check, NonNegativeInt, PositiveInt
from lmar.core.registry import BACKBONES
from lmar.parts.backbones.base import Backbone

TAP_LEVEL = 2  # the tapped encoder level: 1/4 resolution


class ChannelLayerNorm(nn.Module):
    """Layer norm of an NCHW map over its channels, separately at every pixel, with a learnable
    per-channel scale (ones at start) and shift (zeros)."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # PyTorch's layer norm over the last axis, on a channels-last view: about twice as fast on a
        # CPU as the mean/variance written out, and the convolutions that follow run faster on the
        # channels-last memory it leaves
        y = F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],), self.weight, self.bias, self.eps)
        return y.permute(0, 3, 1, 2)


def simple_gate(x: torch.Tensor) -> torch.Tensor:
    """The product of the first and second halves of the channels."""
    first, second = x.chunk(2, dim=1)
    return first * second


class NAFBlock(nn.Module):
    """One activation-free block at ``ch`` channels (see the module doc)."""

    def __init__(self, ch: int):
        super().__init__()
        self.space_norm = ChannelLayerNorm(ch)
        self.expand = nn.Conv2d(ch, 2 * ch, 1)
        self.depthwise = nn.Conv2d(2 * ch, 2 * ch, 3, padding=1, groups=2 * ch)
        self.attention = nn.Conv2d(ch, ch, 1)  # simplified channel attention, on the pooled feature
        self.space_out = nn.Conv2d(ch, ch, 1)
        self.channel_norm = ChannelLayerNorm(ch)
        self.channel_in = nn.Conv2d(ch, 2 * ch, 1)
        self.channel_out = nn.Conv2d(ch, ch, 1)
        self.beta = nn.Parameter(torch.zeros(1, ch, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, ch, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = simple_gate(self.depthwise(self.expand(self.space_norm(x))))
        y = y * self.attention(F.adaptive_avg_pool2d(y, 1))
        x = x + self.beta * self.space_out(y)
        y = self.channel_out(simple_gate(self.channel_in(self.channel_norm(x))))
        return x + self.gamma * y


def _stage(ch: int, n: int) -> nn.Sequential:
    return nn.Sequential(*(NAFBlock(ch) for _ in range(n)))


def _at_least_three_levels(blocks) -> bool:
    return len(blocks) > TAP_LEVEL


LevelBlocks = Annotated[Sequence[NonNegativeInt], Check(_at_least_three_levels, "with at least 3 levels")]


@BACKBONES.register("nafnet")
class NAFNet(Backbone):
    """NAFNet (see the module doc). ``enc_blocks`` gives the number of NAF blocks per encoder level,
    and so the number of levels (at least 3, for the 1/4 tap); ``dec_blocks`` those of the decoder,
    listed from the full-resolution level down like ``enc_blocks`` (one per level when not given)."""

    feature_tap = f"enc{TAP_LEVEL}"
    tap_stride = 2**TAP_LEVEL
    min_size = 1  # layer norm is per pixel: any padded size works
    example_params = {"width": 4}

    def __init__(
        self,
        width: PositiveInt = 16,
        enc_blocks: LevelBlocks = (1, 1, 2),
        middle_blocks: NonNegativeInt = 1,
        dec_blocks: Sequence[NonNegativeInt] | None = None,
    ):
        super().__init__()
        levels = len(enc_blocks)
        if levels <= TAP_LEVEL:
            raise LmarError(f"nafnet: enc_blocks needs at least {TAP_LEVEL + 1} levels, got {list(enc_blocks)}")
        dec_blocks = (1,) * levels if dec_blocks is None else tuple(dec_blocks)
        if len(dec_blocks) != levels:
            raise LmarError(f"nafnet: dec_blocks has {len(dec_blocks)} levels but enc_blocks has {levels}: "
                            "give one number per level")
        self.multiple = 2**levels
        self.tap_channels = width * 2**TAP_LEVEL
        chans = [width * 2**i for i in range(levels + 1)]
        self.intro = nn.Conv2d(3, width, 3, padding=1)
        self.encoders = nn.ModuleList(_stage(chans[i], n) for i, n in enumerate(enc_blocks))
        self.downs = nn.ModuleList(nn.Conv2d(chans[i], chans[i + 1], 2, stride=2) for i in range(levels))
        self.middle = _stage(chans[levels], middle_blocks)
        self.ups = nn.ModuleList(
            nn.Sequential(nn.Conv2d(chans[i + 1], 2 * chans[i + 1], 1, bias=False), nn.PixelShuffle(2))
            for i in range(levels)
        )
        self.decoders = nn.ModuleList(_stage(chans[i], n) for i, n in enumerate(dec_blocks))
        self.ending = nn.Conv2d(width, 3, 3, padding=1)

    def _encode(self, x):
        feats = {}
        h = self.intro(x)
        for i, (blocks, down) in enumerate(zip(self.encoders, self.downs)):
            feats[f"enc{i}"] = h = blocks(h)
            if i + 1 < len(self.encoders):  # the deepest downsampling belongs to the decoder pass
                h = down(h)
        return feats

    def _decode(self, x, feats):
        deepest = len(self.encoders) - 1
        h = self.middle(self.downs[deepest](feats[f"enc{deepest}"]))
        for i in range(deepest, -1, -1):
            h = self.decoders[i](self.ups[i](h) + feats[f"enc{i}"])
        return x + self.ending(h)
