#!/usr/bin/env bash
# Here, before a device call (bash workflow/scripts/gpu_prepare.sh [BASELINE]): what the GPU machine
# lacks, in two ignored folders the call carries (carry: [".whl", ".prev"]):
#   .whl/   the pyiqa wheel (pure Python; the machine has its dependencies) for lmar bench-eval;
#   .prev/  the library of commit BASELINE (default: HEAD's parent), for a before/after timing.
set -euo pipefail
BASELINE=${1:-HEAD~1}
EXCLUDE=$(git rev-parse --git-path info/exclude)  # .git/info/exclude, also from a worktree (where .git is a file)
mkdir -p "$(dirname "$EXCLUDE")"
grep -qx "/.whl/" "$EXCLUDE" 2>/dev/null || echo "/.whl/" >> "$EXCLUDE"
grep -qx "/.prev/" "$EXCLUDE" || echo "/.prev/" >> "$EXCLUDE"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux2014_x86_64 -d .whl "$(grep -i '^pyiqa==' requirements.lock)"
rm -rf .prev && mkdir -p .prev
git archive "$BASELINE" lmar baselines | tar -x -C .prev
git rev-parse --short "$BASELINE" > .prev/COMMIT
echo "carry .whl and .prev; baseline $(cat .prev/COMMIT)"
