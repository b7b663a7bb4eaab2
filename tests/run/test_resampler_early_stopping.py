"""Early stopping of a trainable resampler (``train.val_pairs``): the held-out Downsample -> Enhance ->
Upsample PSNR is taken before training and after each epoch, the best weights (the initialisation
included) are the ones saved, and a killed job resumes to the same choice."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from helpers import CPU, kill_resampler_loss_at, load_png

import lmar.run.train
from lmar.core.registry import RESAMPLERS
from lmar.run import checkpoint
from lmar.run.resume import check_state, resume_path
from lmar.run.train import train_resampler

SPEC = {
    "type": "learned_resizer",
    "params": {"n": 4, "r": 1},
    "train": {"epochs": 3, "crop": 32, "target_min": 8, "target_max": 32, "repeats": 1, "val_pairs": 2,
              "val_scales": [2], "val_upsampler": "bilinear"},
}


def scripted(monkeypatch, scores):
    """Replace the held-out validation by one returning ``scores`` in turn, recording the weights it saw."""
    seen = []

    def factory(net, pairs, device, run=None):
        it = iter(scores)

        def validate():
            seen.append({k: v.detach().clone() for k, v in net.state_dict().items()})
            return {"val_psnr": next(it)}

        return validate

    monkeypatch.setattr(lmar.run.train, "_validation", factory)
    return seen


def weights(path):
    return checkpoint.load(path, "resampler")["state_dict"]


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_best_epoch_is_kept_not_the_last(mini_data, backbone_ckpt, tmp_path, monkeypatch):
    seen = scripted(monkeypatch, [10.0, 9.0, 12.0, 11.0])  # before training, then epochs 0, 1, 2
    torch.manual_seed(0)
    meta = train_resampler(mini_data, backbone_ckpt, SPEC, tmp_path / "r.pt", CPU, seed=0, name="r")
    assert len(seen) == 4
    assert (meta["kept_epoch"], meta["val_psnr_kept"], meta["val_psnr_init"]) == (1, 12.0, 10.0)
    assert same(weights(tmp_path / "r.pt"), seen[2])  # the weights validated after epoch 1
    assert not same(weights(tmp_path / "r.pt"), seen[3])
    curve = pd.read_csv(tmp_path / "r.curve.csv")  # the initial weights' score first, as epoch -1
    assert curve["epoch"].tolist() == [-1, 0, 1, 2]
    assert curve["val_psnr"].tolist() == [10.0, 9.0, 12.0, 11.0]
    assert curve["kept"].tolist() == [0, 0, 1, 0]
    assert curve.loc[0, ["lr", "seconds", "total"]].isna().all()  # nothing was trained before epoch 0
    assert list(curve.columns[-2:]) == ["val_psnr", "kept"]
    assert checkpoint.load(tmp_path / "r.pt", "resampler")["meta"]["kept_epoch"] == 1


@pytest.mark.parametrize("scores", [[10.0, 9.0, 8.0, 7.0], [10.0, 10.0, 10.0, 10.0]], ids=["worse", "equal"])
def test_no_better_epoch_keeps_the_initialisation_which_is_bilinear(mini_data, backbone_ckpt, tmp_path, monkeypatch,
                                                                     scores):
    seen = scripted(monkeypatch, scores)
    torch.manual_seed(0)
    meta = train_resampler(mini_data, backbone_ckpt, SPEC, tmp_path / "r.pt", CPU, seed=0, name="r")
    assert meta["kept_epoch"] == -1
    curve = pd.read_csv(tmp_path / "r.curve.csv")
    assert (curve["epoch"].tolist(), curve["kept"].tolist()) == ([-1, 0, 1, 2], [1, 0, 0, 0])
    kept = weights(tmp_path / "r.pt")
    assert same(kept, seen[0])
    # the resizer's initialisation (its last layer at zero) is the plain bilinear resize
    assert not kept["tail.weight"].any() and not kept["tail.bias"].any()
    net = RESAMPLERS.build(SPEC)
    net.load_state_dict(kept)
    x = torch.rand(1, 3, 40, 60)
    assert torch.equal(net.eval()(x, (20, 30)), F.interpolate(x, size=(20, 30), mode="bilinear", align_corners=False))


def test_the_held_out_score_is_the_whole_image_deu_psnr_computed_by_hand(mini_data, backbone_ckpt, tmp_path):
    torch.manual_seed(0)
    meta = train_resampler(mini_data, backbone_ckpt, {**SPEC, "train": {**SPEC["train"], "epochs": 1}},
                           tmp_path / "r.pt", CPU, seed=0, name="r")
    backbone, _ = checkpoint.load_backbone(backbone_ckpt, CPU)
    assert len(meta["validation"]) == 2
    scores = []
    for name in meta["validation"]:  # untrained: bilinear down to 24 x 36 (48 x 72 / 2), backbone, bilinear up
        x = torch.from_numpy(load_png(mini_data / "train" / "input" / f"{name}.png")).float().permute(2, 0, 1)[None]
        gt = load_png(mini_data / "train" / "gt" / f"{name}.png").astype(np.float64)
        with torch.no_grad():
            small = F.interpolate(x, size=(24, 36), mode="bilinear", align_corners=False)
            y = F.interpolate(backbone(small), size=(48, 72), mode="bilinear", align_corners=False)
        out = y.clamp(0, 1)[0].permute(1, 2, 0).double().numpy()
        scores.append(10 * math.log10(1 / np.mean((out - gt) ** 2)))
    assert meta["val_psnr_init"] == pytest.approx(np.mean(scores), abs=1e-4)


def test_a_job_killed_after_a_kept_epoch_resumes_to_the_same_choice(mini_data, backbone_ckpt, tmp_path, monkeypatch):
    spec = {**SPEC, "train": {**SPEC["train"], "lr": 0.05}}  # large steps: the epochs' scores differ
    torch.manual_seed(0)
    whole = train_resampler(mini_data, backbone_ckpt, spec, tmp_path / "whole.pt", CPU, seed=0, name="r")
    with monkeypatch.context() as m:
        kill_resampler_loss_at(m, "learned_resizer", 3 + 2)  # the second step of epoch 1 (3 fitted pairs an epoch)
        with pytest.raises(RuntimeError, match="killed midway"):
            torch.manual_seed(0)
            train_resampler(mini_data, backbone_ckpt, spec, tmp_path / "r.pt", CPU, seed=0, name="r",
                            save={"every_steps": 1, "every_minutes": 0})
    state = torch.load(resume_path(tmp_path / "r.pt"), weights_only=True)
    assert state["epoch"] == 1 and state["best"]["epoch"] in (-1, 0)
    torch.manual_seed(0)
    resumed = train_resampler(mini_data, backbone_ckpt, spec, tmp_path / "r.pt", CPU, seed=0, name="r",
                              save={"every_steps": 1, "every_minutes": 0})
    assert (resumed["kept_epoch"], resumed["val_psnr_kept"]) == (whole["kept_epoch"], whole["val_psnr_kept"])
    assert same(weights(tmp_path / "r.pt"), weights(tmp_path / "whole.pt"))
    columns = ["epoch", "val_psnr", "kept"]  # one row for the initial weights, as without the kill
    assert pd.read_csv(tmp_path / "r.curve.csv")[columns].equals(pd.read_csv(tmp_path / "whole.curve.csv")[columns])


def test_a_state_whose_kept_weights_do_not_fit_is_not_resumed():
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters())
    gen = torch.Generator()
    state = {"model": net.state_dict(), "optim": opt.state_dict(), "rng": {"gen": gen.get_state(),
             "torch": torch.get_rng_state()}, "epoch": 0, "step": 0, "global_step": 0, "order": torch.arange(4)}
    assert check_state(state, net, opt, gen, 4, 2, 4) is None
    good = {"model": net.state_dict(), "epoch": -1, "val_psnr": 20.0, "val_psnr_init": 20.0}
    assert check_state({**state, "best": good}, net, opt, gen, 4, 2, 4) is None
    bad = {**good, "model": torch.nn.Linear(3, 5).state_dict()}
    assert "(the kept best weights)" in check_state({**state, "best": bad}, net, opt, gen, 4, 2, 4)
    assert "lack their held-out scores" in check_state({**state, "best": {**good, "val_psnr": "x"}}, net, opt, gen, 4,
                                                       2, 4)
