#!/usr/bin/env bash
# lmar_psnr.csv of this record from a run's results store: per test image, backbone, seed and target, the
# PSNR and SSIM of LMAR and of lanczos3, and of every ablation of LMAR where it ran (the U-Net at seed 0):
# the rows the README's per-seed and per-ablation figures are computed from.
#   bash docs/measured/cpu-2026-12-07-ablations-authors-losses/lmar_psnr.sh results/ablations/results.parquet > lmar_psnr.csv
set -euo pipefail
python - "$1" <<'PY'
import sys

import pandas as pd

ABLATIONS = ["no-kernel", "no-embedding", "no-feature-loss", "no-edge-loss", "no-resize-loss", "feature-only",
             "kernel-5x5", "mlp-64", "fixed-scale", "r-bicubic"]
rows = pd.read_parquet(sys.argv[1], columns=["backbone", "seed", "resampler", "target", "image", "psnr", "ssim"])
rows = rows[rows["resampler"].isin(["lmar", "lanczos3", *ABLATIONS])].sort_values(
    ["backbone", "seed", "resampler", "target", "image"])
rows.to_csv(sys.stdout, index=False, float_format="%.6f")
PY
