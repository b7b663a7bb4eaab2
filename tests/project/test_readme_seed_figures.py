"""The README's figures for LMAR at three seeds (in "What its table shows") are those of the record it
names under docs/measured/: recomputed here from that record's training curves and per-image scores
(pandas, not the harness), and its table's pooled intervals."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

WHAT = "LMAR at three seeds"  # the record, in words (tests/project/conftest.py)
SENTENCE = r"At seeds 1 and 2 \(`(docs/measured/[^`/]+)/`\)"


def held_out(record: Path, backbone: str, seed: int) -> tuple[int, float]:
    """(the epoch early stopping kept, -1 for the start; its held-out PSNR minus the start's)."""
    c = pd.read_csv(record / "curves" / f"{backbone}-seed{seed}-lmar.curve.csv")
    start = c.loc[c["epoch"] == -1, "val_psnr"].item()
    kept = c.loc[c["kept"] == 1]
    return int(kept["epoch"].item()), float(kept["val_psnr"].item() - start)


def test_what_early_stopping_kept_at_seeds_1_and_2(text, record):
    assert "it kept its start on the U-Net at both seeds and on NAFNet at seed 1" in text
    assert held_out(record, "unet", 1) == (-1, 0.0) and held_out(record, "unet", 2) == (-1, 0.0)
    assert held_out(record, "nafnet", 1) == (-1, 0.0)
    epoch, gain = held_out(record, "nafnet", 2)
    (quoted,) = re.search(r"on NAFNet at seed 2 it kept its third epoch \(\+(\d\.\d{3}) dB on the held-out pairs\)",
                          text).groups()
    assert epoch == 2 and f"{gain:.3f}" == quoted


def test_the_test_gains_per_seed_and_over_the_three(text, record):
    scores = pd.read_csv(record / "lmar_psnr.csv")
    x18 = scores[scores["target"] == "x1.8"].pivot_table(index=["backbone", "seed", "image"], columns="resampler",
                                                         values="psnr")
    diff = (x18["lmar"] - x18["lanczos3"]).groupby(["backbone", "seed"]).mean()
    (lift,) = re.search(r"which lifted the test photographs by (\d\.\d\d) dB at x1\.8, all 6 of them at x1\.5 to x2",
                        text).groups()
    assert f"{diff['nafnet', 2]:.2f}" == lift
    per_image = scores.pivot_table(index=["backbone", "seed", "target", "image"], columns="resampler", values="psnr")
    wins = (per_image["lmar"] > per_image["lanczos3"]).xs(("nafnet", 2), level=("backbone", "seed"))
    assert all(wins.xs(t, level="target").sum() == 6 for t in ("x1.5", "x1.8", "x2"))
    pooled = re.search(r"Over the three seeds LMAR - lanczos3 at x1\.8 is ([-+]\d\.\d\d) dB \[([-+]\d\.\d\d), ([-+]\d\.\d\d)\] "
                       r"\(U-Net\) and ([-+]\d\.\d\d) dB \[([-+]\d\.\d\d), ([-+]\d\.\d\d)\] \(NAFNet\)", text)
    assert pooled
    table = (record / "table.md").read_text()
    for backbone, (mean, low, high) in (("unet", pooled.groups()[:3]), ("nafnet", pooled.groups()[3:])):
        units = (x18["lmar"] - x18["lanczos3"]).xs(backbone)
        assert len(units) == 18 and f"{units.mean():+.2f}" == mean  # 6 images x 3 seeds, by hand
        section = table.split(f"### mini / {backbone}: PSNR (dB) ↑ (over 6 test images x 3 seeds (0, 1, 2))")[1]
        row = next(line for line in section.splitlines() if line.startswith("| lmar - lanczos3"))
        assert row.split("|")[3].strip().startswith(f"{mean} [{low}, {high}]"), row  # the x1.8 column
