"""A small Restormer: the channel-attention transformer U-Net of Zamir et al., "Restormer: Efficient
Transformer for High-Resolution Image Restoration" (CVPR 2022).

Written for this harness from the paper's description and scaled down to train on a CPU. With
``dim`` = d and L = ``len(blocks)`` levels (3 by default), level i works at d * 2**i channels and
1/2**i resolution with ``heads[i]`` attention heads:

* embedding: a 3x3 convolution 3 -> d (no bias);
* encoder: at each level ``blocks[i]`` transformer blocks, whose output is kept as ``enc{i}``; between
  levels a 3x3 convolution halves the channels and a pixel unshuffle (2x2 pixels into channels)
  quarters the area, so the channels double. The deepest level (L-1) is the latent stage;
* decoder, from level L-2 down to 0: a 3x3 convolution doubles the channels and a pixel shuffle
  doubles the resolution (half the channels), the result is concatenated with ``enc{i}`` and reduced
  back by a 1x1 convolution, then ``blocks[i]`` transformer blocks (the encoder's count, as in the
  paper). Unlike the paper, level 0 is reduced too, so the full-resolution stages stay at d channels;
* refinement: ``refine_blocks`` transformer blocks at full resolution;
* output: a 3x3 convolution d -> 3, added to the input (global residual).

All convolutions are without bias. A transformer block at c channels and h heads is
``x + MDTA(norm(x))`` then ``x + GDFN(norm(x))``, norm being a layer norm over the channels at every
pixel (learnable scale and shift):

* MDTA (multi-Dconv head transposed attention): q, k, v from a 1x1 convolution c -> 3c and a 3x3
  depthwise convolution; per head (c/h channels each) q and k are L2-normalized over the pixels, and
  the c/h x c/h matrix of their products, times a learnable per-head temperature (one at start), is
  softmaxed over its rows and applied to v: attention across channels, linear in the pixel count;
  a 1x1 convolution projects back;
* GDFN (gated-Dconv feed-forward): a 1x1 convolution c -> 2n (n = int(c * ffn_expansion)), a 3x3
  depthwise convolution, GELU of the first half times the second, and a 1x1 convolution n -> c.

With n = 2c (the default expansion) a block has 10c^2 + 67c + h parameters. The feature tap is
``enc2``: the third level's encoder output (the latent stage at the defaults), 1/4 resolution with
4d channels (64 at the defaults). Sizes must be multiples of 2**(L-1) (4 at the defaults); the base
class pads other sizes and crops back. Layer norm is per pixel and the attention's normalization runs
over whatever pixels there are, so any padded size works. At the defaults (d = 16, blocks [1, 1, 2],
heads [1, 2, 4], ffn_expansion 2.0, refine_blocks 1) the network has 227,519 parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import torch
import torch.nn.functional as F
from torch import nn

from lmar.core.errors import LmarError
from lmar.core.params import Check, NonNegativeInt, PositiveFloat, PositiveInt
from lmar.core.registry import BACKBONES
from lmar.parts.backbones.base import Backbone
from lmar.parts.backbones.nafnet import ChannelLayerNorm

TAP_LEVEL = 2  # the tapped level: 1/4 resolution


class ChannelAttention(nn.Module):
    """MDTA: multi-head attention across channels, with depthwise-convolved q, k, v (module doc)."""

    def __init__(self, ch: int, heads: int):
        super().__init__()
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.to_qkv = nn.Conv2d(ch, 3 * ch, 1, bias=False)
        self.qkv_depthwise = nn.Conv2d(3 * ch, 3 * ch, 3, padding=1, groups=3 * ch, bias=False)
        self.project = nn.Conv2d(ch, ch, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv_depthwise(self.to_qkv(x)).reshape(b, 3, self.heads, c // self.heads, h * w).unbind(1)
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        weights = torch.softmax(q @ k.transpose(-2, -1) * self.temperature, dim=-1)
        return self.project((weights @ v).reshape(b, c, h, w))


class GatedFeedForward(nn.Module):
    """GDFN: a GELU-gated, depthwise-convolved expansion of the channels (module doc)."""

    def __init__(self, ch: int, expansion: float):
        super().__init__()
        hidden = max(1, int(ch * expansion))
        self.expand = nn.Conv2d(ch, 2 * hidden, 1, bias=False)
        self.depthwise = nn.Conv2d(2 * hidden, 2 * hidden, 3, padding=1, groups=2 * hidden, bias=False)
        self.reduce = nn.Conv2d(hidden, ch, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, value = self.depthwise(self.expand(x)).chunk(2, dim=1)
        return self.reduce(F.gelu(gate) * value)


class TransformerBlock(nn.Module):
    def __init__(self, ch: int, heads: int, expansion: float):
        super().__init__()
        self.attention_norm = ChannelLayerNorm(ch, eps=1e-5)
        self.attention = ChannelAttention(ch, heads)
        self.ffn_norm = ChannelLayerNorm(ch, eps=1e-5)
        self.ffn = GatedFeedForward(ch, expansion)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.attention_norm(x))
        return x + self.ffn(self.ffn_norm(x))


def _stage(ch: int, heads: int, expansion: float, n: int) -> nn.Sequential:
    return nn.Sequential(*(TransformerBlock(ch, heads, expansion) for _ in range(n)))


def _at_least_three_levels(blocks) -> bool:
    return len(blocks) > TAP_LEVEL


LevelBlocks = Annotated[Sequence[NonNegativeInt], Check(_at_least_three_levels, "with at least 3 levels")]


@BACKBONES.register("restormer_lite")
class RestormerLite(Backbone):
    """A small Restormer (see the module doc). ``blocks`` and ``heads`` have one entry per level
    (at least 3 levels, for the 1/4 tap); ``heads[i]`` must divide the level's dim * 2**i channels."""

    feature_tap = f"enc{TAP_LEVEL}"
    tap_stride = 2**TAP_LEVEL
    min_size = 1  # layer norm is per pixel: any padded size works
    example_params = {"dim": 8}

    def __init__(
        self,
        dim: PositiveInt = 16,
        blocks: LevelBlocks = (1, 1, 2),
        heads: Sequence[PositiveInt] = (1, 2, 4),
        ffn_expansion: PositiveFloat = 2.0,
        refine_blocks: NonNegativeInt = 1,
    ):
        super().__init__()
        levels = len(blocks)
        if levels <= TAP_LEVEL:
            raise LmarError(f"restormer_lite: blocks needs at least {TAP_LEVEL + 1} levels, got {list(blocks)}")
        if len(heads) != levels:
            raise LmarError(f"restormer_lite: heads has {len(heads)} entries but blocks has {levels} levels: "
                            "give one head count per level")
        chans = [dim * 2**i for i in range(levels)]
        bad = [f"heads[{i}] = {h} does not divide {c} channels" for i, (h, c) in enumerate(zip(heads, chans)) if c % h]
        if bad:
            raise LmarError(f"restormer_lite: {'; '.join(bad)} (level i has dim * 2**i channels)")
        self.multiple = 2 ** (levels - 1)
        self.tap_channels = chans[TAP_LEVEL]
        self.embed = nn.Conv2d(3, dim, 3, padding=1, bias=False)
        self.encoders = nn.ModuleList(_stage(c, h, ffn_expansion, n) for c, h, n in zip(chans, heads, blocks))
        self.downs = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c, c // 2, 3, padding=1, bias=False), nn.PixelUnshuffle(2)) for c in chans[:-1]
        )
        # decoder level i (0 <= i < L-1): up from level i+1, concatenate enc{i}, reduce, blocks
        self.ups = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c, 2 * c, 3, padding=1, bias=False), nn.PixelShuffle(2)) for c in chans[1:]
        )
        self.reduces = nn.ModuleList(nn.Conv2d(2 * c, c, 1, bias=False) for c in chans[:-1])
        self.decoders = nn.ModuleList(
            _stage(c, h, ffn_expansion, n) for c, h, n in zip(chans[:-1], heads[:-1], blocks[:-1])
        )
        self.refine = _stage(dim, heads[0], ffn_expansion, refine_blocks)
        self.output = nn.Conv2d(dim, 3, 3, padding=1, bias=False)

    def _encode(self, x):
        feats = {}
        h = self.embed(x)
        for i, blocks in enumerate(self.encoders):
            if i:
                h = self.downs[i - 1](h)
            feats[f"enc{i}"] = h = blocks(h)
        return feats

    def _decode(self, x, feats):
        deepest = len(self.encoders) - 1
        h = feats[f"enc{deepest}"]
        for i in range(deepest - 1, -1, -1):
            h = self.decoders[i](self.reduces[i](torch.cat([self.ups[i](h), feats[f"enc{i}"]], dim=1)))
        return x + self.output(self.refine(h))
