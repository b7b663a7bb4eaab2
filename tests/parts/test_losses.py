"""LMAR's training losses (docs/method.md section 4): frozen backbone, no ground truth, resize-loss choice and weighting."""

from __future__ import annotations

import logging
import math

import pytest
import torch

from helpers import authors_edge_mask

from lmar.core.errors import LmarError
from lmar.parts.lmar.losses import LMARLoss, resize_loss_choice, scharr_mask
from lmar.parts.lmar.resampler import LMAR
from lmar.parts.resize import resize
from lmar.parts.weights import weight_path

CPU = torch.device("cpu")



def make_lmar(seed=0, hidden_scale=0.0):
    torch.manual_seed(seed)
    net = LMAR(hidden=16, depth=2)
    if hidden_scale:
        with torch.no_grad():  # make x_lr differ clearly from x0 so the resize term matters
            net.fuse.weight[:, 3:].normal_(0.0, hidden_scale)
    return net


# ---------------------------------------------------------------- frozen backbone, gradients


def test_frozen_backbone_gets_no_gradient_while_mlp_and_fuse_do(frozen_backbone):
    net = make_lmar()
    loss = LMARLoss(frozen_backbone, net, {"resize_loss": "l1"}, CPU)
    torch.manual_seed(1)
    x = torch.rand(1, 3, 32, 32)
    total, parts = loss(x, torch.rand(1, 3, 32, 32), (16, 16), 0)
    total.backward()
    assert set(parts) == {"feature", "edge", "resize"}
    assert math.isfinite(total.item()) and total.item() > 0
    for name, p in frozen_backbone.named_parameters():
        assert not p.requires_grad, name
        assert p.grad is None, name
    assert not frozen_backbone.training
    assert net.mlp[0].weight.grad is not None and net.mlp[0].weight.grad.abs().sum() > 0
    assert net.fuse.weight.grad is not None and net.fuse.weight.grad.abs().sum() > 0
    assert loss.info["feature_tap"] == "enc2"


def test_loss_does_not_use_the_ground_truth(frozen_backbone):
    net = make_lmar(hidden_scale=0.3)
    loss = LMARLoss(frozen_backbone, net, {"resize_loss": "l1"}, CPU)
    x = torch.rand(1, 3, 32, 40)
    a, pa = loss(x, torch.zeros(1, 3, 32, 40), (16, 24), 0)
    b, pb = loss(x, torch.rand(1, 3, 32, 40), (16, 24), 0)
    assert torch.equal(a, b) and pa == pb
    # ... while the input does matter (the loss is not constant)
    c, _ = loss(x.flip(-1).contiguous(), torch.zeros(1, 3, 32, 40), (16, 24), 0)
    assert not torch.equal(a, c)


def test_training_a_step_changes_only_the_resampler(frozen_backbone):
    net = make_lmar()
    before_bb = {k: v.clone() for k, v in frozen_backbone.state_dict().items()}
    before = {k: v.clone() for k, v in net.state_dict().items()}
    loss = LMARLoss(frozen_backbone, net, {"resize_loss": "l1"}, CPU)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    total, _ = loss(torch.rand(1, 3, 32, 32), None, (16, 16), 0)
    total.backward()
    opt.step()
    assert all(torch.equal(v, frozen_backbone.state_dict()[k]) for k, v in before_bb.items())
    assert not torch.equal(before["mlp.0.weight"], net.state_dict()["mlp.0.weight"])
    assert not torch.equal(before["fuse.weight"], net.state_dict()["fuse.weight"])


# ---------------------------------------------------------------- resize loss choice


def test_missing_vgg16_falls_back_to_l1_naming_the_path(empty_torch_home):
    used, reason = resize_loss_choice("vgg16", "l1")
    assert used == "l1"
    expected = empty_torch_home / "hub" / "checkpoints" / "vgg16-397923af.pth"
    assert weight_path("vgg16") == expected
    assert str(expected) in reason and "not found" in reason
    assert str(empty_torch_home) in reason  # TORCH_HOME is named too


def test_present_vgg16_file_is_chosen(empty_torch_home):
    path = weight_path("vgg16")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"placeholder")
    used, reason = resize_loss_choice("vgg16", "l1")
    assert used == "vgg16" and str(path) in reason


def test_configured_l1_needs_no_weights(empty_torch_home):
    assert resize_loss_choice("l1", "l1") == ("l1", "configured")


@pytest.mark.parametrize("wanted, fallback, key", [("vgg19", "l1", "resize_loss"), ("vgg16", "lpips", "resize_loss_fallback")])
def test_bad_resize_loss_names_are_errors(wanted, fallback, key, empty_torch_home):
    with pytest.raises(LmarError, match=key):
        resize_loss_choice(wanted, fallback)


def test_loss_records_the_fallback_and_warns(frozen_backbone, empty_torch_home, caplog):
    with caplog.at_level(logging.WARNING, logger="lmar.parts.lmar.losses"):
        loss = LMARLoss(frozen_backbone, make_lmar(), {"resize_loss": "vgg16", "resize_loss_fallback": "l1"}, CPU)
    assert loss.vgg is None
    assert loss.info["resize_loss"] == "l1"
    assert str(weight_path("vgg16")) in loss.info["resize_loss_reason"]
    assert any("fallback" in r.getMessage() for r in caplog.records)


def test_corrupt_vgg16_file_is_an_lmar_error(frozen_backbone, empty_torch_home):
    path = weight_path("vgg16")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a torch file")
    with pytest.raises(LmarError, match="vgg16-397923af.pth"):
        LMARLoss(frozen_backbone, make_lmar(), {"resize_loss": "vgg16"}, CPU)


# ---------------------------------------------------------------- epoch weighting


def test_resize_term_weight_is_one_in_the_first_epoch_then_1e_3(frozen_backbone):
    net = make_lmar(hidden_scale=0.5)
    loss = LMARLoss(frozen_backbone, net, {"resize_loss": "l1"}, CPU)  # default weights (1, 1e-3)
    x = torch.rand(1, 3, 32, 32)
    results = {epoch: loss(x, None, (16, 16), epoch) for epoch in (0, 1, 5)}
    parts = results[0][1]
    assert parts["resize"] > 1e-2  # large enough for the weight to show
    for epoch, w in ((0, 1.0), (1, 1e-3), (5, 1e-3)):
        total, p = results[epoch]
        assert p == pytest.approx(parts, rel=1e-6)
        assert total.item() == pytest.approx(p["feature"] + p["edge"] + w * p["resize"], rel=1e-5, abs=1e-7)
    gap = results[0][0].item() - results[1][0].item()
    assert gap == pytest.approx((1 - 1e-3) * parts["resize"], rel=1e-4)


def test_configured_resize_weights_are_used(frozen_backbone):
    net = make_lmar(hidden_scale=0.5)
    loss = LMARLoss(frozen_backbone, net, {"resize_loss": "l1", "resize_weights": [0.5, 0.25]}, CPU)
    x = torch.rand(1, 3, 32, 32)
    for epoch, w in ((0, 0.5), (3, 0.25)):
        total, p = loss(x, None, (16, 16), epoch)
        assert total.item() == pytest.approx(p["feature"] + p["edge"] + w * p["resize"], rel=1e-5)


def test_resize_l1_term_is_pixel_l1_between_x_lr_and_plain_resample(frozen_backbone):
    net = make_lmar(hidden_scale=0.5)
    loss = LMARLoss(frozen_backbone, net, {"resize_loss": "l1"}, CPU)
    x = torch.rand(1, 3, 32, 32)
    _, p = loss(x, None, (12, 12), 0)
    with torch.no_grad():
        expected = (net(x, (12, 12)) - resize(x, (12, 12), "lanczos3")).abs().mean()  # R: the method's lanczos3
    assert p["resize"] == pytest.approx(expected.item(), rel=1e-5)


# ---------------------------------------------------------------- Scharr


def test_scharr_mask_of_a_vertical_step_saturates_at_one_half():
    img = torch.zeros(1, 1, 6, 8)
    img[..., 4:] = 1.0
    mag = scharr_mask(img)[0, 0]
    expected = torch.zeros(6, 8)
    expected[:, 3:5] = 0.5  # (3 + 10 + 3) * 1 = 16 across the step, clamped to 1; (1 + 0) / 2
    torch.testing.assert_close(mag, expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(scharr_mask(img.transpose(-1, -2))[0, 0], expected.t(), rtol=0, atol=1e-6)


def test_scharr_mask_of_ramps_by_hand():
    """A horizontal ramp of slope a per pixel: gx = 16 * 2a = 32a inside (16a in the first and last
    columns, where the edge pixel repeats), gy = 0, so M = 16a; a diagonal ramp a*i + b*j gives
    M = 16(a + b); a slope of 1/32 or more saturates at 1/2."""
    a = 1 / 63
    ramp = a * torch.arange(9.0).expand(1, 1, 5, 9)
    m = scharr_mask(ramp)[0, 0]
    torch.testing.assert_close(m[:, 1:-1], torch.full((5, 7), 16 * a), rtol=0, atol=1e-6)  # 0.254
    torch.testing.assert_close(m[:, [0, -1]], torch.full((5, 2), 8 * a), rtol=0, atol=1e-6)
    i, j = torch.meshgrid(torch.arange(6.0), torch.arange(7.0), indexing="ij")
    diag = scharr_mask((0.004 * i + 0.01 * j)[None, None])[0, 0]
    torch.testing.assert_close(diag[1:-1, 1:-1], torch.full((4, 5), 16 * 0.014), rtol=0, atol=1e-6)
    steep = scharr_mask(0.05 * torch.arange(9.0).expand(1, 1, 5, 9))[0, 0]
    torch.testing.assert_close(steep[:, 1:-1], torch.full((5, 7), 0.5), rtol=0, atol=1e-6)


def test_scharr_mask_of_a_constant_is_zero():
    assert scharr_mask(torch.full((2, 1, 5, 7), 0.3)).max() < 1e-6


def test_scharr_mask_is_the_pixel_by_pixel_formula_on_a_photograph_like_image():
    torch.manual_seed(4)
    gray = torch.rand(1, 1, 12, 15) * 0.05 + torch.linspace(0, 0.3, 15)  # some saturated, some not
    expected = authors_edge_mask(gray[0, 0].numpy())
    assert (expected > 0.5).any() and (expected < 0.5).any()  # one response clamped at some pixels, not at others
    torch.testing.assert_close(scharr_mask(gray.double())[0, 0], torch.from_numpy(expected), rtol=0, atol=1e-12)


def test_feature_and_edge_parts_follow_the_method(frozen_backbone):
    """feature = SmoothL1(up(phi(x_lr)), phi(x)); edge = mean(|up(phi(x_lr)) - phi(x)| * M): up the authors'
    lanczos3 resize (checked against their outputs in test_authors_resize), M the authors' Scharr mask of
    mean_c(x) (written out pixel by pixel here) resized to phi's size by bicubic interpolation."""
    import torch.nn.functional as F

    net = make_lmar(hidden_scale=0.3)
    loss = LMARLoss(frozen_backbone, net, {"resize_loss": "l1"}, CPU)
    torch.manual_seed(3)
    x = torch.rand(1, 3, 36, 44)
    _, parts = loss(x, None, (14, 18), 2)
    with torch.no_grad():
        f_full = frozen_backbone.feature(x)
        assert tuple(f_full.shape[-2:]) == (9, 11)
        f_low = resize(frozen_backbone.feature(net(x, (14, 18))), (9, 11), "lanczos3")
        mask = torch.from_numpy(authors_edge_mask(x.mean(dim=1)[0].double().numpy())).float()[None, None]
        m = F.interpolate(mask, size=(9, 11), mode="bicubic", align_corners=False)
        feature = F.smooth_l1_loss(f_low, f_full)
        edge = ((f_low - f_full).abs() * m).mean()
    assert parts["feature"] == pytest.approx(feature.item(), rel=1e-4)
    assert parts["edge"] == pytest.approx(edge.item(), rel=1e-4)
    # the edge term weighs as much as the feature term here (the authors' mask: mean 0.2 to 0.5 on noise)
    assert parts["edge"] > 0.2 * parts["feature"] > 0
