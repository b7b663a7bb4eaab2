"""The interface every resampler implements (LMAR, baselines, a user's own)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from lmar.core.errors import LmarError

# loss(x, gt, size, epoch) -> (total, {part: float}); built by Resampler.make_loss
LossFn = Callable[[torch.Tensor, torch.Tensor, tuple[int, int], int], tuple[torch.Tensor, dict]]


class Resampler(nn.Module):
    """Downsampler D in Downsample -> Enhance -> Upsample.

    ``forward(x, size)`` maps a (B, 3, H, W) image in [0, 1] to (B, 3, h, w).
    A trainable resampler also implements :meth:`make_loss`; the generic trainer
    (:func:`lmar.run.train.train_resampler`) optimises its parameters with the backbone frozen.
    """

    trainable: bool = False
    train_recipe: type | None = None  # a trainable resampler's recipe: a lmar.parts.recipes.ResamplerRecipe dataclass
    is_identity: bool = False  # the full-resolution "resampler": enhancement without resampling
    # small params it builds with, for the contract every registered part is tested against
    # (tests/parts/test_part_contract.py); a part whose constructor needs arguments declares them
    example_params: dict = {}

    def __call__(self, x: torch.Tensor, size: tuple[int, int], *args, **kwargs) -> torch.Tensor:
        """``forward``, then the contract checked on every call (training, evaluation, probes): a
        resampler that returns the wrong size or type, or ignores ``size``, stops the job."""
        y = super().__call__(x, size, *args, **kwargs)
        check_output(type(self).__name__, "resampler", x, y, (*x.shape[:2], *size))
        return y

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def make_loss(self, backbone: nn.Module, train_spec: dict, device: torch.device) -> tuple[LossFn, dict]:
        """Return the training loss and a dict of facts to record with results."""
        raise NotImplementedError(f"{type(self).__name__} is not trainable")

    def resizes(self, x: torch.Tensor, size: tuple[int, int]) -> tuple[list, int]:
        """For the cost table (:func:`lmar.parts.cost.stage_flops`): the resizes this resampler makes of
        ``x`` (1, 3, H, W) for ``size``, each ``(in_hw, out_hw, method, antialias, channels, seen)``
        (``seen``: run as aten ops, which the FLOP counter sees if they are matrix products), and the
        FLOPs the counter misses besides. The default, none: the part is counted as the counter sees
        it, its resizes missing."""
        return [], 0


def check_output(name: str, role: str, x: torch.Tensor, y, want: tuple[int, ...]) -> None:
    """Raise LmarError unless ``y`` is a floating tensor of shape ``want`` on ``x``'s device, of
    ``x``'s dtype (any floating dtype under autocast, whose ops choose their own)."""
    what = f"{role} {name}"
    if not isinstance(y, torch.Tensor):
        raise LmarError(f"{what} returned {type(y).__name__}, not a tensor; forward must return a (B, 3, h, w) tensor")
    if tuple(y.shape) != tuple(want):
        hint = " (it ignores the target size)" if role == "resampler" and y.shape == x.shape else ""
        raise LmarError(
            f"{what} returned shape {tuple(y.shape)} for input {tuple(x.shape)}; expected {tuple(want)}{hint}"
        )
    autocast = torch.is_autocast_enabled(x.device.type) if x.device.type in ("cpu", "cuda") else False
    if not y.is_floating_point() or (y.dtype != x.dtype and not autocast):
        raise LmarError(f"{what} returned dtype {y.dtype} for a {x.dtype} input; it must return the input's dtype")
    if y.device != x.device:
        raise LmarError(f"{what} returned a tensor on {y.device} for an input on {x.device}")
