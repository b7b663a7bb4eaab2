"""Kill-safe training: a job stopped midway (an exception, or SIGKILL) resumes from its saved state
and ends with the weights and metrics of an uninterrupted run; a non-finite loss names its step."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch

from helpers import BACKBONE_SPEC, CPU, LABELS, LMAR_SPEC, N_TRAIN, entries, kill_resampler_loss_at

import lmar.run.train
from lmar.core.errors import LmarError
from lmar.run import checkpoint
from lmar.run.evaluate import evaluate
from lmar.run.resume import resume_path
from lmar.run.train import pretrain_backbone, train_resampler

BACKBONE_3 = {**BACKBONE_SPEC, "train": {**BACKBONE_SPEC["train"], "epochs": 3}}
LMAR_2 = {**LMAR_SPEC, "train": {**LMAR_SPEC["train"], "epochs": 2}}
EVERY_STEP = {"every_steps": 1, "every_minutes": 0}


def state_dict(path, kind):
    return checkpoint.load(path, kind)["state_dict"]


def assert_same(a, b, kind):
    sa, sb = state_dict(a, kind), state_dict(b, kind)
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def fail_at(monkeypatch, attr_owner, attr, call: int):
    """Make ``attr_owner.attr`` raise on its ``call``-th call (a crash midway)."""
    real, calls = getattr(attr_owner, attr), []

    def wrapped(*a, **k):
        calls.append(1)
        if len(calls) == call:
            raise RuntimeError("killed midway")
        return real(*a, **k)

    monkeypatch.setattr(attr_owner, attr, wrapped)


def test_a_backbone_stopped_midway_resumes_to_the_same_weights(mini_data, tmp_path, monkeypatch):
    torch.manual_seed(0)  # the initial weights
    pretrain_backbone(mini_data, BACKBONE_3, tmp_path / "whole.pt", CPU, seed=0, name="unet")
    steps = -(-N_TRAIN // BACKBONE_3["train"]["batch_size"])
    with monkeypatch.context() as m:
        fail_at(m, lmar.run.train.F, "l1_loss", steps + 2)  # the second step of epoch 1
        with pytest.raises(RuntimeError, match="killed midway"):
            torch.manual_seed(0)  # the initial weights
            pretrain_backbone(mini_data, BACKBONE_3, tmp_path / "b.pt", CPU, seed=0, name="unet", save=EVERY_STEP)
    state = torch.load(resume_path(tmp_path / "b.pt"), weights_only=True)
    assert (state["epoch"], state["step"], state["global_step"]) == (1, 1, steps + 1)
    assert entries(tmp_path) == ["b.resume.pt", "whole.curve.csv", "whole.pt"]  # no checkpoint yet
    torch.manual_seed(0)  # the initial weights
    meta = pretrain_backbone(mini_data, BACKBONE_3, tmp_path / "b.pt", CPU, seed=0, name="unet", save=EVERY_STEP)
    assert_same(tmp_path / "whole.pt", tmp_path / "b.pt", "backbone")
    assert not resume_path(tmp_path / "b.pt").exists()  # removed once the job is done
    whole = pd.read_csv(tmp_path / "whole.curve.csv")
    resumed = pd.read_csv(tmp_path / "b.curve.csv")
    assert list(resumed["epoch"]) == [0, 1, 2] and resumed["l1"].tolist() == whole["l1"].tolist()
    assert meta["final_l1"] == whole["l1"].iloc[-1]


def test_a_resampler_stopped_midway_resumes_to_the_same_weights(mini_data, backbone_ckpt, tmp_path, monkeypatch):
    torch.manual_seed(0)  # the initial weights
    train_resampler(mini_data, backbone_ckpt, LMAR_2, tmp_path / "whole.pt", CPU, seed=0, name="lmar")
    with monkeypatch.context() as m:
        kill_resampler_loss_at(m, "lmar", N_TRAIN + 3)  # in epoch 1, where the resize term's weight changes
        with pytest.raises(RuntimeError, match="killed midway"):
            torch.manual_seed(0)  # the initial weights
            train_resampler(mini_data, backbone_ckpt, LMAR_2, tmp_path / "r.pt", CPU, seed=0, name="lmar", save=EVERY_STEP)
    assert torch.load(resume_path(tmp_path / "r.pt"), weights_only=True)["epoch"] == 1
    torch.manual_seed(0)  # the initial weights
    train_resampler(mini_data, backbone_ckpt, LMAR_2, tmp_path / "r.pt", CPU, seed=0, name="lmar", save=EVERY_STEP)
    assert_same(tmp_path / "whole.pt", tmp_path / "r.pt", "resampler")
    assert pd.read_csv(tmp_path / "r.curve.csv")["total"].tolist() == pd.read_csv(tmp_path / "whole.curve.csv")["total"].tolist()


def test_a_state_of_another_config_is_not_resumed_from(mini_data, tmp_path, monkeypatch, caplog):
    steps = -(-N_TRAIN // BACKBONE_3["train"]["batch_size"])
    with monkeypatch.context() as m:
        fail_at(m, lmar.run.train.F, "l1_loss", steps + 2)
        with pytest.raises(RuntimeError):
            torch.manual_seed(0)  # the initial weights
            pretrain_backbone(mini_data, BACKBONE_3, tmp_path / "b.pt", CPU, seed=0, name="unet", save=EVERY_STEP)
    torch.manual_seed(0)  # the initial weights
    pretrain_backbone(mini_data, BACKBONE_3, tmp_path / "whole1.pt", CPU, seed=1, name="unet")
    with caplog.at_level("WARNING"):
        torch.manual_seed(0)  # the initial weights
        pretrain_backbone(mini_data, BACKBONE_3, tmp_path / "b.pt", CPU, seed=1, name="unet", save=EVERY_STEP)
    assert "it belongs to another job (its config differs); set aside as b.resume.pt.set-aside-" in caplog.text
    assert_same(tmp_path / "whole1.pt", tmp_path / "b.pt", "backbone")


def test_a_non_finite_loss_stops_training_naming_the_step(mini_data, tmp_path, monkeypatch):
    real, calls = lmar.run.train.F.l1_loss, []

    def nan_at_4(*a, **k):
        calls.append(1)
        out = real(*a, **k)
        return out * float("nan") if len(calls) == 4 else out

    monkeypatch.setattr(lmar.run.train.F, "l1_loss", nan_at_4)
    steps = -(-N_TRAIN // BACKBONE_3["train"]["batch_size"])
    with pytest.raises(LmarError) as exc:
        torch.manual_seed(0)  # the initial weights
        pretrain_backbone(mini_data, BACKBONE_3, tmp_path / "b.pt", CPU, seed=0, name="unet")
    epoch, step = divmod(3, steps)
    assert str(exc.value) == (f"training pretrain unet stopped: the loss is nan at epoch {epoch}, step {step + 1} of "
                              f"{steps} (step 4 of the run); lower the learning rate (train.lr) or check the training data")
    assert entries(tmp_path) == []


def _cli(data, spec, out, *extra):
    return [sys.executable, "-m", "lmar", "pretrain-backbone", "--data", str(data), "--spec", json.dumps(spec),
            "--name", "unet", "--out", str(out), "--device", "cpu", "--seed", "0", "--threads", "1", *extra]


@pytest.mark.slow
def test_sigkill_midway_then_a_rerun_equals_an_uninterrupted_run(mini_data, tmp_path):
    spec = {**BACKBONE_SPEC, "train": {**BACKBONE_SPEC["train"], "epochs": 40}}
    whole, killed = tmp_path / "whole.pt", tmp_path / "killed.pt"
    subprocess.run(_cli(mini_data, spec, whole), check=True, capture_output=True)
    proc = subprocess.Popen(_cli(mini_data, spec, killed, "--save-every-steps", "1"), stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL)
    state = resume_path(killed)
    deadline = time.monotonic() + 120
    while not state.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)  # some steps in
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL and state.exists() and not killed.exists()
    saved = torch.load(state, weights_only=True)["global_step"]
    assert 0 < saved < 40 * math.ceil(N_TRAIN / 2)
    res = subprocess.run(_cli(mini_data, spec, killed, "--save-every-steps", "1"), capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"resuming from {state}" in res.stderr
    assert_same(whole, killed, "backbone")
    # and the same metrics, through the evaluation
    rows = [evaluate(mini_data, ckpt, {"type": "bicubic"}, None, {"scales": [2]}, tmp_path / f"{ckpt.stem}.csv",
                     tmp_path / f"img_{ckpt.stem}", CPU, {**LABELS, "resampler": "bicubic"}) for ckpt in (whole, killed)]
    assert rows[0]["psnr"].tolist() == rows[1]["psnr"].tolist() and rows[0]["ssim"].tolist() == rows[1]["ssim"].tolist()
