"""The README's figures for LMAR at three seeds (the ablation config's run, in "What its table shows")
are those of the record it names under docs/measured/: recomputed here from that record's training
curves and per-image scores (pandas, not the harness), and its table's pooled intervals."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from helpers import ROOT

SENTENCE = r"At seeds 1 and 2 \(the ablation config's run, `(docs/measured/[^`/]+)/`\)"


@pytest.fixture(scope="module")
def text() -> str:
    return " ".join((ROOT / "README.md").read_text().split())


@pytest.fixture(scope="module")
def record(text) -> Path:
    named = re.search(SENTENCE, text)
    assert named, "the README no longer names the record of LMAR at three seeds"
    return ROOT / named.group(1)


def held_out(record: Path, backbone: str, seed: int) -> tuple[int, float]:
    """(the epoch early stopping kept, -1 for the start; its held-out PSNR minus the start's)."""
    c = pd.read_csv(record / "curves" / f"{backbone}-seed{seed}-lmar.curve.csv")
    start = c.loc[c["epoch"] == -1, "val_psnr"].item()
    kept = c.loc[c["kept"] == 1]
    return int(kept["epoch"].item()), float(kept["val_psnr"].item() - start)


def test_lmar_kept_its_start_at_seed_0_and_a_better_epoch_at_seeds_1_and_2(text, record):
    (low, high) = re.search(r"held-out pairs, by (\d\.\d{3}) to (\d\.\d{3}) dB, on all four backbones", text).groups()
    gains = []
    for backbone in ("unet", "nafnet"):
        assert held_out(record, backbone, 0) == (-1, 0.0)
        for seed in (1, 2):
            epoch, gain = held_out(record, backbone, seed)
            assert epoch >= 0 and gain > 0, (backbone, seed)
            gains.append(gain)
    assert (f"{min(gains):.3f}", f"{max(gains):.3f}") == (low, high)


def test_the_test_gains_per_seed_and_over_the_three(text, record):
    scores = pd.read_csv(record / "lmar_psnr.csv")
    x18 = scores[scores["target"] == "x1.8"].pivot_table(index=["backbone", "seed", "image"], columns="resampler",
                                                         values="psnr")
    diff = (x18["lmar"] - x18["lanczos3"]).groupby(["backbone", "seed"]).mean()
    quoted = re.search(r"lifted LMAR over lanczos3 by (\d\.\d\d) dB at x1\.8 \(U-Net, seed 1\) and (\d\.\d\d) dB "
                       r"\(NAFNet, seed 2\), and by nothing on the other two \((-\d\.\d{3}) and (-\d\.\d{3}) dB\)", text)
    assert quoted, "the per-seed sentence changed its form: update this test with it"
    assert quoted.groups() == (f"{diff['unet', 1]:.2f}", f"{diff['nafnet', 2]:.2f}", f"{diff['unet', 2]:.3f}",
                               f"{diff['nafnet', 1]:.3f}")
    pooled = re.search(r"Over the three seeds LMAR - lanczos3 at x1\.8 is (\+\d\.\d\d) dB \[([-+]\d\.\d\d), ([-+]\d\.\d\d)\] "
                       r"\(U-Net\) and (\+\d\.\d\d) dB \[([-+]\d\.\d\d), ([-+]\d\.\d\d)\] \(NAFNet\)", text)
    assert pooled
    table = (record / "table.md").read_text()
    for backbone, (mean, low, high) in (("unet", pooled.groups()[:3]), ("nafnet", pooled.groups()[3:])):
        units = (x18["lmar"] - x18["lanczos3"]).xs(backbone)
        assert len(units) == 18 and f"{units.mean():+.2f}" == mean  # 6 images x 3 seeds, by hand
        section = table.split(f"### mini / {backbone}: PSNR (dB) ↑ (over 6 test images x 3 seeds (0, 1, 2))")[1]
        row = next(line for line in section.splitlines() if line.startswith("| lmar - lanczos3"))
        assert row.split("|")[3].strip().startswith(f"{mean} [{low}, {high}]"), row  # the x1.8 column
