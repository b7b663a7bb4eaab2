"""Adding parts by config alone: any nn.Module as a backbone through the `wrapped` part (a named
layer as its tap), and a resampler from a user's module; through the whole workflow."""

from __future__ import annotations

import sys
import textwrap

import pandas as pd
import pytest
import torch
import yaml

from helpers import TINY, snakemake

from lmar.core.errors import LmarError
from lmar.core.registry import BACKBONES
from lmar.run.config import check_parts

USER_CODE = textwrap.dedent('''
    """A lab's own network and resampler, outside the harness."""
    import torch.nn.functional as F
    from torch import nn

    from lmar.parts.resampler_base import Resampler


    class TinyNet(nn.Module):
        def __init__(self, width=8):
            super().__init__()
            self.head = nn.Conv2d(3, width, 3, padding=1)
            self.down = nn.Sequential(nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU(),
                                      nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU())
            self.tail = nn.Conv2d(width, 3, 3, padding=1)

        def forward(self, x):
            f = self.down(F.relu(self.head(x)))
            return x + self.tail(F.interpolate(f, size=x.shape[-2:], mode="bilinear", align_corners=False))


    class BoxDown(Resampler):
        def forward(self, x, size):
            return F.adaptive_avg_pool2d(x, tuple(size))
''')


@pytest.fixture
def user_module(make_module):
    return make_module("lmar_test_lab_parts", USER_CODE)


def spec(module: str, **params) -> dict:
    return {"type": "wrapped", "params": {"network": f"{module}:TinyNet", "tap": "down", "tap_stride": 4,
                                          "multiple": 4, "kwargs": {"width": 8}, **params}}


def test_a_wrapped_network_enhances_and_taps_the_named_layer(user_module):
    net = BACKBONES.build(spec(user_module), "config key backbones.lab").eval()
    x = torch.rand(1, 3, 37, 51)
    inner = sys.modules[user_module].TinyNet(8)
    inner.load_state_dict(net.net.state_dict())
    with torch.no_grad():
        assert net(x).shape == x.shape
        padded = net._pad(x)  # the network sees the input padded to a multiple of 4
        torch.testing.assert_close(net(x), inner.eval()(padded)[..., :37, :51])
        # padded 40x52 -> 10x13 at 1/4, cropped to the unpadded share: round(10 * 37/40) = 9, round(13 * 51/52) = 13
        assert net.feature(x).shape == (1, 8, 9, 13)


@pytest.mark.parametrize("change, words", [
    ({"tap": "encoder.9"}, "has no layer 'encoder.9' to tap; its layers include: head, down"),
    ({"network": "os:getcwd"}, "is not a torch.nn.Module class"),
    ({"tap_stride": 0}, "backbones.lab.params.tap_stride must be an integer >= 1"),
])
def test_bad_wrapped_entries_fail_at_plan_time(user_module, change, words):
    config = {"datasets": {"d": {"type": "mini"}}, "backbones": {"lab": spec(user_module, **change)},
              "resamplers": {"r": {"type": "bicubic"}}}
    with pytest.raises(LmarError, match=words.replace("(", r"\(").replace(")", r"\)")):
        check_parts(config)


def test_a_checkpoint_cannot_smuggle_a_network(user_module):
    evil = spec(user_module, network="os:system")
    with pytest.raises(LmarError, match="params.network names code 'os:system'.*not trusted"):
        BACKBONES.resolve(evil, "backbone checkpoint x.pt: spec", allow=[user_module])


@pytest.mark.slow
def test_user_parts_by_config_alone_reach_the_results_and_the_table(tmp_path, user_module, monkeypatch):
    cfg = yaml.safe_load(TINY.read_text())
    cfg["backbones"] = {"lab": {**spec(user_module), "train": {"epochs": 1, "batch_size": 2, "size": [24, 36]}}}
    cfg["resamplers"] = {"box": {"type": f"{user_module}:BoxDown"}, "bicubic": {"type": "bicubic"},
                         "lmar": cfg["resamplers"]["lmar"]}
    cfg["report"] = {"gain": ["lmar", "box"]}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}:{__import__('os').environ.get('PYTHONPATH', '')}")
    res = snakemake("--cores", "2", "all", "--directory", str(tmp_path / "run"), "--configfile", str(path), timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    out = tmp_path / "run" / "results" / "tiny"
    df = pd.read_parquet(out / "results.parquet")
    assert set(df["backbone"]) == {"lab"} and {"box", "bicubic", "lmar"} == set(df["resampler"])
    table = (out / "table.md").read_text()
    assert "### mini / lab" in table and "| box |" in table and "| **lmar - box** |" in table
