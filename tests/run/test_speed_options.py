"""Training speed options (bf16 autocast, channels-last): they train, are recorded, and are checked."""

from __future__ import annotations

import math

import pytest
import torch

from helpers import BACKBONE_SPEC, CPU, LMAR_SPEC

from lmar.core.errors import LmarError
from lmar.run import checkpoint
from lmar.run.train import pretrain_backbone, train_resampler


@pytest.mark.parametrize("options", [{"amp": "bf16"}, {"channels_last": True}, {"amp": "bf16", "channels_last": True}])
def test_backbone_trains_with_speed_options(mini_data, tmp_path, options):
    spec = {**BACKBONE_SPEC, "train": {**BACKBONE_SPEC["train"], **options}}
    meta = pretrain_backbone(mini_data, spec, tmp_path / "b.pt", CPU, seed=0)
    assert math.isfinite(meta["final_l1"]) and meta["steps_per_second"] > 0
    assert all(meta["train"][k] == v for k, v in options.items())
    net, _ = checkpoint.load_backbone(tmp_path / "b.pt", CPU)  # weights load back into the fp32 model
    assert all(p.dtype == torch.float32 for p in net.parameters())


def test_lmar_trains_with_bf16_and_channels_last(mini_data, backbone_ckpt, tmp_path):
    spec = {**LMAR_SPEC, "train": {**LMAR_SPEC["train"], "amp": "bf16", "channels_last": True}}
    meta = train_resampler(mini_data, backbone_ckpt, spec, tmp_path / "r.pt", CPU, seed=0)
    assert all(math.isfinite(v) for v in meta["final_losses"].values())
    assert meta["steps_per_second"] > 0


def test_unknown_amp_mode_names_the_key(mini_data, tmp_path):
    spec = {**BACKBONE_SPEC, "train": {**BACKBONE_SPEC["train"], "amp": "fp8"}}
    with pytest.raises(LmarError, match=r"backbones.unet.train.amp"):
        pretrain_backbone(mini_data, spec, tmp_path / "b.pt", CPU, seed=0, name="unet")
    assert not (tmp_path / "b.pt").exists()


def test_lmar_trains_compiled(mini_data, backbone_ckpt, tmp_path):
    """torch.compile (dynamic shapes) of LMAR's band inside its checkpointed band loop, with random
    target sizes; the checkpoint loads back into an uncompiled model."""
    from torch._dynamo.utils import counters

    counters.clear()
    spec = {**LMAR_SPEC, "train": {**LMAR_SPEC["train"], "compile": True}}
    meta = train_resampler(mini_data, backbone_ckpt, spec, tmp_path / "r.pt", CPU, seed=0)
    assert counters["stats"]["unique_graphs"] >= 1  # something really was compiled
    assert all(math.isfinite(v) for v in meta["final_losses"].values())
    checkpoint.build_resampler(LMAR_SPEC, tmp_path / "r.pt", CPU)  # loads strictly: the uncompiled keys
