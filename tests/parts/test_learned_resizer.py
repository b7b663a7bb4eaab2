"""The learned resizer baseline (Talebi & Milanfar, ICCV 2021): shapes, initialisation, training
through the generic trainer with the backbone frozen, evaluation, and plan-time checks."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from baselines.learned_resizer import LearnedResizer, LearnedResizerRecipe

from helpers import CPU, LABELS, N_TRAIN, TEST_NAMES

from lmar.core.errors import LmarError
from lmar.core.registry import RESAMPLERS
from lmar.run.config import check_parts
from lmar.run.evaluate import evaluate
from lmar.run.train import train_resampler

PARAMS = {"n": 8, "r": 1}
SPEC = {
    "type": "learned_resizer",
    "params": PARAMS,
    "train": {"epochs": 2, "crop": 32, "target_min": 8, "target_max": 32, "repeats": 1},
}


def _perturbed(net: LearnedResizer, seed: int = 0) -> LearnedResizer:
    """``net`` with its zero-initialised last conv set to small random values (g no longer zero)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        net.tail.weight.copy_(0.05 * torch.randn(net.tail.weight.shape, generator=gen))
    return net


@pytest.fixture(scope="module")
def trained(mini_data, backbone_ckpt, tmp_path_factory):
    """(checkpoint path, training meta) of a 2-epoch run through the generic trainer."""
    out = tmp_path_factory.mktemp("learned_resizer") / "lr.pt"
    torch.manual_seed(0)
    meta = train_resampler(mini_data, backbone_ckpt, SPEC, out, CPU, seed=0, name="lr")
    return out, meta


def test_registered_and_trainable():
    cls = RESAMPLERS.get("learned_resizer")
    assert cls is LearnedResizer and cls.trainable and cls.train_recipe is LearnedResizerRecipe
    net = RESAMPLERS.build({"type": "learned_resizer"})
    assert (net.n, net.r, net.antialias) == (16, 1, False)
    assert sum(p.numel() for p in net.parameters()) == 12083


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("size", [(13, 17), (20, 30)])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_output_size_is_the_target(batch, size, mode):
    torch.manual_seed(0)
    net = _perturbed(LearnedResizer(n=4, r=2)).train(mode == "train")
    y = net(torch.rand(batch, 3, 37, 51), size)
    assert y.shape == (batch, 3, *size) and torch.isfinite(y).all()


@pytest.mark.parametrize("antialias", [False, True])
def test_initial_output_is_torch_bilinear(antialias):
    torch.manual_seed(0)
    x = torch.rand(2, 3, 37, 51)
    for mode in (True, False):
        net = LearnedResizer(antialias=antialias).train(mode)
        want = F.interpolate(x, size=(13, 17), mode="bilinear", align_corners=False, antialias=antialias)
        assert torch.equal(net(x, (13, 17)), want)


def test_eval_mode_output_does_not_depend_on_the_batch():
    torch.manual_seed(0)
    net = _perturbed(LearnedResizer(n=4)).eval()
    x = torch.rand(3, 3, 24, 30)
    both = net(x, (10, 12))
    torch.testing.assert_close(net(x[1:2], (10, 12)), both[1:2])


def test_one_pixel_target_in_training_is_refused():
    with pytest.raises(LmarError, match="BatchNorm.*1x1"):
        LearnedResizer().train()(torch.rand(1, 3, 16, 16), (1, 1))
    assert LearnedResizer().eval()(torch.rand(1, 3, 16, 16), (1, 1)).shape == (1, 3, 1, 1)


def test_loss_decreases_and_only_the_resizer_learns(frozen_backbone):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(1, 3, 32, 32, generator=gen)
    gt = (x * 0.8 + 0.1).clamp(0, 1)
    net = LearnedResizer(n=8).train()
    loss_fn, info = net.make_loss(frozen_backbone, {"upsampler": "bicubic"}, CPU)
    assert info == {"task_loss": "l1", "task_upsampler": "bicubic"}
    before = {k: v.clone() for k, v in frozen_backbone.state_dict().items()}
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    losses = []
    for _ in range(30):
        loss, parts = loss_fn(x, gt, (12, 12), 0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        assert parts == {"l1": pytest.approx(losses[-1])}
    assert losses[-1] < losses[0]
    assert all(p.grad is None for p in frozen_backbone.parameters())
    assert all(torch.equal(v, before[k]) for k, v in frozen_backbone.state_dict().items())


def test_training_writes_a_checkpoint(trained):
    from lmar.run.checkpoint import build_resampler

    out, meta = trained
    assert out.is_file()
    assert meta["train"]["upsampler"] == "bicubic" and meta["train"]["epochs"] == 2 and meta["task_loss"] == "l1"
    assert math.isfinite(meta["final_losses"]["total"]) and math.isfinite(meta["final_losses"]["l1"])
    resizer, _ = build_resampler({"type": "learned_resizer", "params": PARAMS}, out, CPU)
    assert not resizer.training  # BatchNorm uses its running statistics at inference
    assert resizer.tail.weight.abs().sum() > 0  # moved away from the bilinear initialisation
    assert resizer.head[4].num_batches_tracked.item() == 2 * N_TRAIN  # 2 epochs x the training pairs, batch 1


def test_trainer_leaves_backbone_weights_bit_identical(mini_data, backbone_ckpt, tmp_path, monkeypatch):
    """Capture the very backbone the trainer uses: its weights after training equal those before,
    while the resizer's changed."""
    import lmar.run.train
    from lmar.run.checkpoint import load

    seen = {}
    real = lmar.run.train.checkpoint.load_backbone

    def spy(*args, **kwargs):
        net, ckpt = real(*args, **kwargs)
        seen["net"], seen["before"] = net, {k: v.clone() for k, v in net.state_dict().items()}
        return net, ckpt

    real_loss = LearnedResizer.make_loss

    def loss_spy(self, *args, **kwargs):  # the resizer's weights before the first step
        seen["start"] = {k: v.clone() for k, v in self.state_dict().items()}
        return real_loss(self, *args, **kwargs)

    monkeypatch.setattr(lmar.run.train.checkpoint, "load_backbone", spy)
    monkeypatch.setattr(LearnedResizer, "make_loss", loss_spy)
    spec = {**SPEC, "train": {**SPEC["train"], "epochs": 1}}
    torch.manual_seed(0)
    train_resampler(mini_data, backbone_ckpt, spec, tmp_path / "lr.pt", CPU, seed=0, name="lr")
    after = seen["net"].state_dict()
    assert after.keys() == seen["before"].keys()
    assert all(torch.equal(after[k], v) for k, v in seen["before"].items())
    assert not any(p.requires_grad for p in seen["net"].parameters())
    state = load(tmp_path / "lr.pt", "resampler")["state_dict"]
    changed = {k for k, v in seen["start"].items() if v.is_floating_point() and not torch.equal(state[k], v)}
    assert {"tail.weight", "tail.bias", "head.0.weight", "blocks.0.body.0.weight"} <= changed


def test_evaluates_end_to_end(trained, mini_data, backbone_ckpt, tmp_path):
    out, _ = trained
    df = evaluate(mini_data, backbone_ckpt, {"type": "learned_resizer", "params": PARAMS}, out,
                  {"scales": [2, 3], "upsampler": "bicubic", "metrics": ["psnr", "ssim"]},
                  tmp_path / "lr.csv", tmp_path / "img", CPU, {**LABELS, "resampler": "lr"})
    assert len(df) == 2 * len(TEST_NAMES) and set(df.resampler_type) == {"learned_resizer"}
    assert df.psnr.map(math.isfinite).all() and (df.psnr > 0).all()
    assert set(df.resampler_weights) == {"trained"}


def _config(resampler: dict) -> dict:
    return {
        "datasets": {"mini": {"type": "mini"}},
        "backbones": {"unet": {"type": "unet_lite"}},
        "resamplers": {"r": resampler},
        "evaluation": {"scales": [2]},
    }


def test_plan_time_check():
    check_parts(_config(SPEC))
    check_parts(_config({"type": "learned_resizer", "params": {"n": 16, "r": 0, "antialias": True},
                         "train": {"upsampler": "lanczos3"}}))
    with pytest.raises(LmarError, match=r"resamplers\.r\.params\.n"):
        check_parts(_config({"type": "learned_resizer", "params": {"n": 0}}))
    with pytest.raises(LmarError, match=r"resamplers\.r\.params\.r"):
        check_parts(_config({"type": "learned_resizer", "params": {"r": -1}}))
    with pytest.raises(LmarError, match=r"resamplers\.r\.params\.antialias"):
        check_parts(_config({"type": "learned_resizer", "params": {"antialias": "yes"}}))
    with pytest.raises(LmarError, match=r"resamplers\.r\.params.*'width'"):
        check_parts(_config({"type": "learned_resizer", "params": {"width": 4}}))
    with pytest.raises(LmarError, match=r"resamplers\.r\.train.*'resize_loss'"):
        check_parts(_config({"type": "learned_resizer", "train": {"resize_loss": "l1"}}))
    with pytest.raises(LmarError, match=r"resamplers\.r\.train\.upsampler"):
        check_parts(_config({"type": "learned_resizer", "train": {"upsampler": "magic"}}))
