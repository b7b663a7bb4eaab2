#!/usr/bin/env bash
# lmar_psnr.csv of this record from a run's results store: per test image, backbone, seed and target, the
# PSNR and SSIM of LMAR and of lanczos3 (the rows the README's per-seed figures are computed from).
#   bash docs/measured/cpu-2026-12-07-ablations-3seeds/lmar_psnr.sh results/ablations/results.parquet > lmar_psnr.csv
set -euo pipefail
python - "$1" <<'PY'
import sys

import pandas as pd

rows = pd.read_parquet(sys.argv[1], columns=["backbone", "seed", "resampler", "target", "image", "psnr", "ssim"])
rows = rows[rows["resampler"].isin(["lmar", "lanczos3"])].sort_values(["backbone", "seed", "resampler", "target", "image"])
rows.to_csv(sys.stdout, index=False, float_format="%.6f")
PY
