"""Downsample -> Enhance -> Upsample (DEU): y = U(E(D(x, (h, w))), (H, W))."""

from __future__ import annotations

import math
import time
from contextlib import contextmanager

import torch

from lmar.core.errors import LmarError
from lmar.core.runtime import synchronize
from lmar.parts.resize import resize
from lmar.run.targets import target_size

STAGES = ("resample", "enhance", "upsample")


def check_target(size, hw, backbone, what, by_scale: bool = True) -> None:
    """Refuse a target ``size`` = (h, w) larger than the input ``hw`` = (H, W) (DEU downsamples) or
    below the backbone's smallest input (``min_size``), naming ``what`` (the image, or the target)
    and what would fit: the largest factor ``hw`` allows (``by_scale``), else the smallest size."""
    (h, w), (H, W), least = size, hw, backbone.min_size
    if h > H or w > W:
        raise LmarError(f"{what}: the target {h}x{w} is larger than the input {H}x{W}; Downsample -> Enhance -> "
                        f"Upsample only downsamples: use a target of at most {H}x{W}")
    if min(h, w) >= least:
        return
    if min(H, W) < least:
        raise LmarError(f"{what}: the input {H}x{W} is smaller than the backbone's smallest input {least}x{least}: "
                        "it cannot be enhanced by this backbone at any size")
    # the largest factor (2 decimals, rounded down) whose target keeps both sides at least `least`
    largest = math.floor(100 * min(H, W) / (least - 0.5)) / 100
    while largest > 1 and min(target_size((H, W), largest)) < least:
        largest = round(largest - 0.01, 2)
    hint = f"use a scale of at most {largest:g}" if by_scale else f"use a target of at least {least}x{least}"
    raise LmarError(f"{what}: the target {h}x{w} of {H}x{W} is below the backbone's smallest input "
                    f"{least}x{least}; {hint}")


def deu(x: torch.Tensor, size, resampler, backbone, upsampler: str = "bicubic", stage=None) -> torch.Tensor:
    """Enhance ``x`` (B, 3, H, W) at ``size`` = (h, w); returns (B, 3, H, W) clamped to [0, 1].
    ``stage``: a context manager factory wrapped around each stage by name (:func:`deu_staged`)."""
    stage = stage or _unmeasured
    H, W = x.shape[-2:]
    if resampler.is_identity:
        with stage("enhance"):
            enhanced = backbone(x)
        return _finite(enhanced.clamp(0, 1), {"the backbone": enhanced}, resampler, backbone)
    with stage("resample"):
        small = resampler(x, size)
    with stage("enhance"):
        enhanced = backbone(small)
    with stage("upsample"):
        y = resize(enhanced, (H, W), upsampler).clamp(0, 1)
    return _finite(y, {"the resampler": small, "the backbone": enhanced}, resampler, backbone)


def _finite(y: torch.Tensor, made: dict, resampler, backbone) -> torch.Tensor:
    """``y``, if every value is finite; else LmarError naming the first stage in ``made`` whose output
    was not. (Clamping keeps NaN, and a NaN written to an image file would read back as a level, a
    score computed from garbage: one check of each output, stages looked at only when it fails.)"""
    if bool(torch.isfinite(y).all()):
        return y
    culprit = next((name for name, t in made.items() if not bool(torch.isfinite(t).all())), "the upsampling")
    raise LmarError(f"{culprit} ({type(resampler).__name__} then {type(backbone).__name__}) produced values that "
                    "are not finite (NaN or inf): the output would be garbage, so nothing is scored or written")


@contextmanager
def _unmeasured(_name):
    yield


def deu_staged(x: torch.Tensor, size, resampler, backbone, upsampler: str = "bicubic", device=None,
               absolute_peaks: list | None = None):
    """:func:`deu` measured stage by stage: returns ``(y, stages)``, ``stages`` holding
    ``{stage}_ms`` and ``{stage}_peak_mb`` for each stage of STAGES: resample (the resampler),
    enhance (the backbone) and upsample (the resize back to (H, W) and the clamp). ``device``: the
    one to synchronise (default ``x``'s).

    ``_ms``: the stage's wall time in milliseconds, ``device`` synchronised before and after it.
    ``_peak_mb``: on CUDA, the stage's peak allocated memory above what was allocated when it
    began, in MiB (``torch.cuda.reset_peak_memory_stats`` at its start, so a caller's own peak
    measurement spans only what follows); NaN elsewhere. For the full-resolution resampler
    (``is_identity``) the backbone and the clamp are the enhance stage, and resample and upsample
    are 0 ms (and 0 MiB on CUDA, NaN elsewhere). ``absolute_peaks``: on CUDA, each stage's peak
    allocated memory in MiB, everything allocated included, is appended to it."""
    device = torch.device(device) if device is not None else x.device
    cuda = device.type == "cuda"
    stages = {f"{stage}_ms": 0.0 for stage in STAGES} | {f"{s}_peak_mb": 0.0 if cuda else math.nan for s in STAGES}

    @contextmanager
    def stage(name):
        synchronize(device)
        if cuda:
            base = torch.cuda.memory_allocated(device)
            torch.cuda.reset_peak_memory_stats(device)
        t0 = time.perf_counter()
        yield
        synchronize(device)
        stages[f"{name}_ms"] = (time.perf_counter() - t0) * 1e3
        if cuda:
            peak = torch.cuda.max_memory_allocated(device)
            stages[f"{name}_peak_mb"] = (peak - base) / 2**20
            if absolute_peaks is not None:
                absolute_peaks.append(peak / 2**20)

    return deu(x, size, resampler, backbone, upsampler, stage), stages
