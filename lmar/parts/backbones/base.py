"""What a backbone offers the harness: enhancement, and named mid-level feature taps."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lmar.parts.recipes import BackboneRecipe
from lmar.parts.resampler_base import check_output


class Backbone(nn.Module):
    """An enhancement network E: (B, 3, H, W) -> (B, 3, H, W), any H and W.

    Subclasses implement ``_encode(x) -> dict[name, feature]`` and ``_decode(x, feats)`` on
    inputs padded to a multiple of ``multiple``; ``feature_tap`` names the feature that
    model-aware losses compare (docs/method.md section 4: a mid-level encoder feature).
    """

    train_recipe: type = BackboneRecipe  # the keys of its config entry's `train` block (lmar.parts.recipes)
    multiple: int = 1
    min_size: int = 1  # smaller inputs are padded up to this (replicate), the output cropped back
    feature_tap: str = ""
    tap_stride: int = 1  # the tapped feature's downsampling factor
    # small params it builds with, for the contract every registered part is tested against
    # (tests/parts/test_part_contract.py); a part whose constructor needs arguments declares them
    example_params: dict = {}

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        m = self.multiple
        H, W = max(x.shape[-2], self.min_size), max(x.shape[-1], self.min_size)
        ph, pw = H + (-H) % m - x.shape[-2], W + (-W) % m - x.shape[-1]
        if ph or pw:
            mode = "reflect" if ph < x.shape[-2] and pw < x.shape[-1] else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        return x

    def __call__(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        """``forward``, then the contract checked on every call: the enhanced image has the input's
        shape, dtype and device (a network that changes the size stops the job)."""
        y = super().__call__(x, *args, **kwargs)
        check_output(type(self).__name__, "backbone", x, y, tuple(x.shape))
        return y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        H, W = x.shape[-2:]
        xp = self._pad(x)
        return self._decode(xp, self._encode(xp))[..., :H, :W]

    def feature(self, x: torch.Tensor, name: str | None = None) -> torch.Tensor:
        """The tapped feature of ``x`` (padding cropped away), e.g. 1/4 resolution for the U-Net."""
        name = name or self.feature_tap
        feats = self._encode(self._pad(x))
        if name not in feats:
            raise KeyError(f"{type(self).__name__} has no feature {name!r}; taps: {', '.join(feats)}")
        f = feats[name]
        s = x.shape[-2] / self._pad(x).shape[-2] * f.shape[-2], x.shape[-1] / self._pad(x).shape[-1] * f.shape[-1]
        return f[..., : max(1, round(s[0])), : max(1, round(s[1]))]

    def _encode(self, x: torch.Tensor) -> dict[str, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError

    def _decode(self, x: torch.Tensor, feats: dict[str, torch.Tensor]) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError
