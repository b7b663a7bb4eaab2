"""Training recipes: the keys of a config entry's ``train`` block, their types, ranges and defaults.

A backbone's recipe is :attr:`lmar.parts.backbones.Backbone.train_recipe` (:class:`BackboneRecipe`
unless a backbone declares its own); a trainable resampler declares its recipe as its class
attribute ``train_recipe`` (a subclass of :class:`ResamplerRecipe`, in the resampler's own file).
The plan-time config check binds every ``train`` block against its part's recipe
(:func:`lmar.core.params.bind_recipe`); the trainers read the bound values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from lmar.core.params import NonNegativeInt, PositiveFloat, PositiveInt, Range
from lmar.parts.resize import METHODS

Decay = Annotated[float, Range(0, 1, open_min=True)]  # a learning-rate factor in (0, 1]


@dataclass(frozen=True)
class SpeedOptions:
    """Off by default (the fp32 reference path): bf16 autocast, channels-last memory format, and
    torch.compile of the module being trained."""

    amp: Literal[False, "bf16"] = False
    channels_last: bool = False
    compile: bool = False


@dataclass(frozen=True)
class Schedule(SpeedOptions):
    """Adam at ``lr``, multiplied by ``gamma`` every ``step_size`` epochs."""

    epochs: PositiveInt = 100
    lr: PositiveFloat = 1e-3
    step_size: PositiveInt = 20
    gamma: Decay = 0.75


@dataclass(frozen=True)
class BackboneRecipe(Schedule):
    """L1 to ground truth on whole training images resized to ``size`` = [h, w], one horizontal flip
    drawn per batch; or, with ``crop`` set, on random ``crop`` x ``crop`` squares of the training
    pairs at their own resolution (no resizing), each sample flipped left-right and upside down
    with probability 1/2 each; ``transpose`` (with ``crop``) also swaps its rows and columns with
    probability 1/2 (with the flips: all eight rotations and reflections), ``shuffle_channels`` puts
    its colour channels, input and ground truth alike, in a random order. ``val_pairs`` training pairs (the same ones for every seed) are held
    out from fitting: after each epoch their mean PSNR at full resolution is the curve's
    ``val_psnr``, by which the tables judge convergence."""

    batch_size: PositiveInt = 2
    size: tuple[PositiveInt, PositiveInt] = (256, 256)
    val_pairs: NonNegativeInt = 0
    crop: PositiveInt | None = None
    transpose: bool = False
    shuffle_channels: bool = False


@dataclass(frozen=True)
class ResamplerRecipe(Schedule):
    """Against the frozen backbone: random square full-resolution crops of ``crop`` pixels and a
    random square target size in [target_min, target_max) in steps of target_step, ``repeats``
    passes over the training images per epoch.

    ``fixed_target``: when set, every sample's target is (fixed_target, fixed_target) instead of a
    random one (clipped to the crop as a random one is; target_min/max/step are then unused), for
    a one-scale model, e.g. an ablation of the multi-scale training. The generic trainer
    (:func:`lmar.run.train.train_resampler`) reads it, so it is declared here for every trainable
    resampler.

    ``val_pairs``: training pairs held out from fitting (the same ones a backbone with as many
    holds out). Their Downsample -> Enhance -> Upsample PSNR at each of ``val_scales`` (whole images,
    upsampled by ``val_upsampler``) is taken before training and after each epoch, and the weights
    of the best of these are the ones saved: early stopping that keeps the initialisation when no
    epoch beats it (the checkpoint's meta says which: ``kept_epoch``, -1 for the initialisation)."""

    epochs: PositiveInt = 12
    lr: PositiveFloat = 4e-4
    step_size: PositiveInt = 4
    crop: PositiveInt = 1024
    target_min: PositiveInt = 256
    target_max: PositiveInt = 1024
    target_step: PositiveInt = 8
    repeats: PositiveInt = 1
    fixed_target: PositiveInt | None = None
    val_pairs: NonNegativeInt = 0
    val_scales: tuple[PositiveFloat, ...] = (2.0, 4.0)
    val_upsampler: Literal[METHODS] = "lanczos3"

    def __post_init__(self):
        if not self.target_min < self.target_max:
            raise ValueError(f"need target_min < target_max, got {self.target_min} and {self.target_max}")
