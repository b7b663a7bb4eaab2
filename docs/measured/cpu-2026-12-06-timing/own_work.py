"""Does an evaluation's own background work (writing the saved sample, decoding ahead) slow its timed
passes? One evaluation job of the default experiment (backbone unet, resampler bicubic, its five
targets, 6 test images, 3 of them saved), run with two commits' libraries one after the other, round
after round, on an otherwise idle machine; per commit the time of each (target, image) and, where the
library records it, the share of the pass's runnable time its threads waited for a CPU (cpu_wait).

    python own_work.py --old /path/to/old/tree --new /path/to/new/tree --data D --backbone B --out own_work.json

Each tree is put first on PYTHONPATH and the job runs from a scratch folder, so `python -m lmar` is
that tree's. Writes JSON: per commit and round, every row's target, image, time_s and cpu_wait.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

EVALUATION = {"metrics": ["psnr", "ssim"], "precision": "fp32", "save_outputs": 3,
              "scales": [1.5, 1.8, 2, 3, 4], "upsampler": "lanczos3", "workers": "auto"}
LABELS = {"dataset": "mini", "dataset_type": "mini", "backbone": "unet", "resampler": "bicubic", "config_hash": "x"}


def run_once(tree: Path, data: Path, backbone: Path, scratch: Path) -> list[dict]:
    out = scratch / "m.csv"
    cmd = [sys.executable, "-m", "lmar", "evaluate", "--data", str(data), "--backbone", str(backbone),
           "--resampler-spec", json.dumps({"type": "bicubic", "params": {"antialias": False}}),
           "--evaluation", json.dumps(EVALUATION), "--labels", json.dumps(LABELS), "--out", str(out),
           "--images", str(scratch / "img"), "--device", "cpu", "--seed", "0", "--threads", "2"]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    subprocess.run(cmd, cwd=scratch, env=env, check=True, capture_output=True, text=True)
    df = pd.read_csv(out)
    cols = ["target", "image", "time_s"] + (["cpu_wait"] if "cpu_wait" in df else [])
    return df[cols].to_dict("records")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", type=Path, required=True)
    ap.add_argument("--new", type=Path, required=True)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--backbone", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    result = {"evaluation": EVALUATION, "runs": []}
    for r in range(args.rounds):
        for name, tree in (("old", args.old), ("new", args.new)):
            with tempfile.TemporaryDirectory() as scratch:
                rows = run_once(tree.resolve(), args.data.resolve(), args.backbone.resolve(), Path(scratch))
            commit = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True,
                                    text=True).stdout.strip()
            result["runs"].append({"tree": name, "commit": commit, "round": r, "load_1m": os.getloadavg()[0],
                                   "rows": rows})
            print(f"round {r} {name} ({commit}) done", flush=True)
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
