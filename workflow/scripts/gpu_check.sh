#!/usr/bin/env bash
# GPU checks of the fast LMAR path, in one call on a CUDA machine (bash workflow/scripts/gpu_check.sh [OUT]).
# Needs only PyTorch and Triton there (no pyiqa, no Snakemake): the library runs from this tree.
# Most important first, each step under its own time limit (about 8 minutes in all), so that a slow
# or failing step leaves the others' results; lmar bench rewrites its JSON after every case:
#   1. the GPU tests (fused kernel vs the PyTorch reference; autocast and TF32 dispatch; every output
#      written; no host-device synchronisation in the forward pass);
#   2. lmar bench, LMAR vs bicubic resampling per precision and LMAR's per-operation profile -> resample.json;
#   3. lmar tune-kernel, bf16 launch candidates each in its own process, checked against float64 -> kernel.json;
#   4. lmar bench, DEU and training steps (torch.compile last: compiling can be slow) with the fastest
#      correct bf16 launch (LMAR_FUSED_LAUNCH) -> suite.json, train_compile.json.
# Every step's output goes to one log, gpu_check.log, so that the files stay few (a device call
# brings back at most 8).
set -uo pipefail
OUT=${1:-${OUT:-results/benchmarks/gpu}}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
LOG="$OUT/gpu_check.log"

{
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv
    $PY -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
} 2>&1 | tee "$LOG"

timeout 75 $PY -m pytest -q -p no:cacheprovider tests/test_lmar_triton.py -k gpu 2>&1 | tee -a "$LOG"

timeout 90 $PY -m lmar bench --device cuda --out "$OUT/resample.json" --sections resample profile 2>&1 \
    | tee -a "$LOG"

timeout 150 $PY -m lmar tune-kernel --computes bf16 --out "$OUT/kernel.json" 2>&1 | tee -a "$LOG"
if [ -s "$OUT/kernel.json" ]; then
    LMAR_FUSED_LAUNCH=$($PY -c "import json, sys; print(json.dumps(json.load(open(sys.argv[1]))['best']))" "$OUT/kernel.json")
    export LMAR_FUSED_LAUNCH
    echo "LMAR_FUSED_LAUNCH=$LMAR_FUSED_LAUNCH" | tee -a "$LOG"
    timeout 45 $PY -m lmar bench --device cuda --out "$OUT/resample_tuned.json" --sections resample profile 2>&1 \
        | tee -a "$LOG"
fi

timeout 75 $PY -m lmar bench --device cuda --out "$OUT/suite.json" --sections deu train \
    --train-options fp32 "bf16 channels-last" 2>&1 | tee -a "$LOG"
timeout 60 $PY -m lmar bench --device cuda --out "$OUT/train_compile.json" --sections train \
    --train-options "bf16 channels-last compile" 2>&1 | tee -a "$LOG"
ls -l "$OUT"
