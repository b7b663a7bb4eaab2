#!/usr/bin/env bash
# GPU checks of the fast LMAR path, in one call on a CUDA machine (bash workflow/scripts/gpu_check.sh [OUT]).
# Needs only PyTorch and Triton there (no pyiqa, no Snakemake): the library runs from this tree.
#   1. the GPU tests (fused kernel vs the PyTorch reference; autocast and TF32 dispatch; every output written);
#   2. lmar tune-kernel: every launch candidate timed and checked against float64 -> kernel.json;
#   3. lmar bench with the fastest correct launches (LMAR_FUSED_LAUNCH) -> suite.json, then the
#      torch.compile training step on its own (compiling can be slow) -> train_compile.json.
# Each step has its own time limit (about 10 minutes in all), so one slow step leaves the others' results;
# lmar bench rewrites its JSON after every case.
set -uo pipefail
OUT=${1:-${OUT:-results/benchmarks/gpu}}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}

{
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv
    $PY -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
} 2>&1 | tee "$OUT/env.txt"

timeout 90 $PY -m pytest -q -p no:cacheprovider tests/test_lmar_triton.py -k gpu 2>&1 | tee "$OUT/gpu_tests.log"

timeout 240 $PY -m lmar tune-kernel --out "$OUT/kernel.json" 2>&1 | tee "$OUT/tune.log"
if [ -s "$OUT/kernel.json" ]; then
    LMAR_FUSED_LAUNCH=$($PY -c "import json, sys; print(json.dumps(json.load(open(sys.argv[1]))['best']))" "$OUT/kernel.json")
    export LMAR_FUSED_LAUNCH
    echo "LMAR_FUSED_LAUNCH=$LMAR_FUSED_LAUNCH" | tee -a "$OUT/env.txt"
fi

timeout 200 $PY -m lmar bench --device cuda --out "$OUT/suite.json" \
    --train-options fp32 bf16 "bf16 channels-last" 2>&1 | tee "$OUT/suite.log"
timeout 90 $PY -m lmar bench --device cuda --out "$OUT/train_compile.json" --sections train \
    --train-options "bf16 channels-last compile" 2>&1 | tee -a "$OUT/suite.log"
ls -l "$OUT"
