#!/usr/bin/env bash
# The zoo's backbones at full resolution on the default's 6 test pairs, scored by the workflow's own
# evaluation step (`lmar evaluate` with the full_resolution resampler, as `make run` calls it).
# Run from the repository root after `make run` (which builds the dataset folder), in its venv;
# writes one results CSV and log per entry under ${OUT:-/tmp/zoo-full-resolution}/ and prints its means.
# Entries: the arguments (e.g. mini-unet-seed2), else seeds 0 and 1 of both backbones.
set -euo pipefail
DATA=resources/data/mini/80eba069972b
OUT=${OUT:-/tmp/zoo-full-resolution}
mkdir -p "$OUT"
DATASET='{"params": {"seed": 0, "size": [360, 540], "test": ["astronaut", "chelsea", "coffee", "grace_hopper", "hubble_deep_field", "rocket"], "views": 16}, "type": "mini"}'
EVALUATION='{"metrics": ["psnr", "ssim"], "precision": "fp32", "required_metrics": ["psnr", "ssim"], "save_outputs": 0, "scales": [2], "sizes": [], "upsampler": "lanczos3", "workers": "auto"}'
ENTRIES=("$@")
[ ${#ENTRIES[@]} -gt 0 ] || ENTRIES=(mini-unet-seed0 mini-unet-seed1 mini-nafnet-seed0 mini-nafnet-seed1)
for entry in "${ENTRIES[@]}"; do
  backbone=${entry#mini-}; backbone=${backbone%-seed*}
  TORCH_HOME=resources/torch python -m lmar evaluate --data "$DATA" --backbone "lmar/zoo/$entry.pt" \
    --resampler-spec '{"params": {}, "type": "full_resolution"}' --evaluation "$EVALUATION" \
    --labels "{\"dataset\": \"mini\", \"dataset_type\": \"mini\", \"backbone\": \"$backbone\", \"resampler\": \"full_resolution\"}" \
    --dataset-spec "$DATASET" --out "$OUT/$entry.csv" --images "$OUT/$entry" --device cpu --seed 0 --threads 2 \
    > "$OUT/$entry.log" 2>&1 || { tail -5 "$OUT/$entry.log"; exit 1; }
  python -c "import pandas as pd, sys; d = pd.read_csv(sys.argv[1]); print(sys.argv[2], 'PSNR %.2f / SSIM %.4f' % (d.psnr.mean(), d.ssim.mean()), ' '.join('%s:%.2f' % (i, p) for i, p in zip(d.image, d.psnr)))" "$OUT/$entry.csv" "$entry"
done
