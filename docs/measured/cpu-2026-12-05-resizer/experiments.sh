#!/usr/bin/env bash
# Every run behind README.md, in the order they were made (one process at a time, about 25 minutes on
# a 2-core CPU). Work folder: $W (default /tmp/resizer); then summarise.py writes results.csv/json here.
set -euo pipefail
D=$(cd "$(dirname "$0")" && pwd)
S=$D/run.sh PY=${PY:-/work/main/.venv/bin/python}
export W=${W:-/tmp/resizer}
mkdir -p "$W" && cd "$W"
$S data
$S fixed lanczos3 lanczos3
$S fixed bilinear bilinear            # the learned resizer's initialisation, exactly
$S learned default '{}'
$S learned lr0 '{"lr": 1e-10}'        # trained, but unable to move: draws the same crops as default
$S learned lr1e-4 '{"lr": 0.0001}'
$S learned lr4e-5 '{"lr": 0.00004}'
$S learned ep1 '{"epochs": 1}'
$S learned ep3 '{"epochs": 3}'
$S learned ep12 '{"epochs": 12}'
# crop size, with the target range scaled with it (the same downscaling factors, 1 to 4)
$S learned crop96 '{"crop": 96, "target_min": 24, "target_max": 96, "target_step": 4}'
$S learned crop360 '{"crop": 360, "target_min": 90, "target_max": 360, "target_step": 15}'
$PY "$D/tone.py" tone.json
# an oracle: fitted on the 6 test pairs themselves (their "train" evaluation is then the held-out one)
mkdir -p data_testfit && ln -sfn /work/main/resources/data/mini/30da959bc20b/test data_testfit/train
TRAIN_DATA=$W/data_testfit $S learned fit_on_test '{}'
TRAIN_DATA=$W/data_testfit $S learned fit_on_test_lr4e-5 '{"lr": 0.00004}'
for m in default lr4e-5 crop360 lr0; do $PY "$D/diagnose.py" "models/$m.pt" "diag_$m.json"; done
$S learned crop360_lr4e-5 '{"crop": 360, "target_min": 90, "target_max": 360, "target_step": 15, "lr": 0.00004}'
$S learned crop360_lr0 '{"crop": 360, "target_min": 90, "target_max": 360, "target_step": 15, "lr": 1e-10}'
$PY "$D/summarise.py" "$W" "$D"
