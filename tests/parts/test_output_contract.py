"""Every part keeps its side of the interface: a resampler returns (B, 3, h, w) at the size asked, a
backbone the input's shape, both in the input's dtype. A part that breaks it is refused at plan time
(a probe call) and on every call in a job, with one error naming the part."""

from __future__ import annotations

import textwrap

import pytest
import torch
import torch.nn.functional as F

from helpers import plan

from lmar.core.errors import LmarError
from lmar.parts.backbones.base import Backbone
from lmar.parts.resampler_base import Resampler
from lmar.run.config import check_parts
from lmar.run.pipeline import deu

BAD_PARTS = textwrap.dedent('''
    import torch
    import torch.nn.functional as F
    from lmar.parts.resampler_base import Resampler


    class Ignores(Resampler):        # returns its input: ignores the size
        def forward(self, x, size):
            return x


    class Square(Resampler):         # a square output whatever the size asked
        def forward(self, x, size):
            return F.interpolate(x, size=(size[0], size[0]), mode="area")


    class Bytes(Resampler):          # the right size, but 8-bit integers
        def forward(self, x, size):
            return (F.interpolate(x, size=tuple(size), mode="area") * 255).to(torch.uint8)


    class Crashes(Resampler):
        def forward(self, x, size):
            raise RuntimeError("shape mismatch in my layer")
''')


class Ignores(Resampler):
    def forward(self, x, size):
        return x


class Doubles(Resampler):
    def forward(self, x, size):
        return F.interpolate(x, size=tuple(size), mode="area").double()


class Box(Resampler):
    def forward(self, x, size):
        return F.adaptive_avg_pool2d(x, tuple(size))


class Upscaler(Backbone):
    """An 'enhancer' that returns twice the input's size."""

    def forward(self, x):
        return F.interpolate(x, scale_factor=2)


class Identity(Backbone):
    def forward(self, x):
        return x


X = torch.rand(2, 3, 20, 30)


def test_a_resampler_that_keeps_the_contract_passes():
    assert Box()(X, (7, 11)).shape == (2, 3, 7, 11)
    assert deu(X, (10, 15), Box(), Identity(), "bicubic").shape == X.shape


@pytest.mark.parametrize("part, words", [
    (Ignores(), r"resampler Ignores returned shape \(2, 3, 20, 30\) for input \(2, 3, 20, 30\); expected "
                r"\(2, 3, 10, 15\) \(it ignores the target size\)"),
    (Doubles(), "resampler Doubles returned dtype torch.float64 for a torch.float32 input"),
])
def test_a_resampler_that_breaks_it_stops_the_call(part, words):
    with pytest.raises(LmarError, match=words):
        part(X, (10, 15))
    with pytest.raises(LmarError, match=words):
        deu(X, (10, 15), part, Identity())


def test_a_backbone_that_changes_the_size_stops_the_call():
    with pytest.raises(LmarError, match=r"backbone Upscaler returned shape \(2, 3, 40, 60\) for input "
                                        r"\(2, 3, 20, 30\); expected \(2, 3, 20, 30\)"):
        Upscaler()(X)
    with pytest.raises(LmarError, match="backbone Upscaler returned shape"):
        deu(X, (10, 15), Box(), Upscaler())


class Conv(Resampler):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 1)

    def forward(self, x, size):
        return self.conv(F.interpolate(x, size=tuple(size), mode="area"))


class Lossy(Conv):
    def forward(self, x, size):
        return super().forward(x, size).to(torch.bfloat16)


def test_autocast_may_choose_another_floating_dtype_but_plain_calls_may_not():
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert Conv()(X, (10, 15)).dtype == torch.bfloat16
    with pytest.raises(LmarError, match="resampler Lossy returned dtype torch.bfloat16 for a torch.float32 input"):
        Lossy()(X, (10, 15))


@pytest.mark.parametrize("cls, words", [
    ("Ignores", r"returned shape \(1, 3, 24, 36\) for input \(1, 3, 24, 36\); expected \(1, 3, 10, 15\) "
                r"\(it ignores the target size\)"),
    ("Square", r"returned shape \(1, 3, 10, 10\) for input \(1, 3, 24, 36\); expected \(1, 3, 10, 15\)"),
    ("Bytes", "returned dtype torch.uint8 for a torch.float32 input"),
    ("Crashes", "failed: RuntimeError: shape mismatch in my layer"),
])
def test_plan_time_probe_refuses_a_broken_plugin(make_module, cls, words):
    module = make_module("lmar_test_bad_parts", BAD_PARTS)
    cfg = {"datasets": {"mini": {"type": "mini"}}, "backbones": {"unet": {"type": "unet_lite"}},
           "resamplers": {"mine": {"type": f"{module}:{cls}"}}}
    with pytest.raises(LmarError, match=f"config key resamplers.mine: a probe call on a 1x3x24x36 input for 10x15.*{words}"):
        check_parts(cfg)


@pytest.mark.slow
def test_snakemake_plan_refuses_a_resampler_that_ignores_the_size(tmp_path, make_module, monkeypatch):
    make_module("lmar_test_bad_parts", BAD_PARTS)
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}:{__import__('os').environ.get('PYTHONPATH', '')}")
    rc, out = plan(tmp_path, lambda c: c["resamplers"].update(mine={"type": "lmar_test_bad_parts:Ignores"}))
    assert rc != 0
    assert "config key resamplers.mine: a probe call" in out and "it ignores the target size" in out
    assert not (tmp_path / "run" / "results").exists()
