"""The interface every resampler implements (LMAR, baselines, a user's own)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

# loss(x, gt, size, epoch) -> (total, {part: float}); built by Resampler.make_loss
LossFn = Callable[[torch.Tensor, torch.Tensor, tuple[int, int], int], tuple[torch.Tensor, dict]]


class Resampler(nn.Module):
    """Downsampler D in Downsample -> Enhance -> Upsample.

    ``forward(x, size)`` maps a (B, 3, H, W) image in [0, 1] to (B, 3, h, w).
    A trainable resampler also implements :meth:`make_loss`; the generic trainer
    (:func:`lmar.train.train_resampler`) optimises its parameters with the backbone frozen.
    """

    trainable: bool = False
    train_recipe: type | None = None  # a trainable resampler's recipe: a lmar.recipes.ResamplerRecipe dataclass
    is_identity: bool = False  # the full-resolution "resampler": enhancement without resampling

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def make_loss(self, backbone: nn.Module, train_spec: dict, device: torch.device) -> tuple[LossFn, dict]:
        """Return the training loss and a dict of facts to record with results."""
        raise NotImplementedError(f"{type(self).__name__} is not trainable")
