"""``lmar_unet`` is the authors' U-Net: their released weights load into it, every tensor used, and it
reproduces their code's outputs; checkpoints of the network that used to carry the name are refused."""

from __future__ import annotations


import numpy as np
import pytest
import torch

from helpers import AUTHORS

from lmar.core.errors import LmarError
from lmar.core.registry import BACKBONES
from lmar.parts.backbones.lmar_unet import LMAR_FILE_PREFIX, LMARUNet, authors_state_dict, from_released
from lmar.parts.backbones.unet_lite import UNetLite
from lmar.run import checkpoint

RELEASED_PARAMS = 264_460
RELEASED_TENSORS = 199
RETRAIN = (r"was made by an older lmar_unet \(a different network\); "
           r"retrain it \(delete the file and rerun the workflow\)")

needs_release = pytest.mark.skipif(
    not (AUTHORS / "base_model.bin").is_file(),
    reason=f"the authors' released weights and reference outputs are not in {AUTHORS}",
)


def _load(name: str) -> dict:
    return torch.load(AUTHORS / name, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def released() -> dict:
    return _load("base_model.bin")


@pytest.fixture(scope="module")
def net(released) -> LMARUNet:
    return from_released(released).float().requires_grad_(False)


@pytest.fixture(scope="module")
def image() -> torch.Tensor:
    return torch.from_numpy(np.load(AUTHORS / "input.npy")).float()[None]


@needs_release
def test_output_matches_the_authors_code(net, image):
    with torch.no_grad():
        out = net(image)[0].numpy()
    ref = np.load(AUTHORS / "unet_out.npy")
    assert out.shape == ref.shape == (3, 96, 128)
    assert np.abs(out - ref).max() <= 1e-4
    assert out.min() < 0 and out.max() > 1  # not clamped (their code does not clamp either)


@needs_release
def test_feature_tap_matches_their_skip2(net, image):
    assert net.feature_tap == "skip2" and net.tap_stride == 4
    with torch.no_grad():
        feat = net.feature(image)[0].numpy()
    ref = np.load(AUTHORS / "unet_skip2.npy")
    assert feat.shape == ref.shape == (64, 24, 32)
    assert np.abs(feat - ref).max() <= 1e-4


@needs_release
def test_every_released_tensor_is_used_once(released):
    theirs = released["state_dict"]
    assert len(theirs) == RELEASED_TENSORS and sum(v.numel() for v in theirs.values()) == RELEASED_PARAMS
    ours = authors_state_dict(released)
    assert len(ours) == RELEASED_TENSORS and sum(v.numel() for v in ours.values()) == RELEASED_PARAMS
    assert {v.data_ptr() for v in ours.values()} == {v.data_ptr() for v in theirs.values()}
    assert released.keys() >= {"state_dict", "optimizer", "epoch"}  # the optimizer state is ignored
    LMARUNet(8).load_state_dict(ours, strict=True)


@needs_release
def test_lmar_file_holds_the_same_unet(released):
    lmar_file = _load("LMAR_model.bin")
    base = authors_state_dict(released)
    for prefix in (None, LMAR_FILE_PREFIX):
        ours = authors_state_dict(lmar_file, prefix)
        assert ours.keys() == base.keys()
        assert all(torch.equal(ours[k], base[k]) for k in base)
    # the resampler's tensors of that file are not the U-Net's: they are left out, not complained about
    assert any(k.startswith("modulation.") for k in lmar_file["state_dict"])


@needs_release
def test_a_file_that_does_not_fit_names_what_is_missing_and_unexpected(released):
    state = dict(released["state_dict"])
    del state["hr_backbone.skip2.alpha1"]
    state["hr_backbone.extra.weight"] = torch.zeros(1)
    with pytest.raises(LmarError, match=r"missing: merge_down1\.body_scale.*unexpected: hr_backbone\.extra\.weight"):
        authors_state_dict(state)
    with pytest.raises(LmarError, match="no U-Net found"):
        authors_state_dict({"state_dict": {"imnet.params": torch.zeros(3)}})


def test_parameter_count_of_the_released_configuration():
    net = LMARUNet()
    assert net.model_channel == 8
    assert sum(p.numel() for p in net.parameters()) == RELEASED_PARAMS
    assert len(net.state_dict()) == RELEASED_TENSORS


@pytest.mark.parametrize("hw", [(37, 51), (96, 128), (5, 6)])
def test_any_size_runs_and_keeps_its_size(hw):
    torch.manual_seed(0)
    net = LMARUNet().eval()
    with torch.no_grad():
        out = net(torch.rand(1, 3, *hw))
        feat = net.feature(torch.rand(1, 3, *hw))
    assert tuple(out.shape) == (1, 3, *hw) and torch.isfinite(out).all()
    assert feat.shape[1] == 64


def test_trains_at_its_smallest_size():
    net = LMARUNet().train()
    net(torch.rand(2, 3, 5, 6)).mean().backward()


def test_registered_names_build_the_right_networks():
    assert type(BACKBONES.build({"type": "lmar_unet"})) is LMARUNet
    assert type(BACKBONES.build({"type": "unet_lite", "params": {"width": 8}})) is UNetLite
    with pytest.raises(LmarError, match="model_channel must be an integer >= 2 and even"):
        BACKBONES.build({"type": "lmar_unet", "params": {"model_channel": 3}}, "config key backbones.b")


def test_a_checkpoint_of_the_old_network_under_this_name_is_refused(tmp_path):
    """The network once registered as lmar_unet is now unet_lite: its checkpoints say to retrain."""
    spec = {"type": "lmar_unet", "params": {"width": 8}}
    saved = tmp_path / "saved.pt"
    checkpoint.save(saved, "backbone", spec, UNetLite(width=8), {"seed": 0})  # records version 1
    assert checkpoint.load(saved, "backbone")["meta"]["spec_version"] == 1
    legacy = tmp_path / "legacy.pt"  # written before versions were recorded
    torch.save({"kind": "backbone", "spec": spec, "state_dict": UNetLite(width=8).state_dict(), "meta": {}}, legacy)
    for path in (saved, legacy):
        with pytest.raises(LmarError, match=RETRAIN) as exc:
            checkpoint.load_backbone(path, torch.device("cpu"))
        assert str(path) in str(exc.value)


def test_a_new_checkpoint_round_trips(tmp_path):
    torch.manual_seed(0)
    net = LMARUNet().eval()
    path = tmp_path / "new.pt"
    checkpoint.save(path, "backbone", {"type": "lmar_unet", "params": {"model_channel": 8}}, net, {})
    back, ckpt = checkpoint.load_backbone(path, torch.device("cpu"))
    assert ckpt["meta"]["spec_version"] == LMARUNet.spec_version == 2
    x = torch.rand(1, 3, 16, 20)
    with torch.no_grad():
        torch.testing.assert_close(back(x), net(x))
