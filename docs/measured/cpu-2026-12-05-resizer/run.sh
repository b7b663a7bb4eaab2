#!/usr/bin/env bash
# The learned resizer on the U-Net: one variant per call, trained and evaluated with the CLI as the
# workflow runs it (train_resampler and evaluate rules), on CPU, one thread, one process at a time.
#   run.sh data                         build the data views under $W (train pairs as a test split)
#   run.sh fixed NAME TYPE              evaluate a fixed resampler (lanczos3, bilinear) on test and train
#   run.sh learned NAME 'TRAIN_JSON' ['PARAMS_JSON']
#                                       train the learned resizer (params default {"n": 16, "r": 1}) with
#                                       the default train block updated by TRAIN_JSON, then evaluate it
#                                       on test and train; TRAIN_DATA=folder trains on another train/ split
set -euo pipefail
REPO=${REPO:-/work/main}
W=${W:-/tmp/resizer}
DATA=$REPO/resources/data/mini/30da959bc20b
BB=$REPO/results/mini-default/models/mini/unet/seed0/backbone.pt
export PATH=$REPO/.venv/bin:$PATH TORCH_HOME=$REPO/resources/torch
EVAL='{"metrics": ["psnr", "ssim"], "save_outputs": 0, "scales": [1.5, 1.8, 2, 3, 4], "upsampler": "lanczos3"}'
DSPEC='{"type": "mini", "params": {"size": [360, 540], "test": ["astronaut", "chelsea", "coffee", "grace_hopper", "hubble_deep_field", "rocket"], "seed": 0, "views": 2}}'
DEFAULT='{"epochs": 6, "lr": 0.0004, "step_size": 2, "gamma": 0.75, "crop": 192, "target_min": 48, "target_max": 192, "target_step": 8, "repeats": 4, "upsampler": "lanczos3"}'

evaluate() {  # NAME SPEC CKPT_ARGS...
  local name=$1 spec=$2; shift 2
  python -m lmar evaluate --data "$DATA" --backbone "$BB" --resampler-spec "$spec" "$@" --evaluation "$EVAL" \
    --labels "{\"dataset\": \"mini\", \"backbone\": \"unet\", \"resampler\": \"$name\", \"config_hash\": \"x\"}" \
    --dataset-spec "$DSPEC" --out "$W/test/$name.csv" --images "$W/img/test/$name" --device cpu --seed 0 --threads 1
  # the 10 training pairs as the test split (no --dataset-spec: it would refuse these names)
  python -m lmar evaluate --data "$W/data_train" --backbone "$BB" --resampler-spec "$spec" "$@" --evaluation "$EVAL" \
    --labels "{\"dataset\": \"mini_train\", \"backbone\": \"unet\", \"resampler\": \"$name\", \"config_hash\": \"x\"}" \
    --out "$W/train/$name.csv" --images "$W/img/train/$name" --device cpu --seed 0 --threads 1
}

case $1 in
  data)
    mkdir -p "$W/data_train"
    ln -sfn "$DATA/train" "$W/data_train/train"
    ln -sfn "$DATA/train" "$W/data_train/test" ;;
  fixed)
    evaluate "$2" "{\"type\": \"$3\"}" ;;
  learned)
    name=$2
    train=$(python -c "import json,sys; d=json.loads(sys.argv[1]); d.update(json.loads(sys.argv[2])); print(json.dumps(d))" "$DEFAULT" "$3")
    spec=$(python -c "import json,sys; print(json.dumps({'type': 'learned_resizer', 'params': json.loads(sys.argv[2]), 'train': json.loads(sys.argv[1])}))" "$train" "${4:-{\"n\": 16, \"r\": 1\}}")
    mkdir -p "$W/models"
    python -m lmar train-resampler --data "${TRAIN_DATA:-$DATA}" --backbone "$BB" --spec "$spec" --name "$name" \
      --out "$W/models/$name.pt" --device cpu --seed 0 --threads 1 --save-every-steps 0 --save-every-minutes 0 \
      > "$W/models/$name.log" 2>&1
    evaluate "$name" "$spec" --resampler-ckpt "$W/models/$name.pt" ;;
esac
