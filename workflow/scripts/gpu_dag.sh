#!/usr/bin/env bash
# The default experiment's whole DAG on a GPU machine, exactly as a user runs it, with device: cuda;
# a device call of its own (bash workflow/scripts/gpu_dag.sh OUT), carrying .whl (made here by
# bash workflow/scripts/gpu_prepare.sh: Snakemake, pyiqa and the rest the machine lacks, CPython 3.12).
# Each step under its own time limit; what it wrote comes back in OUT as it ends: gpu_dag.log (the
# console), wall.txt (exit status and wall time), table.md, job_costs.md (each job's time and memory).
set -uo pipefail
OUT=${1:-${OUT:-results/benchmarks/gpu_dag}}
mkdir -p "$OUT"
LOG="$OUT/gpu_dag.log"
HERE="$PWD"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1

# step 0: the first import of torch, under its own limit (one once hung for 470 s on a fresh machine)
if ! timeout 120 $PY -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" 2>&1 | tee "$LOG"; then
    echo "step 0 failed: import torch did not finish in 120 s (or failed); nothing else can run" | tee -a "$LOG"
    exit 1
fi
nproc | tee -a "$LOG"

# the carried wheels, and a `python` that is the machine's python3 with its environment (a symbolic
# link to it would lose the environment: numpy not found)
timeout 120 $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl \
    >>"$LOG" 2>&1 || { echo "the carried wheels did not install" | tee -a "$LOG"; exit 1; }
mkdir -p /tmp/bin
printf '#!/bin/sh\nexec %s "$@"\n' "$(command -v "$PY")" > /tmp/bin/python
chmod +x /tmp/bin/python
export PATH="/tmp/bin:$PATH" PYTHONPATH="$HERE:/tmp/site${PYTHONPATH:+:$PYTHONPATH}"

start=$(date +%s)
timeout "${DAG_LIMIT:-480}" python -m snakemake --cores 16 --scheduler greedy all --config device=cuda >>"$LOG" 2>&1
rc=$?
echo "snakemake exit $rc, wall $(( $(date +%s) - start )) s, device cuda, $(nproc) cores" | tee "$OUT/wall.txt" | tee -a "$LOG"
cp results/mini-default/table.md results/mini-default/job_costs.md "$OUT"/ 2>>"$LOG"
ls -l "$OUT"
