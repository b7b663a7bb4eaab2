"""The small U-Net ``unet_lite`` and the backbone interface the harness relies on."""

from __future__ import annotations

import pytest
import torch

from lmar.core.registry import BACKBONES
from lmar.parts.backbones.unet_lite import UNetLite


@pytest.fixture(scope="module")
def unet():
    torch.manual_seed(0)
    return UNetLite(width=16).eval()


@pytest.mark.parametrize("hw", [(37, 51), (64, 96), (5, 7), (2, 9), (33, 8), (48, 72)])
def test_output_has_input_size(unet, hw):
    x = torch.rand(2, 3, *hw)
    with torch.no_grad():
        y = unet(x)
    assert tuple(y.shape) == (2, 3, *hw)
    assert torch.isfinite(y).all()


def test_feature_tap_is_quarter_resolution_with_64_channels(unet):
    assert unet.feature_tap == "enc2" and unet.tap_stride == 4
    with torch.no_grad():
        f = unet.feature(torch.rand(2, 3, 64, 96))
    assert tuple(f.shape) == (2, 64, 16, 24)


@pytest.mark.parametrize("hw", [(37, 51), (45, 70), (13, 9)])
def test_feature_tap_of_odd_sizes_is_about_quarter_resolution(unet, hw):
    with torch.no_grad():
        f = unet.feature(torch.rand(1, 3, *hw))
    assert f.shape[1] == 64
    for n, m in zip(hw, f.shape[-2:]):
        assert n // 4 <= m <= -(-n // 4), (hw, tuple(f.shape))


def test_feature_of_padded_input_is_a_crop_of_the_whole_feature(unet):
    """For an input already a multiple of 4 no padding happens: feature() is the encoder's enc2."""
    x = torch.rand(1, 3, 32, 40)
    with torch.no_grad():
        torch.testing.assert_close(unet.feature(x), unet._encode(x)["enc2"])
        torch.testing.assert_close(unet.feature(x, "enc1"), unet._encode(x)["enc1"])


def test_unknown_feature_name_lists_the_taps(unet):
    with pytest.raises(KeyError, match="enc0, enc1, enc2"):
        unet.feature(torch.rand(1, 3, 16, 16), "enc9")


def test_parameter_count_is_about_a_quarter_million():
    n = sum(p.numel() for p in UNetLite(width=16).parameters())
    assert 200_000 < n < 350_000, n


def test_width_scales_channels():
    net = UNetLite(width=8).eval()
    with torch.no_grad():
        assert net.feature(torch.rand(1, 3, 16, 16)).shape[1] == 32
    assert sum(p.numel() for p in net.parameters()) < sum(p.numel() for p in UNetLite(width=16).parameters())


def test_registered_under_its_config_name():
    net = BACKBONES.build({"type": "unet_lite", "params": {"width": 8}})
    assert isinstance(net, UNetLite)


def test_backbone_is_differentiable_wrt_its_input(unet):
    """The LMAR losses backpropagate through the (frozen) backbone into the resampler."""
    x = torch.rand(1, 3, 20, 28, requires_grad=True)
    unet.feature(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("hw", [(4, 4), (3, 4), (1, 1), (1, 6)])
def test_tiny_inputs_are_enhanced(unet, hw):
    """Regression: inputs of at most 4x4 once crashed instance norm on a 1x1 map at 1/4 resolution."""
    x = torch.rand(2, 3, *hw)
    with torch.no_grad():
        y = unet(x)
        f = unet.feature(x)
    assert tuple(y.shape) == (2, 3, *hw) and torch.isfinite(y).all()
    assert f.shape[1] == 64 and torch.isfinite(f).all()


def test_the_pretrained_checkpoint_records_the_parameter_count(backbone_ckpt):
    """Counted from the saved tensors (the backbone has no buffers), not by the trainer's own sum."""
    ckpt = torch.load(backbone_ckpt, map_location="cpu", weights_only=True)
    assert ckpt["meta"]["parameters"] == sum(t.numel() for t in ckpt["state_dict"].values()) > 0
