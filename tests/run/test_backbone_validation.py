"""A backbone's validation split (``train.val_pairs``): the held-out training pairs are never fitted,
are the same for every seed, and their mean full-resolution PSNR after each epoch is the curve's
``val_psnr``, the convergence verdict's input (lmar.report.verdicts)."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch

from helpers import CPU, N_TRAIN, load_png

import lmar.run.train
from lmar.core.errors import LmarError
from lmar.data.pairs import list_pairs
from lmar.run.checkpoint import load_backbone
from lmar.run.train import pretrain_backbone, validation_split

SPEC = {"type": "unet_lite", "params": {"width": 8},
        "train": {"epochs": 3, "batch_size": 2, "size": [24, 36], "val_pairs": 2}}


def read_curve(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_the_split_is_disjoint_complete_and_the_same_for_every_seed(mini_data):
    pairs = list_pairs(mini_data, "train")
    fitted, held = validation_split(pairs, 2, "x")
    assert len(held) == 2 and len(fitted) == N_TRAIN - 2
    assert sorted(p.name for p in fitted + held) == sorted(p.name for p in pairs)
    torch.manual_seed(123)  # the global generator does not choose them either
    assert [p.name for p in validation_split(pairs, 2, "x")[1]] == [p.name for p in held]
    assert validation_split(pairs, 0, "x") == (pairs, [])  # none held out: every pair fitted, in order


def test_holding_out_every_pair_is_one_clear_error(mini_data):
    with pytest.raises(LmarError, match=r"x\.train\.val_pairs is 5, but the training split has 5 pairs"):
        validation_split(list_pairs(mini_data, "train"), N_TRAIN, "x")


def test_held_out_pairs_are_read_only_without_gradients(mini_data, tmp_path, monkeypatch):
    """Every image the fitting steps read is read with gradients on (the training step); the held-out
    pairs' images are read only under no_grad (validation): they never reach the loss."""
    reads = []
    real = lmar.run.train.read_image

    def recording(path):
        reads.append((str(path), torch.is_grad_enabled()))
        return real(path)

    monkeypatch.setattr(lmar.run.train, "read_image", recording)
    pretrain_backbone(mini_data, SPEC, tmp_path / "b.pt", CPU, seed=0, name="unet")
    held = {p.name for p in validation_split(list_pairs(mini_data, "train"), 2, "x")[1]}
    held_reads = [(p, g) for p, g in reads if any(f"/{n}." in p for n in held)]
    fitted_reads = [(p, g) for p, g in reads if not any(f"/{n}." in p for n in held)]
    assert held_reads and not any(g for _, g in held_reads), held_reads
    assert fitted_reads and all(g for _, g in fitted_reads)


def test_the_last_val_psnr_is_the_saved_backbones_psnr_on_the_held_out_pairs(mini_data, tmp_path):
    """By hand, from the files: the final checkpoint on each held-out input at full resolution, clipped,
    10 log10(1 / MSE) against its ground truth, averaged over the pairs."""
    out = tmp_path / "b.pt"
    meta = pretrain_backbone(mini_data, SPEC, out, CPU, seed=0, name="unet")
    rows = read_curve(tmp_path / "b.curve.csv")
    assert len(rows) == 3 and all(r["val_psnr"] for r in rows)
    net, _ = load_backbone(out, CPU)
    scores = []
    for name in meta["validation"]:
        x = torch.from_numpy(load_png(mini_data / "train" / "input" / f"{name}.png")).permute(2, 0, 1)[None].float()
        gt = load_png(mini_data / "train" / "gt" / f"{name}.png")
        with torch.no_grad():
            y = net(x).clamp(0, 1)[0].permute(1, 2, 0).numpy()
        scores.append(10 * math.log10(1 / float(np.mean((y.astype(np.float64) - gt) ** 2))))
    assert float(rows[-1]["val_psnr"]) == pytest.approx(np.mean(scores), abs=1e-4)
    assert meta["final_val_psnr"] == pytest.approx(float(rows[-1]["val_psnr"]), abs=1e-9)
    assert meta["n_train"] == N_TRAIN - 2 and len(meta["validation"]) == 2


def test_without_val_pairs_the_curve_has_no_val_psnr(mini_data, tmp_path):
    spec = {**SPEC, "train": {**SPEC["train"], "val_pairs": 0, "epochs": 1}}
    pretrain_backbone(mini_data, spec, tmp_path / "b.pt", CPU, seed=0, name="unet")
    assert "val_psnr" not in read_curve(tmp_path / "b.curve.csv")[0]
