"""The README's figures for LMAR's ablations (in "What its table shows") are those of the record it names
under docs/measured/: recomputed here from that record's training curves and per-image scores (pandas and
scipy's Student's t, not the harness)."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from scipy import stats

WHAT = "LMAR's ablations"  # the record, in words (tests/project/conftest.py)
SENTENCE = (r"\*\*LMAR's parts\*\* \(`workflow/configs/ablations\.yaml`, on the wide degradation, the U-Net at seed 0; "
            r"`(docs/measured/[^`/]+)/`\)")
ABLATIONS = ["no-kernel", "no-embedding", "no-feature-loss", "no-edge-loss", "no-resize-loss", "feature-only",
             "kernel-5x5", "mlp-64", "fixed-scale", "r-bicubic"]


@pytest.fixture(scope="module")
def at_x18(record) -> pd.DataFrame:
    scores = pd.read_csv(record / "lmar_psnr.csv")
    chosen = scores[(scores["backbone"] == "unet") & (scores["seed"] == 0) & (scores["target"] == "x1.8")]
    return chosen.pivot(index="image", columns="resampler", values="psnr")


def test_every_ablation_reads_at_or_above_lmar(text, at_x18):
    assert "every ablation reads at or above LMAR on the test photographs" in text
    assert set(ABLATIONS) <= set(at_x18.columns)
    for name in ABLATIONS:
        assert (at_x18[name] - at_x18["lmar"]).mean() >= 0, name


@pytest.mark.parametrize(("words", "variant"), [("removing the feature loss", "no-feature-loss"),
                                                ("the kernel compensation", "no-kernel")])
def test_the_two_named_gains_and_that_their_intervals_exclude_zero(text, at_x18, words, variant):
    (quoted,) = re.search(re.escape(words) + r" \+(\d\.\d{3}) dB", text).groups()
    diff = at_x18[variant] - at_x18["lmar"]
    assert f"{diff.mean():.3f}" == quoted
    # Student's t over the 6 images, which the harness's interval is at least as wide as: excludes 0
    half = stats.t.ppf(0.975, len(diff) - 1) * diff.std(ddof=1) / len(diff) ** 0.5
    assert diff.mean() - half > 0
    assert "both beyond their intervals" in text


def test_without_the_resize_loss_the_first_epoch_loses_what_the_readme_says(text, record):
    (low, high) = re.search(r"without the resize loss the first epoch loses (\d\.\d\d) to (\d\.\d\d) dB on the "
                            r"held-out pairs", text).groups()
    lost = []
    for variant in ("no-resize-loss", "feature-only"):
        c = pd.read_csv(record / "curves" / f"unet-seed0-{variant}.curve.csv")
        lost.append(c.loc[c["epoch"] == -1, "val_psnr"].item() - c.loc[c["epoch"] == 0, "val_psnr"].item())
    assert (f"{min(lost):.2f}", f"{max(lost):.2f}") == (low, high)
    lmar = pd.read_csv(record / "curves" / "unet-seed0-lmar.curve.csv")
    assert abs(lmar.loc[lmar["epoch"] == 0, "val_psnr"].item() - lmar.loc[lmar["epoch"] == -1, "val_psnr"].item()) < 0.02
