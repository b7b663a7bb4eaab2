#!/usr/bin/env bash
# Here, before a device call (bash workflow/scripts/gpu_prepare.sh [BASELINE]): what the GPU machine
# lacks, in ignored folders the call carries (carry: [".whl", ".prev", ".authors"]):
#   .whl/   wheels for CPython 3.12 of what the machine lacks (about 18 MB): pyiqa (its dependencies
#           are there) for lmar bench-eval, and for the DAG (gpu_dag.sh) Snakemake with the rest of its
#           and gdown's runtime closure, and lpips (DAG_WHEELS below);
#   .prev/  the library of commit BASELINE (default: HEAD's parent), for a before/after timing;
#   .authors/  the authors' released weights and reference outputs the GPU tests compare with, copied
#           from the folder AUTHORS names where you have them (about 7 MB); without AUTHORS, none.
# WHEEL_PYTHON (default 3.12, the GPU machine's) names another CPython for the wheels, such as this
# machine's own for a rehearsal of gpu_dag.sh here (workflow/scripts/gpu_rehearse.sh).
set -euo pipefail
BASELINE=${1:-HEAD~1}
WHEEL_PYTHON=${WHEEL_PYTHON:-3.12}
EXCLUDE=$(git rev-parse --git-path info/exclude)  # .git/info/exclude, also from a worktree (where .git is a file)
mkdir -p "$(dirname "$EXCLUDE")"
grep -qx "/.whl/" "$EXCLUDE" 2>/dev/null || echo "/.whl/" >> "$EXCLUDE"
grep -qx "/.prev/" "$EXCLUDE" || echo "/.prev/" >> "$EXCLUDE"
grep -qx "/.authors/" "$EXCLUDE" || echo "/.authors/" >> "$EXCLUDE"
# Snakemake's and gdown's runtime dependencies (their metadata's, for CPython 3.12 on Linux) less the
# packages the GPU machine's image holds (read off it on 2026-11-17), and pyiqa and lpips; PuLP is left
# out (the call runs --scheduler greedy). Versions are requirements.lock's.
DAG_WHEELS="annotated-types argparse-dataclass beautifulsoup4 conda-inject configargparse connection-pool
docutils dpath fastjsonschema gdown gitdb gitpython greenlet humanfriendly immutables jsonschema
jsonschema-specifications jupyter-core lpips nbformat platformdirs pydantic pydantic-core referencing rpds-py
smart-open smmap snakemake snakemake-interface-common snakemake-interface-executor-plugins
snakemake-interface-logger-plugins snakemake-interface-report-plugins snakemake-interface-scheduler-plugins
snakemake-interface-storage-plugins soupsieve sqlalchemy sqlmodel tenacity throttler traitlets
typing-inspection yte pyiqa"
# The rest of requirements.lock, neither in the image nor carried (tests/workflow/test_gpu_scripts.py holds
# the four lists to the lock). IMAGE_DEPS: dependencies, at the lock's versions, of packages the image holds
# (python-dateutil, huggingface-hub), which bring their own there; gpu_rehearse.sh installs them with the
# image's packages. NOT_NEEDED: pyiqa's declared dependencies that PSNR, SSIM and LPIPS do not import, and
# theirs (addict ... yapf; gpu_rehearse.sh runs the DAG without them); PuLP (--scheduler greedy); the SLURM
# executor plugins and pytest-benchmark's py-cpuinfo2 (the dev extra); PySocks (requests' socks extra).
IMAGE_DEPS="tzdata httpx2 httpcore2 truststore"
NOT_NEEDED="addict bitsandbytes cfgv datasets dill distlib facexlib filterpy ftfy future identify multiprocess
nodeenv openai-clip opencv-python pre-commit python-discovery ruff virtualenv wcwidth yapf pulp
snakemake-executor-plugin-slurm snakemake-executor-plugin-slurm-jobstep py-cpuinfo2 pysocks"
rm -rf .whl && mkdir -p .whl
for name in $DAG_WHEELS; do
    pin=$(grep -i -E "^${name//-/[-_]}==" requirements.lock) || { echo "not in requirements.lock: $name" >&2; exit 1; }
    if [ "$name" = connection-pool ]; then  # no wheel on the index: build one (pure Python)
        python3 -m pip wheel -q --no-deps -w .whl "$pin"
    else
        python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$WHEEL_PYTHON" --implementation cp \
            --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 -d .whl "$pin"
    fi
done
rm -rf .prev && mkdir -p .prev
git archive "$BASELINE" lmar baselines | tar -x -C .prev
git rev-parse --short "$BASELINE" > .prev/COMMIT
rm -rf .authors
if [ -n "${AUTHORS:-}" ] && [ -f "$AUTHORS/LMAR_model.bin" ]; then
    mkdir -p .authors && cp "$AUTHORS"/*.bin "$AUTHORS"/*.npy .authors/
else
    echo "no authors' files (AUTHORS=${AUTHORS:-unset}): the GPU tests that compare with them will skip" >&2
fi
echo "carry .whl ($(du -sh .whl | cut -f1), CPython $WHEEL_PYTHON), .prev and .authors; baseline $(cat .prev/COMMIT)"
