# Sourced by gpu_check.sh and gpu_dag.sh: what a device call sets up before its steps. Needs LOG set.
# gpu_setup MODULE...: step 0, the first import of torch and MODULEs under a limit of its own (one such
# import once hung for 470 s on a fresh machine; if it fails nothing else can run: the script exits 1);
# then this tree and the carried wheels (.whl, installed into GPU_SITE) on PYTHONPATH, and a `python`
# on PATH (in GPU_BIN) that execs the machine's python3: a symbolic link to it would lose its
# environment (numpy not found). Returns 2 if the carried wheels did not install, else 0.
# step LIMIT LEAST CMD...: CMD under `timeout`, its limit LIMIT seconds or what is left of the call if less;
# skipped, saying so in the log, where less than LEAST seconds are left. The call's own limit is
# GPU_CALL_SECONDS (default 570: a device call's 600 s less the time to bring OUT back), counted from
# the start of the script (bash's SECONDS): a step running past it would be killed with the call, and
# the steps after it never named as skipped.
# ncu_reports OUT LAUNCH...: Nsight Compute on the fused kernel, one ncu call per launch (JSON; "" for the
# built-in one), each a step of at most 60 s, appended to OUT/kernel_ncu.txt; says so where ncu is missing.
PY=${PYTHON:-python3}
CALL_SECONDS=${GPU_CALL_SECONDS:-570}
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
    mkdir -p "$GPU_BIN" "$GPU_SITE"
    printf '#!/bin/sh\nexec %s "$@"\n' "$(command -v "$PY")" > "$GPU_BIN/python"
    chmod +x "$GPU_BIN/python"
    export PATH="$GPU_BIN:$PATH"
    if ls .whl/*.whl >/dev/null 2>&1; then  # installed once: a second script on the machine finds them
        if ! ls .whl | cmp -s - "$GPU_SITE/.carried"; then
            timeout 120 "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
                --target "$GPU_SITE" .whl/*.whl >>"$LOG" 2>&1 || { echo "the carried wheels did not install" | tee -a "$LOG"; return 2; }
            ls .whl > "$GPU_SITE/.carried"
        fi
        export PYTHONPATH="$PYTHONPATH:$GPU_SITE"
    fi
}

step() {
    local limit=$1 least=$2 left=$(( CALL_SECONDS - SECONDS ))
    shift 2
    if (( left < least )); then
        echo "skipped, $left s of the call left (needs $least): $*" >> "$LOG"
        return 124
    fi
    (( limit <= left )) || limit=$left
    echo "step, limit $limit s: $*" >> "$LOG"
    timeout "$limit" "$@"
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
        step 60 30 "$ncu" --clock-control none -k regex:_compensation_kernel --section SpeedOfLight \
            --section Occupancy --section LaunchStats --section WarpStateStats --section ComputeWorkloadAnalysis \
            --section MemoryWorkloadAnalysis "$PY" workflow/scripts/kernel_ncu.py cuda 2160 3840 ${launch:+"$launch"} \
            >> "$out/kernel_ncu.txt" 2>&1
        echo "ncu, launch ${launch:-built-in}: exit $?" | tee -a "$LOG"
    done
}
