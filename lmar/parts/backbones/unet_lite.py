"""A small U-Net in the spirit of the authors' backbone, kept because it is fast to train.

It is NOT the authors' released network (that is ``lmar_unet``, :mod:`lmar.parts.backbones.lmar_unet`,
which loads their weights); it borrows their ingredients and trains in minutes on a CPU, so the
tests and the embedded CPU experiment use it.

Stem: two 3x3 convs (3 -> w). Encoder: three levels (w, 2w, 4w channels; two stride-2
downsamplings), each a half-instance-norm block then an invertible affine coupling block.
Decoder: symmetric; at each level the upsampled decoder feature and all encoder skips
(resized to that level, projected by 1x1 convs) are mixed with learnable softmax weights.
Head: 1x1 conv to 3 channels, added to the input (global residual). About 0.28 M parameters
at width 16. The feature tap is ``enc2``: the deepest encoder skip, 1/4 resolution.
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from torch import nn

from lmar.core.params import Check, Range
from lmar.core.registry import BACKBONES
from lmar.parts.backbones.base import Backbone


def _act() -> nn.Module:
    return nn.LeakyReLU(0.2)


def _conv3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1)


class HINBlock(nn.Module):
    """conv3x3 -> instance norm on half the channels -> act -> conv3x3 -> act, plus identity."""

    def __init__(self, ch: int):
        super().__init__()
        self.conv1, self.conv2 = _conv3(ch, ch), _conv3(ch, ch)
        self.norm = nn.InstanceNorm2d(ch // 2, affine=True)
        self.act = _act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.conv1(x).chunk(2, dim=1)
        y = self.act(torch.cat([self.norm(a), b], dim=1))
        return x + self.act(self.conv2(y))


class CouplingBlock(nn.Module):
    """Invertible affine coupling: y1 = x1 + F(x2); y2 = x2 * exp(s(y1)) + G(y1)."""

    def __init__(self, ch: int, clamp: float = 0.8):
        super().__init__()
        c1 = ch // 2
        c2 = ch - c1
        self.c1, self.clamp = c1, clamp

        def sub(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(_conv3(cin, cout), _act(), nn.Conv2d(cout, cout, 1))

        self.f, self.g, self.s = sub(c2, c1), sub(c1, c2), sub(c1, c2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = x[:, : self.c1], x[:, self.c1 :]
        y1 = x1 + self.f(x2)
        s = self.clamp * torch.tanh(self.s(y1))
        return torch.cat([y1, x2 * torch.exp(s) + self.g(y1)], dim=1)


class SkipFusion(nn.Module):
    """Mix the decoder feature with every encoder skip resized to this level."""

    def __init__(self, ch: int, skip_channels: list[int]):
        super().__init__()
        self.proj = nn.ModuleList(nn.Conv2d(c, ch, 1) for c in skip_channels)
        self.mix = nn.Parameter(torch.zeros(len(skip_channels) + 1))

    def forward(self, d: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        wts = torch.softmax(self.mix, dim=0)
        out = wts[0] * d
        for i, (p, s) in enumerate(zip(self.proj, skips)):
            if s.shape[-2:] != d.shape[-2:]:
                s = F.interpolate(s, size=d.shape[-2:], mode="bilinear", align_corners=False)
            out = out + wts[i + 1] * p(s)
        return out


@BACKBONES.register("unet_lite")
class UNetLite(Backbone):
    multiple = 4
    min_size = 8  # instance norm needs more than one value per channel at 1/4 resolution
    feature_tap = "enc2"
    tap_stride = 4
    example_params = {"width": 4}

    def __init__(self, width: Annotated[int, Range(2), Check(lambda w: w % 2 == 0, "and even")] = 16):
        super().__init__()
        c = [width, 2 * width, 4 * width]
        self.stem = nn.Sequential(_conv3(3, c[0]), _act(), _conv3(c[0], c[0]), _act())
        self.enc = nn.ModuleList(nn.Sequential(HINBlock(ch), CouplingBlock(ch)) for ch in c)
        self.down = nn.ModuleList([_conv3(c[0], c[1], stride=2), _conv3(c[1], c[2], stride=2)])
        self.mid = HINBlock(c[2])
        self.up = nn.ModuleList([nn.Conv2d(c[1], c[0], 1), nn.Conv2d(c[2], c[1], 1)])
        self.fuse = nn.ModuleList([SkipFusion(c[0], c), SkipFusion(c[1], c)])
        self.dec = nn.ModuleList(nn.Sequential(HINBlock(ch), CouplingBlock(ch)) for ch in c[:2])
        self.head = nn.Conv2d(c[0], 3, 1)

    def _encode(self, x):
        e0 = self.enc[0](self.stem(x))
        e1 = self.enc[1](self.down[0](e0))
        e2 = self.enc[2](self.down[1](e1))
        return {"enc0": e0, "enc1": e1, "enc2": e2}

    def _decode(self, x, feats):
        skips = [feats["enc0"], feats["enc1"], feats["enc2"]]
        d = self.mid(feats["enc2"])
        for level in (1, 0):
            size = skips[level].shape[-2:]
            d = self.up[level](F.interpolate(d, size=size, mode="bilinear", align_corners=False))
            d = self.dec[level](self.fuse[level](d, skips))
        return x + self.head(d)
