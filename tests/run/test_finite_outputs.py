"""A part that produces NaN or inf is stopped, not scored: clamping keeps NaN and an image file
would turn it into a level, so a broken plugin would otherwise get a finite PSNR. The plan-time
probe refuses such a resampler, and the pipeline refuses any output that is not finite, naming
the stage that made it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lmar.core.errors import LmarError
from lmar.core.registry import RESAMPLERS
from lmar.run.config import check_entry
from lmar.run.pipeline import deu

NAN_RESAMPLER = """
import torch
from lmar.parts.resampler_base import Resampler
from lmar.parts.resize import resize

class NaNs(Resampler):
    def forward(self, x, size):
        return resize(x, size, "bilinear") * float("nan")
"""


class Plain(nn.Module):
    """A backbone stand-in: identity (or NaN everywhere when ``broken``)."""

    min_size = 1

    def __init__(self, broken: bool = False):
        super().__init__()
        self.broken = broken

    def forward(self, x):
        return x * float("nan") if self.broken else x


def test_the_probe_refuses_a_resampler_that_returns_nan(make_module):
    name = make_module("lmar_test_nan_resampler", NAN_RESAMPLER)
    with pytest.raises(LmarError, match=r"config key resamplers.bad: a probe call .*: its output holds values "
                                        r"that are not finite"):
        check_entry("resamplers", RESAMPLERS, "bad", {"type": f"{name}:NaNs"})


def test_the_pipeline_names_the_stage_that_made_nan(make_module):
    name = make_module("lmar_test_nan_resampler", NAN_RESAMPLER)
    nan_resampler = RESAMPLERS.build({"type": f"{name}:NaNs"}, "t")
    bicubic = RESAMPLERS.build({"type": "bicubic"}, "t")
    full = RESAMPLERS.build({"type": "full_resolution"}, "t")
    x = torch.rand(1, 3, 24, 36)
    with pytest.raises(LmarError, match="^the resampler \\(NaNs then Plain\\) produced values that are not finite"):
        deu(x, (12, 18), nan_resampler, Plain())
    with pytest.raises(LmarError, match="^the backbone .* not finite"):
        deu(x, (12, 18), bicubic, Plain(broken=True))
    with pytest.raises(LmarError, match="^the backbone .* not finite"):
        deu(x, (24, 36), full, Plain(broken=True))
    y = deu(x, (12, 18), bicubic, Plain())  # a finite output passes unchanged
    assert y.shape == x.shape and bool(torch.isfinite(y).all())
