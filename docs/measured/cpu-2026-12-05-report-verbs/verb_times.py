"""Wall time of each report verb as a workflow job runs it (a fresh `python -m lmar <verb>` process),
with the library of two commits, interleaved round by round on one machine: JSON to stdout.

    python verb_times.py BEFORE_TREE AFTER_TREE RESULTS_DIR [ROUNDS]

BEFORE_TREE / AFTER_TREE: checkouts whose ``lmar`` package is put first on PYTHONPATH (each process runs in
an empty folder, so that the current directory's ``lmar`` does not come first); RESULTS_DIR: a
finished run's ``results/<experiment>`` (its store, left-out notes and curves are the verbs' inputs).
"""

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def verbs(results: Path, out: Path) -> dict[str, list[str]]:
    store = str(results / "results.parquet")
    curves = sorted(str(p) for p in (results / "models").rglob("*.curve.csv"))
    return {
        "table": ["table", store, "--out-md", str(out / "t.md"), "--out-tex", str(out / "t.tex"),
                  "--left-out", str(results / "gather_left_out.md"), "--out-left-out", str(out / "lo.md")],
        "plot": ["plot", store, "--out", str(out / "p.png"), "--out-gain", str(out / "g.png")],
        "plot-curves": ["plot-curves", *curves, "--out", str(out / "c.png")],
        "left-out": ["left-out", str(results / "left_out.md")],
        "compare-results": ["compare-results", store, store],
    }


def main() -> None:
    before, after, results = (Path(a).resolve() for a in sys.argv[1:4])
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    seconds: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(rounds):
            for side, tree in (("before", before), ("after", after)):
                env = {**os.environ, "PYTHONPATH": str(tree)}
                for name, argv in verbs(results, Path(tmp)).items():
                    t0 = time.perf_counter()
                    proc = subprocess.run([sys.executable, "-m", "lmar", *argv], env=env, capture_output=True, cwd=tmp)
                    took = time.perf_counter() - t0
                    if proc.returncode not in (0, 3):  # 3: the table left something out
                        sys.exit(f"{side} {name}: exit {proc.returncode}\n{proc.stderr.decode()[-2000:]}")
                    seconds.setdefault(name, {}).setdefault(side, []).append(round(took, 3))
    medians = {n: {s: statistics.median(v) for s, v in sides.items()} for n, sides in seconds.items()}
    print(json.dumps({
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "rounds": rounds,
        "seconds": seconds,
        "median_s": medians,
        "after_over_before": {n: round(m["after"] / m["before"], 3) for n, m in medians.items()},
        "sum_median_s": {s: round(sum(m[s] for m in medians.values()), 2) for s in ("before", "after")},
    }, indent=1))


if __name__ == "__main__":
    main()
