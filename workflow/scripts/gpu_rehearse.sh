#!/usr/bin/env bash
# A rehearsal, on a machine without a GPU, of gpu_dag.sh as a GPU machine runs it, so that a device call
# is not spent finding a missing package: bash workflow/scripts/gpu_rehearse.sh WORK [OUT]
# (WORK: a scratch folder; its clone/, site/ and bin/ are replaced, its venv/ kept while the list holds)
#   - HEAD as committed, cloned into WORK/clone (the working tree's own .whl/.prev/.authors stay as they are);
#   - a venv (WORK/venv) holding only what the GPU image holds: the packages of requirements.lock named in
#     gpu_image_packages.txt and gpu_prepare.sh's IMAGE_DEPS (what those need), at the lock's versions,
#     without their dependencies (about 6 GB, PyTorch included; kept for the next rehearsal);
#   - gpu_prepare.sh's wheels for this machine's CPython (WHEEL_PYTHON), which gpu_dag.sh installs into a
#     folder of its own (WORK/site), as it does on the GPU machine;
#   - gpu_dag.sh with device cpu on DAG_CORES cores (default 2), time limit DAG_LIMIT (default 1800 s; the
#     call's, GPU_CALL_SECONDS, a minute more),
#     every virtual environment off PATH. Its files go to OUT (default WORK/out); exits 0 where snakemake did.
# REHEARSE_PYTHON (default python3) names the CPython of the venv and the wheels: python3.12 for the GPU
# machine's own (PyTorch then comes from the package index: about 3 GB, a CUDA build that runs on a CPU).
set -euo pipefail
WORK=$(mkdir -p "${1:?usage: gpu_rehearse.sh WORK [OUT]}" && cd "$1" && pwd)
OUT=${2:-$WORK/out}
HERE=$(git rev-parse --show-toplevel)
PY=${REHEARSE_PYTHON:-python3}
PYV=$("$PY" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')  # the micro too: Requires-Python may ask for it

IMAGE_DEPS=$(sed -n 's/^IMAGE_DEPS="\(.*\)"$/\1/p' "$HERE/workflow/scripts/gpu_prepare.sh")
python3 - "$HERE/requirements.lock" "$HERE/workflow/scripts/gpu_image_packages.txt" "$IMAGE_DEPS" \
    > "$WORK/image-reqs.txt" <<'EOF'
import re, sys
norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()
image = {norm(line.strip()) for line in open(sys.argv[2]) if line.strip() and not line.startswith("#")}
image |= {norm(name) for name in sys.argv[3].split()}
for line in open(sys.argv[1]):
    pin = line.split("#")[0].split(";")[0].strip()
    if "==" in pin and norm(pin.split("==")[0]) in image:
        print(pin)
EOF
echo "the image's packages at the lock's versions: $(wc -l < "$WORK/image-reqs.txt") ($WORK/image-reqs.txt), CPython $PYV"
echo "# CPython $PYV" >> "$WORK/image-reqs.txt"
[ -z "${REHEARSE_REQUIREMENTS_ONLY:-}" ] || exit 0  # the list alone (tests/workflow/test_gpu_scripts.py)
if [ ! -x "$WORK/venv/bin/python3" ] || ! cmp -s "$WORK/image-reqs.txt" "$WORK/venv/image-reqs.txt"; then
    rm -rf "$WORK/venv"
    "$PY" -m venv "$WORK/venv"
    "$WORK/venv/bin/pip" install -q --disable-pip-version-check --no-deps -r "$WORK/image-reqs.txt"
    cp "$WORK/image-reqs.txt" "$WORK/venv/image-reqs.txt"
fi

rm -rf "$WORK/clone" "$WORK/site" "$WORK/bin"
git clone -q "$HERE" "$WORK/clone"
cd "$WORK/clone"
WHEEL_PYTHON=$PYV AUTHORS= bash workflow/scripts/gpu_prepare.sh HEAD 2>&1 | grep -v "no authors' files"

# the GPU machine has no virtual environment of ours on PATH: drop every venv's bin (and .venv's)
CLEAN_PATH=$(printf '%s' "$PATH" | tr ':' '\n' | while read -r dir; do
    [ -f "$dir/activate" ] || [ -f "$dir/../pyvenv.cfg" ] || printf '%s:' "$dir"; done)
env -u VIRTUAL_ENV -u PYTHONPATH PATH="${CLEAN_PATH%:}" PYTHON="$WORK/venv/bin/python3" GPU_SITE="$WORK/site" \
    GPU_BIN="$WORK/bin" DAG_DEVICE=cpu DAG_CORES="${DAG_CORES:-2}" DAG_LIMIT="${DAG_LIMIT:-1800}" \
    GPU_CALL_SECONDS=$(( ${DAG_LIMIT:-1800} + 60 )) \
    bash workflow/scripts/gpu_dag.sh "$OUT"
grep -q "snakemake exit 0," "$OUT/wall.txt"
