#!/usr/bin/env bash
# Here, before a device call (bash workflow/scripts/gpu_prepare.sh [BASELINE]): what the GPU machine
# lacks, in two ignored folders the call carries (carry: [".whl", ".prev"]):
#   .whl/   the pyiqa wheel (pure Python; the machine has its dependencies) for lmar bench-eval;
#   .prev/  the library of commit BASELINE (default: HEAD's parent), for a before/after timing;
#   .authors/  the authors' released weights and reference outputs the GPU tests compare with, where
#           this checkout has them beside it (AUTHORS, default ../shared/authors; about 7 MB).
set -euo pipefail
BASELINE=${1:-HEAD~1}
EXCLUDE=$(git rev-parse --git-path info/exclude)  # .git/info/exclude, also from a worktree (where .git is a file)
mkdir -p "$(dirname "$EXCLUDE")"
grep -qx "/.whl/" "$EXCLUDE" 2>/dev/null || echo "/.whl/" >> "$EXCLUDE"
grep -qx "/.prev/" "$EXCLUDE" || echo "/.prev/" >> "$EXCLUDE"
grep -qx "/.authors/" "$EXCLUDE" || echo "/.authors/" >> "$EXCLUDE"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux2014_x86_64 -d .whl "$(grep -i '^pyiqa==' requirements.lock)"
rm -rf .prev && mkdir -p .prev
git archive "$BASELINE" lmar baselines | tar -x -C .prev
git rev-parse --short "$BASELINE" > .prev/COMMIT
AUTHORS=${AUTHORS:-../shared/authors}
rm -rf .authors
if [ -f "$AUTHORS/LMAR_model.bin" ]; then
    mkdir -p .authors && cp "$AUTHORS"/*.bin "$AUTHORS"/*.npy .authors/
else
    echo "no authors' files at $AUTHORS: the GPU tests that compare with them will skip" >&2
fi
echo "carry .whl, .prev and .authors; baseline $(cat .prev/COMMIT)"
