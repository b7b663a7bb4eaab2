# Sourced by gpu_check.sh and gpu_dag.sh: what a device call sets up before its steps. Needs LOG set.
# gpu_setup MODULE...: step 0, the first import of torch and MODULEs under a limit of its own (one such
# import once hung for 470 s on a fresh machine; if it fails nothing else can run: the script exits 1);
# then this tree and the carried wheels (.whl, installed into GPU_SITE) on PYTHONPATH, and a `python`
# on PATH (in GPU_BIN) that execs the machine's python3: a symbolic link to it would lose its
# environment (numpy not found). Returns 2 if the carried wheels did not install, else 0.
# ncu_reports OUT LAUNCH...: Nsight Compute on the fused kernel, one ncu call per launch (JSON; "" for the
# built-in one) under a limit of its own, appended to OUT/kernel_ncu.txt; says so where ncu is missing.
PY=${PYTHON:-python3}
HERE="$PWD"
GPU_SITE=${GPU_SITE:-/tmp/site}
GPU_BIN=${GPU_BIN:-/tmp/bin}
export PYTHONUNBUFFERED=1

gpu_setup() {
    local versions="import importlib, sys, torch
print(*(m + ' ' + importlib.import_module(m).__version__ for m in ['torch', *sys.argv[1:]]),
      torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA device')"
    timeout 120 "$PY" -c "$versions" "$@" 2>&1 | tee -a "$LOG"
    if [ "${PIPESTATUS[0]}" -ne 0 ]; then  # the import's status, with or without pipefail
        echo "step 0 failed: import torch $* did not finish in 120 s (or failed); nothing else can run" | tee -a "$LOG"
        exit 1
    fi
    export PYTHONPATH="$HERE${PYTHONPATH:+:$PYTHONPATH}"
    mkdir -p "$GPU_BIN"
    printf '#!/bin/sh\nexec %s "$@"\n' "$(command -v "$PY")" > "$GPU_BIN/python"
    chmod +x "$GPU_BIN/python"
    export PATH="$GPU_BIN:$PATH"
    if ls .whl/*.whl >/dev/null 2>&1; then
        timeout 120 "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target "$GPU_SITE" .whl/*.whl >>"$LOG" 2>&1 || { echo "the carried wheels did not install" | tee -a "$LOG"; return 2; }
        export PYTHONPATH="$PYTHONPATH:$GPU_SITE"
    fi
}

ncu_reports() {
    local out="$1" launch ncu
    shift
    ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | tail -n 1)
    if [ -z "$ncu" ]; then
        echo "ncu: not found" | tee -a "$LOG"
        return 0
    fi
    for launch in "$@"; do  # clocks as found (--clock-control none): the card's settings are not ours to change
        echo "== launch ${launch:-built-in}" >> "$out/kernel_ncu.txt"
        timeout 60 "$ncu" --clock-control none -k regex:_compensation_kernel --section SpeedOfLight \
            --section Occupancy --section LaunchStats --section WarpStateStats --section ComputeWorkloadAnalysis \
            --section MemoryWorkloadAnalysis "$PY" workflow/scripts/kernel_ncu.py cuda 2160 3840 ${launch:+"$launch"} \
            >> "$out/kernel_ncu.txt" 2>&1
        echo "ncu, launch ${launch:-built-in}: exit $?" | tee -a "$LOG"
    done
}
