"""Training curves (lmar.run.curves): one CSV row per epoch beside each checkpoint, written all-or-nothing."""

from __future__ import annotations

import csv
import logging
import re

import pytest
import torch

from helpers import BACKBONE_SPEC, CPU, LMAR_SPEC, N_TRAIN, entries

import lmar.run.train
from lmar.core.registry import RESAMPLERS
from lmar.run.curves import TENSORBOARD_ENV, CurveRecorder, curve_path, write_curve
from lmar.run.train import pretrain_backbone, train_resampler

# Adam at lr, StepLR(step_size=1, gamma): the rate of epoch e is lr * gamma**e, worked out by hand.
BACKBONE_2 = {**BACKBONE_SPEC, "train": {**BACKBONE_SPEC["train"], "epochs": 2, "lr": 2e-3, "step_size": 1,
                                         "gamma": 0.5}}
BACKBONE_LRS = [2e-3, 1e-3]
LMAR_2 = {**LMAR_SPEC, "train": {**LMAR_SPEC["train"], "epochs": 2, "lr": 4e-4, "step_size": 1, "gamma": 0.25}}
LMAR_LRS = [4e-4, 1e-4]


def read_curve(path):
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


def logged_epochs(caplog) -> list[dict[str, str]]:
    """The loss parts of each ``epoch N name value ...`` line of lmar.run.train, in order, as logged (text)."""
    out = []
    for rec in caplog.records:
        m = re.fullmatch(r"epoch (\d+) (.*)", rec.getMessage()) if rec.name == "lmar.run.train" else None
        if m:
            words = m[2].split()
            assert int(m[1]) == len(out)
            out.append({k: v for k, v in zip(words[::2], words[1::2]) if k != "lr"})
    return out


def check_rows(rows, logged, lrs, parts):
    assert len(rows) == len(logged) == len(lrs) == 2
    for e, (row, log_parts, lr) in enumerate(zip(rows, logged, lrs)):
        assert int(row["epoch"]) == e
        assert float(row["lr"]) == pytest.approx(lr, rel=1e-12)
        assert 0 < float(row["seconds"]) < 600
        assert list(log_parts) == parts
        for k in parts:
            assert f"{float(row[k]):.5f}" == log_parts[k], (e, k)


def test_curve_path():
    assert curve_path("a/b/backbone.pt").as_posix() == "a/b/backbone.curve.csv"
    assert curve_path("m/resampler_lmar.pt").as_posix() == "m/resampler_lmar.curve.csv"


def test_pretrain_writes_the_curve(mini_data, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="lmar.run.train")
    out = tmp_path / "backbone.pt"
    torch.manual_seed(0)
    meta = pretrain_backbone(mini_data, BACKBONE_2, out, CPU, seed=0, name="unet")
    assert entries(tmp_path) == ["backbone.curve.csv", "backbone.pt"]  # no temporary left
    cols, rows = read_curve(tmp_path / "backbone.curve.csv")
    assert cols == ["epoch", "lr", "seconds", "l1"]
    check_rows(rows, logged_epochs(caplog), BACKBONE_LRS, ["l1"])
    assert float(rows[-1]["l1"]) == meta["final_l1"]


def test_resampler_writes_the_curve(mini_data, backbone_ckpt, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="lmar.run.train")
    out = tmp_path / "resampler_lmar.pt"
    torch.manual_seed(0)
    meta = train_resampler(mini_data, backbone_ckpt, LMAR_2, out, CPU, seed=0, name="lmar")
    assert entries(tmp_path) == ["resampler_lmar.curve.csv", "resampler_lmar.pt"]
    cols, rows = read_curve(tmp_path / "resampler_lmar.curve.csv")
    parts = ["total", "feature", "edge", "resize"]
    assert cols == ["epoch", "lr", "seconds", *parts]
    check_rows(rows, logged_epochs(caplog), LMAR_LRS, parts)
    assert {k: float(rows[-1][k]) for k in parts} == meta["final_losses"]


def test_pretrain_failing_midway_writes_nothing(mini_data, tmp_path, monkeypatch):
    steps = -(-N_TRAIN // BACKBONE_2["train"]["batch_size"])
    calls = []
    real = lmar.run.train.F.l1_loss

    def l1_loss(*a, **k):
        calls.append(1)
        if len(calls) > steps:  # the first batch of epoch 1
            raise RuntimeError("boom in epoch 1")
        return real(*a, **k)

    monkeypatch.setattr(lmar.run.train.F, "l1_loss", l1_loss)
    with pytest.raises(RuntimeError, match="boom in epoch 1"):
        pretrain_backbone(mini_data, BACKBONE_2, tmp_path / "backbone.pt", CPU, seed=0, name="unet")
    assert entries(tmp_path) == []


def test_resampler_failing_midway_writes_nothing(mini_data, backbone_ckpt, tmp_path, monkeypatch):
    cls = RESAMPLERS.get("lmar")
    real = cls.make_loss

    def make_loss(self, backbone, cfg, device):
        loss_fn, info = real(self, backbone, cfg, device)

        def failing(x, gt, size, epoch):
            if epoch == 1:
                raise RuntimeError("boom in epoch 1")
            return loss_fn(x, gt, size, epoch)

        return failing, info

    monkeypatch.setattr(cls, "make_loss", make_loss)
    with pytest.raises(RuntimeError, match="boom in epoch 1"):
        train_resampler(mini_data, backbone_ckpt, LMAR_2, tmp_path / "resampler_lmar.pt", CPU, seed=0, name="lmar")
    assert entries(tmp_path) == []


def test_parts_missing_in_an_epoch_are_empty_cells(tmp_path):
    path = write_curve([{"epoch": 0, "lr": 1e-3, "seconds": 1.5, "total": 2.0, "resize": 0.5},
                        {"epoch": 1, "lr": 5e-4, "seconds": 1.25, "total": 1.0, "edge": 0.25}], tmp_path / "c.csv")
    assert path.read_text().splitlines() == [
        "epoch,lr,seconds,total,resize,edge",
        "0,0.001,1.5,2.0,0.5,",
        "1,0.0005,1.25,1.0,,0.25",
    ]


def test_header_only_for_converted_parts(tmp_path):
    from lmar.cli.train_verbs import _no_curve

    _no_curve(tmp_path / "m" / "backbone.pt")  # what --released does after converting the weights
    assert entries(tmp_path) == ["m", "m/backbone.curve.csv"]
    assert (tmp_path / "m" / "backbone.curve.csv").read_text() == "epoch,lr,seconds\n"


def test_tensorboard_off_by_default(tmp_path, monkeypatch):
    monkeypatch.delenv(TENSORBOARD_ENV, raising=False)
    with CurveRecorder("unet/seed0") as rec:
        assert rec._tb is None
        rec.add(0, 1e-3, 0.5, {"l1": 0.25})
    assert entries(tmp_path) == []


def test_tensorboard_when_asked(tmp_path, monkeypatch):
    pytest.importorskip("torch.utils.tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.setenv(TENSORBOARD_ENV, str(tmp_path / "tb"))
    with CurveRecorder("unet/seed0") as rec:
        for e, (lr, l1) in enumerate([(1e-3, 0.5), (5e-4, 0.25)]):
            rec.add(e, lr, 0.1, {"l1": l1})
    acc = EventAccumulator(str(tmp_path / "tb" / "unet" / "seed0"))
    acc.Reload()
    assert set(acc.Tags()["scalars"]) == {"lr", "seconds", "loss/l1"}
    assert [(s.step, s.value) for s in acc.Scalars("loss/l1")] == [(0, 0.5), (1, 0.25)]
    assert [s.value for s in acc.Scalars("lr")] == pytest.approx([1e-3, 5e-4])


def test_the_curves_plot_has_one_panel_per_training_job(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    from lmar.report import plot_curves

    root = tmp_path / "models"
    a = root / "mini" / "unet" / "seed0" / "backbone.curve.csv"
    b = root / "mini" / "unet" / "seed0" / "resampler_lmar.curve.csv"
    c = root / "mini" / "unet" / "seed0" / "resampler_authors.curve.csv"
    for path, text in ((a, "epoch,lr,seconds,l1\n0,0.001,1.0,0.4\n1,0.001,1.0,0.2\n"),
                       (b, "epoch,lr,seconds,total,feature\n0,0.0004,2.0,0.07,0.06\n"),
                       (c, "epoch,lr,seconds\n")):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    monkeypatch.setattr(plt, "close", lambda *_: None)  # keep the figure to look at it
    plot_curves.training_curves([a, b, c], root, tmp_path / "curves.png")
    fig = plt.gcf()
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["mini/unet/seed0/backbone", "mini/unet/seed0/resampler_lmar", "mini/unet/seed0/resampler_authors"]
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plt.close("all")
