"""The authors' U-Net backbone, exactly: the network their released weights belong to.

``lmar_unet`` reproduces the enhancement network of the LMAR paper's public code, so that its
released ``base_model.bin`` loads into it tensor for tensor (:func:`authors_state_dict`). With
``model_channel`` = m (8 in the release) the working width is c = 2m:

* stem: two 3x3 convolutions without bias (3 -> c -> c), each followed by ReLU;
* encoder: an invertible coupling level at c channels; a 4x4 stride-2 convolution (instance norm,
  LeakyReLU 0.2) to 2c; a cross-scale merge with a strided view of the stem output; a coupling
  level at 2c; a strided convolution to 4c; a cross-scale merge with a strided view of the
  previous merge. That last merge is the feature LMAR compares (their ``hr_backbone.skip2``,
  4c = 64 channels at 1/4 resolution in the release), tapped here as ``skip2``;
* bottom: a coupling level at 4c;
* decoder, twice: a 4x4 stride-2 transposed convolution (instance norm, LeakyReLU 0.2), a coupling
  level, a cross-scale merge with a transposed-convolution view of the coarser feature, then a
  half-instance-norm fusion with the encoder level of the same size;
* head: a 1x1 convolution without bias to 3 channels. There is no global residual.

A coupling level splits its channels in halves a, b and computes a' = a + f(b),
b' = b * exp(0.8 * (2 sigmoid(h(a')) - 1)) + g(a'), then adds its input to [a', b']; f, g and h are
half-instance-norm blocks. A merge is ``s1 * body(x) + s2 * y`` with learnable scalars s1, s2.

Sizes must be multiples of 4 (two stride-2 levels); :class:`~lmar.parts.backbones.base.Backbone` pads
other sizes by reflection and crops the result back.
"""

from __future__ import annotations

import re
from typing import Annotated

import torch
import torch.nn.functional as F
from torch import nn

from lmar.core.errors import LmarError
from lmar.core.params import Check, Range
from lmar.core.registry import BACKBONES
from lmar.parts.backbones.base import Backbone

_SLOPE = 0.2  # LeakyReLU slope everywhere except the stem and the pointwise merges (ReLU)
_CLAMP = 0.8  # bound of the coupling's log-scale


class HalfNormBlock(nn.Module):
    """3x3 conv (cin -> cout), instance norm on the first half of the channels, LeakyReLU, 3x3 conv,
    LeakyReLU; plus a 1x1 convolution of the input."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv_in = nn.Conv2d(cin, cout, 3, padding=1)
        self.half_norm = nn.InstanceNorm2d(cout // 2, affine=True)
        self.conv_out = nn.Conv2d(cout, cout, 3, padding=1)
        self.shortcut = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv_in(x)
        k = self.half_norm.num_features
        y = F.leaky_relu(torch.cat([self.half_norm(y[:, :k]), y[:, k:]], dim=1), _SLOPE)
        return F.leaky_relu(self.conv_out(y), _SLOPE) + self.shortcut(x)


class CouplingLevel(nn.Module):
    """Invertible affine coupling of two channel halves, with an outer residual (see the module doc)."""

    def __init__(self, ch: int):
        super().__init__()
        self.n_a = ch // 2
        n_b = ch - self.n_a
        self.f = HalfNormBlock(n_b, self.n_a)
        self.g = HalfNormBlock(self.n_a, n_b)
        self.h = HalfNormBlock(self.n_a, n_b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x[:, : self.n_a], x[:, self.n_a :]
        a = a + self.f(b)
        log_scale = _CLAMP * (2 * torch.sigmoid(self.h(a)) - 1)
        b = b * torch.exp(log_scale) + self.g(a)
        return torch.cat([a, b], dim=1) + x


class Merge(nn.Module):
    """``body_scale * body(x) + keep_scale * y``: scalars start at 1 and 0.5."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body
        self.body_scale = nn.Parameter(torch.ones(1))
        self.keep_scale = nn.Parameter(torch.full((1,), 0.5))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.body_scale * self.body(x) + self.keep_scale * y


def _pointwise(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 1), nn.InstanceNorm2d(cout, affine=True), nn.ReLU())


def _halve(cin: int, cout: int) -> nn.Sequential:
    """4x4 stride-2 convolution: half the resolution."""
    return nn.Sequential(nn.Conv2d(cin, cout, 4, 2, 1), nn.InstanceNorm2d(cout, affine=True), nn.LeakyReLU(_SLOPE))


def _double(cin: int, cout: int) -> nn.Sequential:
    """4x4 stride-2 transposed convolution: twice the resolution."""
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, 2, 1), nn.InstanceNorm2d(cout, affine=True),
                         nn.LeakyReLU(_SLOPE))


def _even(n: int) -> bool:
    return n % 2 == 0


@BACKBONES.register("lmar_unet")
class LMARUNet(Backbone):
    """The authors' U-Net (see the module doc); ``model_channel`` is their config's channel count."""

    spec_version = 2  # version 1 was a different network under this name: its checkpoints are refused
    multiple = 4
    min_size = 8  # instance norm in training needs more than one value per channel at 1/4 resolution
    feature_tap = "skip2"
    tap_stride = 4
    example_params = {"model_channel": 4}
    released = "backbone"  # the authors' base_model.bin (lmar.parts.lmar.released), through authors_state_dict

    def __init__(self, model_channel: Annotated[int, Range(2), Check(_even, "and even")] = 8):
        super().__init__()
        c = 2 * model_channel
        self.model_channel = model_channel
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False), nn.ReLU(),
                                  nn.Conv2d(c, c, 3, padding=1, bias=False), nn.ReLU())
        # encoder
        self.enc0, self.down0 = CouplingLevel(c), _halve(c, 2 * c)
        self.side_down0, self.merge_down0 = _halve(c, c), Merge(_pointwise(3 * c, 2 * c))
        self.enc1, self.down1 = CouplingLevel(2 * c), _halve(2 * c, 4 * c)
        self.side_down1, self.merge_down1 = _halve(2 * c, c), Merge(_pointwise(5 * c, 4 * c))
        self.bottom = CouplingLevel(4 * c)
        # decoder
        self.up1, self.dec1 = _double(4 * c, 2 * c), CouplingLevel(2 * c)
        self.side_up1, self.merge_up1 = _double(4 * c, c), Merge(_pointwise(3 * c, 2 * c))
        self.fuse1 = Merge(HalfNormBlock(4 * c, 2 * c))
        self.up0, self.dec0 = _double(2 * c, c), CouplingLevel(c)
        self.side_up0, self.merge_up0 = _double(2 * c, c), Merge(_pointwise(2 * c, c))
        self.fuse0 = Merge(HalfNormBlock(2 * c, c))
        self.head = nn.Conv2d(c, 3, 1, bias=False)

    def _encode(self, x):
        stem = self.stem(x)
        enc0 = self.enc0(stem)
        d = self.down0(enc0)
        skip1 = self.merge_down0(torch.cat([self.side_down0(stem), d], dim=1), d)
        enc1 = self.enc1(skip1)
        d = self.down1(enc1)
        skip2 = self.merge_down1(torch.cat([self.side_down1(skip1), d], dim=1), d)
        return {"stem": stem, "enc0": enc0, "skip1": skip1, "enc1": enc1, "skip2": skip2}

    def _decode(self, x, feats):
        bottom = self.bottom(feats["skip2"])
        u = self.dec1(self.up1(bottom))
        u = self.merge_up1(torch.cat([self.side_up1(bottom), u], dim=1), u)
        u = self.fuse1(torch.cat([feats["enc1"], u], dim=1), u)
        v = self.dec0(self.up0(u))
        v = self.merge_up0(torch.cat([self.side_up0(u), v], dim=1), v)
        v = self.fuse0(torch.cat([feats["enc0"], v], dim=1), v)
        return self.head(v)


# ------------------------------------------------------------ the released weights

# Their module names (left) for ours (right). Inside a module: their sub-networks F, G, H are our
# f, g, h; a block wrapper's "body.0." disappears except in a pointwise merge's Sequential.
_MODULES = {
    "hr_inc.double_conv": "stem",
    "hr_backbone.layer_dowm1": "enc0", "hr_backbone.dowm1": "down0",
    "hr_backbone.skip_down1": "side_down0", "hr_backbone.skip1": "merge_down0",
    "hr_backbone.layer_dowm2": "enc1", "hr_backbone.dowm2": "down1",
    "hr_backbone.skip_down2": "side_down1", "hr_backbone.skip2": "merge_down1",
    "hr_backbone.layer_bottom": "bottom",
    "hr_backbone.up2": "up1", "hr_backbone.layer_up2": "dec1",
    "hr_backbone.skip_up4": "side_up1", "hr_backbone.skip4": "merge_up1", "hr_backbone.fus2": "fuse1",
    "hr_backbone.up1": "up0", "hr_backbone.layer_up1": "dec0",
    "hr_backbone.skip_up6": "side_up0", "hr_backbone.skip6": "merge_up0", "hr_backbone.fus1": "fuse0",
    "final_out": "head",
}
_HALF_NORM_PARTS = {"identity": "shortcut", "norm": "half_norm", "conv_1": "conv_in", "conv_2.0": "conv_out"}
_HALF_NORM = re.compile(r"(identity|norm|conv_1|conv_2\.0)\.(weight|bias)")
_STEM_KEY = "hr_inc.double_conv.0.weight"  # (2 * model_channel, 3, 3, 3)
LMAR_FILE_PREFIX = "model."  # where the U-Net's tensors sit in their LMAR_model.bin


def _rename(key: str) -> str | None:
    """Our name for their tensor ``key``, or None when it is not part of the U-Net."""
    for theirs, ours in _MODULES.items():
        if not key.startswith(theirs + "."):
            continue
        rest = key[len(theirs) + 1 :]
        if rest in ("alpha1", "alpha2"):
            return f"{ours}.{'body_scale' if rest == 'alpha1' else 'keep_scale'}"
        if rest.startswith("body.0."):  # a block wrapper (coupling level, fusion) or a pointwise merge's conv
            inner = rest[len("body.0.") :]
            if inner in ("weight", "bias"):
                return f"{ours}.{rest}"
            sub = re.fullmatch(r"([FGH])\.(.+)", inner)
            if sub:
                part = _HALF_NORM.fullmatch(sub.group(2))
                if part is None:
                    return None
                return f"{ours}.{sub.group(1).lower()}.{_HALF_NORM_PARTS[part.group(1)]}.{part.group(2)}"
            part = _HALF_NORM.fullmatch(inner)
            if part:  # a fusion's half-instance-norm body
                return f"{ours}.body.{_HALF_NORM_PARTS[part.group(1)]}.{part.group(2)}"
            return None
        return f"{ours}.{rest}"  # stem, strided convolutions, head, a pointwise merge's norm
    return None


def _find_prefix(state: dict) -> str:
    for prefix in ("", LMAR_FILE_PREFIX):
        if prefix + _STEM_KEY in state:
            return prefix
    raise LmarError(
        f"no U-Net found in the released file: it has no {_STEM_KEY!r} (base_model.bin) nor "
        f"{LMAR_FILE_PREFIX + _STEM_KEY!r} (LMAR_model.bin); keys start with "
        f"{', '.join(sorted({k.split('.')[0] for k in state}))}"
    )


def released_model_channel(released: dict, prefix: str | None = None) -> int:
    """The ``model_channel`` the released file was trained with (from its stem's shape)."""
    state = released.get("state_dict", released)
    prefix = _find_prefix(state) if prefix is None else prefix
    return int(state[prefix + _STEM_KEY].shape[0]) // 2


def authors_state_dict(released: dict, prefix: str | None = None) -> dict[str, torch.Tensor]:
    """Our ``lmar_unet`` state dict from the authors' released file content (``torch.load`` of
    ``base_model.bin`` or ``LMAR_model.bin``, or their bare state dict).

    ``prefix`` selects the U-Net's tensors: "" in base_model.bin, ``"model."`` in LMAR_model.bin;
    None finds it. Every tensor under the prefix must map to one of ours and every one of ours must
    be given, with its shape; otherwise one :class:`LmarError` names what is missing or unexpected.
    Tensors outside the prefix (LMAR_model.bin's resampler parts) are left alone.
    """
    state = released.get("state_dict", released)
    if not isinstance(state, dict):
        raise LmarError(f"the released file holds no state dict (found {type(state).__name__})")
    prefix = _find_prefix(state) if prefix is None else prefix
    if prefix + _STEM_KEY not in state:
        raise LmarError(f"the released file has no {prefix + _STEM_KEY!r}: is {prefix!r} the right prefix?")
    ours: dict[str, torch.Tensor] = {}
    unexpected = []
    for key, value in state.items():
        if not key.startswith(prefix):  # with prefix "" every tensor must be the U-Net's
            continue
        name = _rename(key[len(prefix) :])
        if name is None or name in ours:
            unexpected.append(key)
        else:
            ours[name] = value
    want = LMARUNet(released_model_channel(state, prefix)).state_dict()
    missing = [k for k in want if k not in ours]
    unexpected += [k for k in ours if k not in want]
    wrong = [f"{k} {tuple(ours[k].shape)} (ours {tuple(want[k].shape)})"
             for k in want if k in ours and ours[k].shape != want[k].shape]
    if missing or unexpected or wrong:
        parts = [f"{label}: {', '.join(keys)}" for label, keys in
                 (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)) if keys]
        raise LmarError("the released U-Net does not fit lmar_unet; " + "; ".join(parts))
    return {k: ours[k] for k in want}


def from_released(released: dict, prefix: str | None = None) -> LMARUNet:
    """``lmar_unet`` with the released weights loaded (strictly), in eval mode."""
    net = LMARUNet(released_model_channel(released, prefix))
    net.load_state_dict(authors_state_dict(released, prefix), strict=True)
    return net.eval()


LMARUNet.released_state = staticmethod(authors_state_dict)
