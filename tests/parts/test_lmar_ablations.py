"""LMAR's parts as switches (ablations as config entries): kernel_size, compensation, embedding,
the loss weights and a fixed training target. The defaults must be the method exactly."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from helpers import CPU, LMAR_SPEC, N_TRAIN, authors_edge_mask

import lmar.parts.lmar.resampler as lmar_resampler
from lmar.core.errors import LmarError
from lmar.parts.lmar.losses import LMARLoss
from lmar.parts.lmar.resampler import LMAR, LMARRecipe
from lmar.parts.recipes import ResamplerRecipe
from lmar.parts.resize import resize
from lmar.run.config import check_parts
from lmar.run.train import train_resampler


def small(seed: int = 0, **kw) -> LMAR:
    """A narrow LMAR with R = torch's bicubic (the per-pixel references below resize with it) unless given."""
    torch.manual_seed(seed)
    kw.setdefault("interpolation", "bicubic")
    return LMAR(hidden=kw.pop("hidden", 16), depth=kw.pop("depth", 2), **kw)


def bicubic(x: torch.Tensor, size) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bicubic", align_corners=False)


# ---------------------------------------------------------------- the defaults are the method


def test_defaults_are_the_method_bit_for_bit():
    """LMAR() is the published method: R = the authors' lanczos3 without antialiasing, an MLP
    7 -> 128 x 5 -> 81 with LeakyReLU(0.01) and a bias on its first layer only, 3x3 kernels, the
    compensatory map fused by a 1x1 convolution; the same as every switch spelled out."""
    torch.manual_seed(0)
    default = LMAR()
    torch.manual_seed(0)
    spelled = LMAR(interpolation="lanczos3", antialias=False, hidden=128, depth=5, kernel_size=3, compensation=True,
                   embedding="fusion")
    assert default.state_dict().keys() == spelled.state_dict().keys()
    assert all(torch.equal(v, spelled.state_dict()[k]) for k, v in default.state_dict().items())
    assert (default.interpolation, default.antialias) == ("lanczos3", False)
    linears = [m for m in default.mlp if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(7, 128)] + [(128, 128)] * 4 + [(128, 81)]
    assert [m.bias is not None for m in linears] == [True] + [False] * 5
    assert {m.negative_slope for m in default.mlp if isinstance(m, torch.nn.LeakyReLU)} == {0.01}
    assert default.fuse.in_channels == 6 and default.fuse.kernel_size == (1, 1)
    x = torch.rand(2, 3, 22, 30)
    with torch.no_grad():
        assert torch.equal(default(x, (7, 11)), spelled(x, (7, 11)))


def test_default_forward_is_the_fusion_of_x0_and_the_resized_map():
    net = small()
    x = torch.rand(2, 3, 22, 30)
    with torch.no_grad():
        x0 = resize(x, (7, 11), "bicubic", False)
        comp = net.compensatory_map(x, (7, 11))
        expected = net.fuse(torch.cat([x0, resize(comp, (7, 11), "bicubic", False)], dim=1))
        assert torch.equal(net(x, (7, 11)), expected)


def method_loss(backbone, net, x, size, epoch, weights=(1.0, 1e-3)):
    """docs/method.md section 4 written out: feature + edge + w * resize, up = the authors' lanczos3 resize,
    M = the authors' Scharr mask (pixel by pixel, tests/helpers) brought to phi's size by bicubic."""
    x_lr = net(x, size)
    x0 = resize(x, size, "lanczos3")
    with torch.no_grad():
        f_full = backbone.feature(x)
        mask = torch.from_numpy(authors_edge_mask(x.mean(dim=1)[0].double().numpy())).float()[None, None]
        edge_map = F.interpolate(mask, size=f_full.shape[-2:], mode="bicubic", align_corners=False)
    f_low = resize(backbone.feature(x_lr), tuple(f_full.shape[-2:]), "lanczos3")
    feature = F.smooth_l1_loss(f_low, f_full)
    edge = ((f_low - f_full).abs() * edge_map).mean()
    resize_term = F.l1_loss(x_lr, x0)
    w = weights[0] if epoch == 0 else weights[1]
    return feature + edge + w * resize_term, {"feature": feature.item(), "edge": edge.item(),
                                                "resize": resize_term.item()}


@pytest.mark.parametrize("epoch", [0, 3])
def test_default_loss_is_the_method(frozen_backbone, epoch):
    net = small(interpolation="lanczos3")
    with torch.no_grad():
        net.fuse.weight[:, 3:].normal_(0.0, 0.3)
    x = torch.rand(1, 3, 32, 40)
    spec = dataclasses.asdict(LMARRecipe(resize_loss="l1"))  # a bound recipe, defaults filled in
    total, parts = LMARLoss(frozen_backbone, net, spec, CPU)(x, None, (16, 24), epoch)
    total.backward()
    grads = {k: p.grad.clone() for k, p in net.named_parameters()}
    net.zero_grad()
    ref, ref_parts = method_loss(frozen_backbone, net, x, (16, 24), epoch)
    ref.backward()
    assert parts == pytest.approx(ref_parts, rel=1e-5) and total.item() == pytest.approx(ref.item(), rel=1e-5)
    for k, p in net.named_parameters():
        torch.testing.assert_close(grads[k], p.grad, rtol=1e-4, atol=1e-7)


# ---------------------------------------------------------------- kernel_size


def relative(n_full: int, n_low: int) -> list[float]:
    """Each full-res pixel centre minus its nearest low-res centre, in low-res pixels (no ties: n_low odd)."""
    out = []
    for i in range(n_full):
        c = -1 + (2 * i + 1) / n_full
        low = min((-1 + (2 * j + 1) / n_low for j in range(n_low)), key=lambda lc: abs(c - lc))
        out.append((c - low) * n_low)
    return out


def per_pixel_map(net: LMAR, x: torch.Tensor, size, k: int) -> torch.Tensor:
    """The compensatory map pixel by pixel: a k x k x 3 neighbourhood (zeros outside) times the
    MLP's (3 k^2) x 3 kernel, the neighbourhood ordered channel, row, column."""
    _, _, H, W = x.shape
    h, w = size
    residual = x - bicubic(bicubic(x, size), (H, W))
    ry, rx = relative(H, h), relative(W, w)
    r = k // 2
    out = torch.zeros(1, 3, H, W, dtype=x.dtype)
    for i in range(H):
        for j in range(W):
            feats = torch.tensor([ry[i], rx[j], 2 * h / H, 2 * w / W, *residual[0, :, i, j].tolist()], dtype=x.dtype)
            K = net.mlp(feats).reshape(3 * k * k, 3)
            patch = torch.tensor(
                [x[0, c, i + dy, j + dx].item() if 0 <= i + dy < H and 0 <= j + dx < W else 0.0
                 for c in range(3) for dy in range(-r, r + 1) for dx in range(-r, r + 1)],
                dtype=x.dtype,
            )
            out[0, :, i, j] = patch @ K
    return out


def test_kernel_size_5_map_is_the_per_pixel_5x5_computation():
    net = small(kernel_size=5).double()
    assert net.mlp[-1].out_features == 5 * 5 * 3 * 3
    x = torch.rand(1, 3, 9, 11, dtype=torch.float64)
    size = (5, 7)
    with torch.no_grad():
        comp = net.compensatory_map(x, size)
        ref = per_pixel_map(net, x, size, 5)
        torch.testing.assert_close(comp, ref, rtol=1e-6, atol=1e-7)  # the float32 relative coordinate
        y = net(x, size)
        assert y.shape == (1, 3, *size)
        torch.testing.assert_close(y, net.fuse(torch.cat([bicubic(x, size), bicubic(ref, size)], 1)),
                                   rtol=1e-6, atol=1e-7)


def test_kernel_size_3_map_is_the_per_pixel_3x3_computation():
    """The same independent computation at k = 3: the reference the 5x5 test generalises."""
    net = small().double()
    x = torch.rand(1, 3, 9, 11, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(net.compensatory_map(x, (5, 7)), per_pixel_map(net, x, (5, 7), 3),
                                   rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("grad", [False, True])
def test_kernel_size_5_bands_carry_their_halo(grad):
    """Bands of two rows need two padded rows either side: any band size gives the same map."""
    whole = small(kernel_size=5, chunk_pixels=10**6)
    banded = small(kernel_size=5, chunk_pixels=2 * 2 * 17)
    x = torch.rand(2, 3, 13, 17)
    with torch.set_grad_enabled(grad):
        torch.testing.assert_close(banded.compensatory_map(x, (5, 7)), whole.compensatory_map(x, (5, 7)),
                                   rtol=1e-5, atol=1e-6)
        y = banded(x, (6, 9))
    assert y.shape == (2, 3, 6, 9) and torch.isfinite(y).all()
    if grad:
        y.square().sum().backward()
        assert banded.mlp[-1].weight.grad.abs().sum() > 0


def test_unsupported_variants_take_the_reference_path(monkeypatch):
    def no_fused(*args, **kwargs):
        raise AssertionError("the fused decision was consulted")

    monkeypatch.setattr(lmar_resampler, "use_fused", no_fused)
    x = torch.rand(1, 3, 12, 14)
    with torch.no_grad():
        assert small(kernel_size=5).compensatory_map(x, (5, 7)).shape == (1, 3, 12, 14)
        assert small(compensation=False)(x, (5, 7)).shape == (1, 3, 5, 7)


@pytest.mark.parametrize("kw, words", [({"kernel_size": 5}, "the fused kernel supports kernel_size=3 only, not 5"),
                                       ({"compensation": False}, "compensation=False computes no compensatory map")])
def test_fused_always_refuses_unsupported_variants_when_built(kw, words):
    with pytest.raises(LmarError, match=f"fused='always' cannot run: {words}"):
        LMAR(hidden=16, depth=2, fused="always", **kw)
    LMAR(hidden=16, depth=2, fused="auto", **kw)
    LMAR(hidden=16, depth=2, fused="never", **kw)


# ---------------------------------------------------------------- compensation, embedding


def test_without_compensation_x_lr_is_the_fusion_of_x0_and_zeros(monkeypatch):
    net = small(compensation=False)
    assert net.mlp is None
    assert {name for name, _ in net.named_parameters()} == {"fuse.weight", "fuse.bias"}

    def no_map(*args, **kwargs):
        raise AssertionError("a compensatory map was computed")

    monkeypatch.setattr(LMAR, "compensatory_map", no_map)
    monkeypatch.setattr(LMAR, "_band", no_map)
    with torch.no_grad():
        net.fuse.weight.normal_()
        net.fuse.bias.normal_()
    x = torch.rand(2, 3, 22, 30)
    x0 = bicubic(x, (7, 11))
    expected = F.conv2d(torch.cat([x0, torch.zeros_like(x0)], dim=1), net.fuse.weight, net.fuse.bias)
    y = net(x, (7, 11))
    torch.testing.assert_close(y, expected, rtol=1e-6, atol=1e-6)
    y.square().sum().backward()
    assert net.fuse.weight.grad[:, :3].abs().sum() > 0 and net.fuse.bias.grad.abs().sum() > 0  # still trainable
    assert torch.equal(net.fuse.weight.grad[:, 3:], torch.zeros_like(net.fuse.weight.grad[:, 3:]))


def test_without_compensation_the_map_is_zero():
    x = torch.rand(1, 3, 10, 12)
    assert torch.equal(small(compensation=False).compensatory_map(x, (5, 7)), torch.zeros_like(x))


def test_add_embedding_is_x0_plus_the_resized_map():
    net = small(embedding="add")
    assert net.fuse is None
    assert not any(name.startswith("fuse") for name, _ in net.named_parameters())
    x = torch.rand(2, 3, 22, 30)
    with torch.no_grad():
        comp = net.compensatory_map(x, (7, 11))
        assert torch.equal(net(x, (7, 11)), bicubic(x, (7, 11)) + bicubic(comp, (7, 11)))
    net(x, (7, 11)).square().sum().backward()
    assert net.mlp[0].weight.grad.abs().sum() > 0


def test_add_embedding_with_kernel_size_5_matches_by_hand():
    net = small(embedding="add", kernel_size=5).double()
    x = torch.rand(1, 3, 9, 11, dtype=torch.float64)
    with torch.no_grad():
        ref = per_pixel_map(net, x, (5, 7), 5)
        torch.testing.assert_close(net(x, (5, 7)), bicubic(x, (5, 7)) + bicubic(ref, (5, 7)), rtol=1e-6, atol=1e-7)


def test_nothing_to_learn_is_refused():
    with pytest.raises(LmarError, match="x_lr = x0"):
        LMAR(compensation=False, embedding="add")


@pytest.mark.parametrize("bad", [{"kernel_size": 4}, {"kernel_size": 3.0}, {"embedding": "concat"}])
def test_bad_switches_are_refused_when_built(bad):
    with pytest.raises(LmarError, match=next(iter(bad))):
        LMAR(**bad)


# ---------------------------------------------------------------- the plan-time config check


def config(resampler: dict) -> dict:
    return {
        "datasets": {"mini": {"type": "mini"}},
        "backbones": {"unet": {"type": "unet_lite"}},
        "resamplers": {"x": resampler},
        "evaluation": {"scales": [2]},
    }


def test_ablation_entries_pass_the_config_check():
    for params in ({"kernel_size": 5}, {"compensation": False}, {"embedding": "add"},
                   {"kernel_size": 5, "embedding": "add", "fused": "never"}):
        check_parts(config({"type": "lmar", "params": params}))
    for train in ({"edge_weight": 0}, {"feature_weight": 0}, {"resize_scale": 0}, {"edge_weight": 0, "resize_scale": 0},
                  {"feature_weight": 0.5, "edge_weight": 2.0, "resize_scale": 3}, {"fixed_target": 512},
                  {"fixed_target": None},
                  {"feature_weight": 0, "edge_weight": 0, "resize_weights": [1, 0], "epochs": 1}):
        check_parts(config({"type": "lmar", "train": train}))


@pytest.mark.parametrize(
    "entry, words",
    [
        ({"params": {"kernel_size": 7}}, r"resamplers\.x\.params\.kernel_size must be one of 3, 5"),
        ({"params": {"compensation": "no"}}, r"resamplers\.x\.params\.compensation must be true or false"),
        ({"params": {"embedding": "concat"}}, r"resamplers\.x\.params\.embedding must be one of"),
        ({"params": {"kernel_size": 5, "fused": "always"}}, r"resamplers\.x\.params: .*kernel_size=3 only"),
        ({"params": {"compensation": False, "embedding": "add"}}, r"resamplers\.x\.params: .*x_lr = x0"),
        ({"train": {"edge_weight": -1}}, r"resamplers\.x\.train\.edge_weight must be a number >= 0"),
        ({"train": {"fixed_target": 0}}, r"resamplers\.x\.train\.fixed_target must be an integer >= 1 or null"),
        ({"train": {"feature_weight": 0, "edge_weight": 0, "resize_scale": 0}},
         r"resamplers\.x\.train: every loss weight is 0 in the first epoch and the epochs after the first"),
        ({"train": {"feature_weight": 0, "edge_weight": 0, "resize_weights": [0, 1]}},
         r"resamplers\.x\.train: every loss weight is 0 in the first epoch:"),
        ({"train": {"feature_weight": 0, "edge_weight": 0, "resize_weights": [1, 0]}},
         r"resamplers\.x\.train: every loss weight is 0 in the epochs after the first"),
    ],
)
def test_bad_ablation_entries_are_refused_naming_the_key(entry, words):
    with pytest.raises(LmarError, match=words):
        check_parts(config({"type": "lmar", **entry}))


def test_all_zero_weights_are_refused_by_the_recipe_itself():
    with pytest.raises(ValueError, match="give at least one loss a positive weight"):
        LMARRecipe(feature_weight=0, edge_weight=0, resize_scale=0)


# ---------------------------------------------------------------- loss weights


def parts_sum(parts: dict, feature=1.0, edge=1.0, resize=1.0) -> float:
    weights = {"feature": feature, "edge": edge, "resize": resize}
    return sum(weights[k] * v for k, v in parts.items())


@pytest.mark.parametrize(
    "weights, present",
    [
        ({"edge_weight": 0}, {"feature", "resize"}),
        ({"feature_weight": 0}, {"edge", "resize"}),
        ({"resize_scale": 0}, {"feature", "edge"}),
        ({"edge_weight": 0, "resize_scale": 0}, {"feature"}),  # feature loss only
        ({"feature_weight": 0, "edge_weight": 0}, {"resize"}),
    ],
)
def test_a_zero_weight_removes_its_term(frozen_backbone, weights, present):
    net = small()
    with torch.no_grad():
        net.fuse.weight[:, 3:].normal_(0.0, 0.3)
    loss = LMARLoss(frozen_backbone, net, {"resize_loss": "l1", **weights}, CPU)
    x = torch.rand(1, 3, 32, 32)
    total, parts = loss(x, None, (16, 16), 0)
    assert set(parts) == present
    assert total.item() == pytest.approx(parts_sum(parts), rel=1e-6)
    full_total, full = LMARLoss(frozen_backbone, net, {"resize_loss": "l1"}, CPU)(x, None, (16, 16), 0)
    assert all(parts[k] == pytest.approx(full[k], rel=1e-6) for k in present)  # the others unchanged
    assert total.item() < full_total.item()
    total.backward()
    assert net.mlp[0].weight.grad.abs().sum() > 0


def test_weights_scale_their_terms(frozen_backbone):
    net = small()
    spec = {"resize_loss": "l1", "feature_weight": 0.5, "edge_weight": 2.0, "resize_scale": 3.0,
            "resize_weights": (1.0, 0.25)}
    loss = LMARLoss(frozen_backbone, net, spec, CPU)
    x = torch.rand(1, 3, 32, 32)
    for epoch, w in ((0, 1.0), (2, 0.25)):
        total, parts = loss(x, None, (16, 16), epoch)
        assert set(parts) == {"feature", "edge", "resize"}
        assert total.item() == pytest.approx(parts_sum(parts, 0.5, 2.0, 3.0 * w), rel=1e-6)


def test_zero_weighted_terms_are_not_computed(frozen_backbone, monkeypatch):
    """No backbone pass when feature and edge are off; no VGG pass in an epoch whose resize weight is 0."""
    net = small()
    loss = LMARLoss(frozen_backbone, net, {"resize_loss": "l1", "feature_weight": 0, "edge_weight": 0,
                                           "resize_weights": (1.0, 0.0)}, CPU)

    def boom(*args, **kwargs):
        raise AssertionError("computed")

    monkeypatch.setattr(frozen_backbone, "feature", boom)
    x = torch.rand(1, 3, 32, 32)
    total, parts = loss(x, None, (16, 16), 0)
    assert set(parts) == {"resize"} and total.item() == pytest.approx(parts["resize"], rel=1e-6)
    with pytest.raises(LmarError, match="every loss weight is 0 in epoch 1"):
        loss(x, None, (16, 16), 1)
    monkeypatch.undo()

    loss = LMARLoss(frozen_backbone, net, {"resize_loss": "l1", "resize_weights": (1.0, 0.0)}, CPU)
    loss.vgg = boom  # as if VGG16 were the resize loss: it must not run at weight 0
    total, parts = loss(x, None, (16, 16), 1)
    assert set(parts) == {"feature", "edge"}


def test_task_weight_adds_the_ground_truth_loss(frozen_backbone):
    """The diagnostic task term: L1 of the frozen backbone's output on x_lr, brought back by
    task_upsampler (here bicubic, as PyTorch computes it), to the ground truth; 0 by default, so the
    method as published never reads the ground truth."""
    net = small()
    with torch.no_grad():
        net.fuse.weight[:, 3:].normal_(0.0, 0.3)
    x, gt = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    _, plain = LMARLoss(frozen_backbone, net, {"resize_loss": "l1"}, CPU)(x, gt, (16, 16), 1)
    assert "task" not in plain
    _, nan_gt = LMARLoss(frozen_backbone, net, {"resize_loss": "l1"}, CPU)(x, torch.full_like(gt, math.nan), (16, 16), 1)
    assert nan_gt == plain  # the ground truth is never read

    loss = LMARLoss(frozen_backbone, net, {"resize_loss": "l1", "task_weight": 2.5, "task_upsampler": "bicubic"}, CPU)
    assert loss.info["task_loss"] == "l1" and loss.info["task_upsampler"] == "bicubic"
    total, parts = loss(x, gt, (16, 16), 1)
    with torch.no_grad():
        expected = (bicubic(frozen_backbone(net(x, (16, 16))), (32, 32)) - gt).abs().mean().item()
    assert parts["task"] == pytest.approx(expected, rel=1e-5)
    assert total.item() == pytest.approx(parts_sum({k: v for k, v in parts.items() if k != "task"}, resize=1e-3)
                                         + 2.5 * expected, rel=1e-5)
    total.backward()
    assert net.mlp[0].weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in frozen_backbone.parameters())  # the backbone stays frozen

    only = LMARLoss(frozen_backbone, net, {"resize_loss": "l1", "feature_weight": 0, "edge_weight": 0,
                                           "resize_scale": 0, "task_weight": 1}, CPU)
    assert set(only(x, gt, (16, 16), 0)[1]) == {"task"}
    LMARRecipe(feature_weight=0, edge_weight=0, resize_scale=0, task_weight=1)  # a loss is left: accepted


def test_a_resize_loss_never_used_loads_no_vgg(frozen_backbone, monkeypatch):
    import lmar.parts.lmar.losses

    monkeypatch.setattr(lmar.parts.lmar.losses, "VGGRelu43", lambda *a, **k: pytest.fail("VGG16 loaded"))
    loss = LMARLoss(frozen_backbone, small(), {"resize_loss": "vgg16", "resize_scale": 0}, CPU)
    assert loss.vgg is None and loss.info["resize_loss"] == "none"


# ---------------------------------------------------------------- fixed target


def record_sizes(monkeypatch) -> list[tuple[int, int]]:
    sizes: list[tuple[int, int]] = []
    forward = LMAR.forward

    def recording(self, x, size):
        sizes.append((int(size[0]), int(size[1])))
        return forward(self, x, size)

    monkeypatch.setattr(LMAR, "forward", recording)
    return sizes


def test_fixed_target_is_declared_for_every_trainable_resampler():
    assert ResamplerRecipe().fixed_target is None and LMARRecipe(fixed_target=64).fixed_target == 64


@pytest.mark.parametrize("fixed, expected", [(None, None), (12, {(12, 12)}), (100, {(31, 31)})])  # crop 32
def test_fixed_target_is_the_only_training_size(mini_data, backbone_ckpt, tmp_path, monkeypatch, fixed, expected):
    sizes = record_sizes(monkeypatch)
    spec = {**LMAR_SPEC, "train": {**LMAR_SPEC["train"], "fixed_target": fixed}}
    torch.manual_seed(0)
    meta = train_resampler(mini_data, backbone_ckpt, spec, tmp_path / "r.pt", CPU, seed=0, name="x")
    assert len(sizes) == N_TRAIN  # one forward per training pair (1 epoch, 1 repeat)
    assert meta["train"]["fixed_target"] == fixed
    assert all(math.isfinite(v) for v in meta["final_losses"].values())
    if expected is None:  # random targets from [8, 32) in steps of 8
        assert len(set(sizes)) > 1 and set(sizes) <= {(8, 8), (16, 16), (24, 24)}
    else:
        assert set(sizes) == expected


def test_an_ablation_trains(mini_data, backbone_ckpt, tmp_path):
    """Feature loss only, 5x5 kernels, added map: trains and records only the terms it computed."""
    spec = {"type": "lmar", "params": {**LMAR_SPEC["params"], "kernel_size": 5, "embedding": "add"},
            "train": {**LMAR_SPEC["train"], "edge_weight": 0, "resize_scale": 0}}
    meta = train_resampler(mini_data, backbone_ckpt, spec, tmp_path / "r.pt", CPU, seed=0, name="x")
    assert set(meta["final_losses"]) == {"total", "feature"}
    assert meta["final_losses"]["total"] == pytest.approx(meta["final_losses"]["feature"], rel=1e-6)
    assert meta["resize_loss"] == "none"
