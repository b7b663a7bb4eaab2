#!/usr/bin/env bash
# GPU checks and measurements, in one call on a CUDA machine (bash workflow/scripts/gpu_check.sh [OUT]).
# Needs PyTorch and Triton there (no Snakemake): the library runs from this tree. Before the call, here:
# bash workflow/scripts/gpu_prepare.sh [BASELINE], and carry .whl (pyiqa), .prev (BASELINE's library) and
# .authors (the authors' files the GPU tests compare with).
# Most important first (issue 24's order), each step under its own time limit and all of them within
# the call's (GPU_CALL_SECONDS, default 570 s; gpu_env.sh's `step`): a step that would start with less
# than its minimum left is skipped and named in the log, so what is dropped first is the end of this list:
#   0. the first import of torch and triton, under a time limit of its own (one such import once hung
#      for 470 s on a fresh machine): if it fails, nothing else can run, and the log says so;
#   1. the device's ceilings, measured in this call: a bf16 8192^3 matrix product's rate on random data
#      and a device-to-device copy's bandwidth -> ceilings.json (gpu_ceilings.py, seconds);
#   2. the GPU tests of four modules (-k "gpu or cuda"; skip reasons listed, none expected): the fused
#      kernel vs the PyTorch reference, autocast and TF32 dispatch, no host-device synchronisation in
#      the forward pass; the authors' resize on CUDA vs CPU; the released LMAR at bf16/fp16 vs the
#      authors' fp32 outputs (their files carried in .authors, LMAR_TEST_AUTHORS); the first call's
#      peak memory apart;
#   3. the whole LMAR resampler at 3840x2160 -> 1200x2133 in bf16, R = bicubic and R = lanczos3, with
#      bicubic as the yardstick: BASELINE's library (.prev) and this tree's, one after the other in
#      this call, and this tree's with R = bicubic under the persistent launches of the fused kernel
#      (weights loaded once per program) -> resampler_4k.jsonl;
#   4. where the resampler's time goes: lmar bench's per-operation profile at x1.8 -> resample.json,
#      and Nsight Compute on the fused kernel (built-in and persistent launches; SpeedOfLight,
#      occupancy, warp states, compute and memory workload) -> kernel_ncu.txt, if ncu is there;
#   5. lmar bench-eval: 8 synthetic 4K pairs (issue 24's count) through the whole evaluation of the
#      paper grid (fp32, as the paper config), the time breakdown, and the extrapolated UHD-LOL4K and
#      UHD-LL protocols -> scale.json, scale.md;
#   6. the default DAG (gpu_dag.sh, into OUT/dag) with what is left of the call, where that is at least
#      DAG_LEAST seconds (default 240); otherwise the log says so and the DAG waits for a call of its own;
#   7. one 4K output through the evaluation's DEU path for each paper backbone (x1.8-aspect and
#      full resolution) under the evaluation's cuDNN settings and with benchmark mode on -> deu_cudnn_4k.jsonl.
# The launch sweep is a call of its own (25 bf16 candidates, each in its own process, about 10 s each;
# the JSON is rewritten after each, so a time limit keeps what ran):
#   PYTHONPATH=$PWD timeout 280 python3 -m lmar tune-kernel --computes bf16 --out $OUT/kernel.json
# Every step's output goes to one log, gpu_check.log (the DAG's to dag/), so that the files stay few.
# Pass the device call's timeout_s less about 30 s as GPU_CALL_SECONDS where it is not 600.
set -uo pipefail
OUT=${1:-${OUT:-results/benchmarks/gpu}}
mkdir -p "$OUT"
LOG="$OUT/gpu_check.log"
. "$(dirname "$0")/gpu_env.sh"
if [ -d .authors ]; then export LMAR_TEST_AUTHORS="$HERE/.authors"; fi

{
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv
    nproc
} 2>&1 | tee "$LOG"
gpu_setup triton  # step 0 (exits if the import fails); the carried wheels are for bench-eval and the DAG

step 60 20 $PY workflow/scripts/gpu_ceilings.py 2>>"$LOG" | tee -a "$OUT/ceilings.json"

step 120 60 $PY -m pytest -q -rs -p no:cacheprovider -k "gpu or cuda" tests/parts/test_lmar_triton.py \
    tests/parts/test_authors_resize.py tests/parts/test_released_precision.py tests/bench/test_benchmarks.py 2>&1 | tee -a "$LOG"

if [ -d .prev/lmar ]; then
    echo "baseline: $(cat .prev/COMMIT 2>/dev/null)" | tee -a "$LOG"
    PYTHONPATH="$HERE/.prev" step 50 30 $PY workflow/scripts/resampler_4k.py 2>>"$LOG" | tee -a "$OUT/resampler_4k.jsonl"
fi
step 80 30 $PY workflow/scripts/resampler_4k.py 2>>"$LOG" | tee -a "$OUT/resampler_4k.jsonl"

step 40 20 $PY -m lmar bench --device cuda --out "$OUT/resample.json" --sections profile 2>&1 | tee -a "$LOG"
ncu_reports "$OUT" "" "[64, 4, 2, false, 1]" "[128, 8, 2, false, 1]"  # the built-in launch, then persistent ones

# scale.json is rewritten after every job: a run cut short keeps the jobs it measured
step 250 60 $PY -m lmar bench-eval --device cuda --out "$OUT" --pairs 8 2>&1 | grep -v " INFO " | tee -a "$LOG"
rm -rf "$OUT"/tmp*  # a run cut short leaves its synthetic set and checkpoints: not files to bring back

# the default DAG with the rest of the call, as its own call's time (its steps within it), all of it under one step
left=$(( CALL_SECONDS - SECONDS ))
step "$left" "${DAG_LEAST:-240}" env GPU_CALL_SECONDS="$left" bash "$(dirname "$0")/gpu_dag.sh" "$OUT/dag"

step 45 20 $PY workflow/scripts/deu_cudnn_4k.py 2>>"$LOG" | tee -a "$OUT/deu_cudnn_4k.jsonl"
ls -l "$OUT"
