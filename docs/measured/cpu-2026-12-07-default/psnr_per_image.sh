#!/usr/bin/env bash
# psnr_per_image.csv of this record from a run's results store: per backbone, resampler, target and test image
# (seed 0), the PSNR and SSIM of every row of the tables, full resolution included: the rows the README's
# per-image figures (the resampling loss, full resolution minus lanczos3) are computed from.
#   bash docs/measured/cpu-2026-12-07-default/psnr_per_image.sh results/mini-default/results.parquet > psnr_per_image.csv
set -euo pipefail
python - "$1" <<'PY'
import sys

import pandas as pd

rows = pd.read_parquet(sys.argv[1], columns=["backbone", "seed", "resampler", "target", "image", "psnr", "ssim"])
rows.sort_values(["backbone", "seed", "resampler", "target", "image"]).to_csv(sys.stdout, index=False,
                                                                              float_format="%.6f")
PY
