"""The tables of README.md from own_work.json: per commit, the median over rounds of each target's mean
time over the 6 images and of its spread (slowest image / fastest), and the largest cpu_wait."""

import json
from pathlib import Path

import pandas as pd

runs = json.loads((Path(__file__).parent / "own_work.json").read_text())["runs"]
rows = pd.DataFrame([{**r, "tree": run["tree"], "commit": run["commit"], "round": run["round"]}
                     for run in runs for r in run["rows"]])
per_round = rows.groupby(["tree", "commit", "round", "target"], sort=False)["time_s"].agg(["mean", "min", "max"])
per_round["spread"] = per_round["max"] / per_round["min"]
table = per_round.groupby(["tree", "commit", "target"], sort=False)[["mean", "spread"]].median()
table["mean"] *= 1000
print(table.round(2).rename(columns={"mean": "mean ms"}).to_markdown())
print()
per_image = rows.groupby(["tree", "image"], sort=False)["time_s"].median().mul(1000).unstack("tree").round(1)
print(per_image.to_markdown())
print()
if "cpu_wait" in rows:
    print(rows.groupby("tree")["cpu_wait"].agg(["median", "max"]).round(4).to_markdown())
print("loads:", [(run["tree"], run["round"], round(run["load_1m"], 2)) for run in runs])
