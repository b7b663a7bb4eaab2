#!/usr/bin/env bash
# The default experiment's whole DAG on a GPU machine, exactly as a user runs it, with device: cuda;
# a device call of its own (bash workflow/scripts/gpu_dag.sh OUT), carrying .whl (made here by
# bash workflow/scripts/gpu_prepare.sh: Snakemake, pyiqa and the rest the machine lacks, CPython 3.12).
# Each step under its own time limit; what it wrote comes back in OUT as it ends: gpu_dag.log (the
# console), wall.txt (exit status and wall time), table.md, job_costs.md (each job's time and memory),
# results.parquet (the results store, 80 KB: `lmar compare-results` against a CPU run's says how they differ).
# DAG_DEVICE and DAG_CORES (cuda and 16, the GPU machine's) change the run for a rehearsal on a CPU
# machine (workflow/scripts/gpu_rehearse.sh); DAG_LIMIT its time limit in seconds (480, or what is left of
# the call, GPU_CALL_SECONDS: gpu_env.sh's `step`). gpu_check.sh runs it after bench-eval where enough of its call is left.
set -uo pipefail
OUT=${1:-${OUT:-results/benchmarks/gpu_dag}}
mkdir -p "$OUT"
LOG="$OUT/gpu_dag.log"
: > "$LOG"
. "$(dirname "$0")/gpu_env.sh"
gpu_setup || exit 1  # step 0, the carried wheels (Snakemake is among them) and `python` (gpu_env.sh)
nproc | tee -a "$LOG"

start=$(date +%s)
DEVICE=${DAG_DEVICE:-cuda}
CORES=${DAG_CORES:-16}
step "${DAG_LIMIT:-480}" 60 python -m snakemake --cores "$CORES" --scheduler greedy all --config device="$DEVICE" >>"$LOG" 2>&1
rc=$?
echo "snakemake exit $rc, wall $(( $(date +%s) - start )) s, device $DEVICE, --cores $CORES, $(nproc) CPUs" | tee "$OUT/wall.txt" | tee -a "$LOG"
cp results/mini-default/{table.md,job_costs.md,results.parquet} "$OUT"/ 2>>"$LOG"
ls -l "$OUT"
