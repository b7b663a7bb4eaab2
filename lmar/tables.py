"""Paper-style tables from the results store: Markdown, LaTeX (booktabs) and CSV.

Per dataset and backbone, and per set of seeds the resamplers ran with (:func:`lmar.report.seed_groups`),
one table per metric: rows resamplers, columns target sizes, each cell the mean over test images
(and seeds) with a 95% bootstrap interval (:mod:`lmar.stats`). The best resampler of each column is
in bold and the second underlined in LaTeX (italic in Markdown); the full-resolution row (no
resampling) is the ceiling and takes no part in the ranking. Every row of a table is over the same
test images and seeds: a block whose rows were scored on different ones is reduced to those they
share, with a left-out note (:func:`lmar.report.common_rows`). A metric missing for some rows says so
in its cell ("2 of 3") and is not ranked; none is averaged over fewer images silently.

Then the paired comparisons: each learned resampler against every other, per target: the mean
per-image difference with its interval and the win rate; a dagger marks an interval that excludes
zero.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from lmar.report import seed_groups
from lmar.stats import HIGHER_IS_BETTER, bootstrap_mean_ci, compare, learned_pairs
from lmar.targets import FULL

LABEL = {"psnr": "PSNR (dB)", "ssim": "SSIM", "lpips": "LPIPS"}
DIGITS = {"psnr": 2, "ssim": 4, "lpips": 4}
LEVEL = 0.95
N_BOOT = 2000
SMALL_N = 10  # below this many paired units, the tables warn that the intervals are too narrow


def arrow(metric: str) -> str:
    return "↑" if HIGHER_IS_BETTER[metric] else "↓"


STAT_COLUMNS = ["dataset", "backbone", "seeds", "resampler", "target", "scale", "metric", "n", "n_units", "n_images",
                "mean", "ci_low", "ci_high"]


def cell_stats(df: pd.DataFrame, metrics, n_boot: int = N_BOOT, seed: int = 0) -> pd.DataFrame:
    """Per (dataset, backbone, seeds, resampler, target, metric): mean, ci_low, ci_high over the
    scored units, n (units scored), n_units (units present) and n_images (the test images of the
    table, which every row of it was reduced to: :func:`lmar.report.seed_groups`)."""
    rows = []
    for (dataset, backbone), both in df.groupby(["dataset", "backbone"], sort=False):
        for chosen, block in seed_groups(both):
            seeds = ",".join(map(str, chosen))
            n_images = block["image"].nunique()
            for (resampler, target), one in block.groupby(["resampler", "target"], sort=False):
                for metric in metrics:
                    if metric not in one:
                        values = one.assign(diff=np.nan)
                    else:
                        values = one.assign(diff=one[metric])
                    scored = values.dropna(subset=["diff"])
                    row = {"dataset": dataset, "backbone": backbone, "seeds": seeds, "resampler": resampler,
                           "target": target, "scale": float(one["scale"].mean()), "metric": metric,
                           "n": len(scored), "n_units": len(values), "n_images": n_images}
                    if scored.empty:
                        row.update(mean=math.nan, ci_low=math.nan, ci_high=math.nan)
                    else:
                        units = scored
                        if len(scored) != scored["seed"].nunique() * scored["image"].nunique():
                            # not every image has every seed (a metric missing somewhere): resample the
                            # (seed, image) units one way, so that the interval covers what the mean does
                            units = scored.assign(image=scored["seed"].astype(str) + "/" + scored["image"], seed=0)
                        mean, low, high = bootstrap_mean_ci(units, n_boot=n_boot, level=LEVEL, seed=seed)
                        row.update(mean=mean, ci_low=low, ci_high=high)
                    rows.append(row)
    return pd.DataFrame(rows, columns=STAT_COLUMNS)


def _ranks(part: pd.DataFrame, metric: str) -> dict:
    """(resampler, target) -> 1 (best) or 2 (second), among resampled rows scored on every unit of the
    table: a row with a value for fewer (image, seed) units than the table has (a metric missing
    somewhere, or rows the table was not reduced for) is not ranked by its mean over other images."""
    out = {}
    resampled = part[part["target"] != FULL]
    full = resampled["n_units"].max() if len(resampled) else 0
    ranked = resampled[(resampled["n"] == full) & (resampled["n_units"] == full) & resampled["mean"].notna()]
    for target, col in ranked.groupby("target", sort=False):
        order = col.sort_values("mean", ascending=not HIGHER_IS_BETTER[metric])
        for rank, resampler in enumerate(order["resampler"][:2], start=1):
            out[(resampler, target)] = rank
    return out


def _value(row, metric: str) -> str:
    d = DIGITS.get(metric, 3)
    if row["n"] == 0:
        return "n/a"
    text = f"{row['mean']:.{d}f} [{row['ci_low']:.{d}f}, {row['ci_high']:.{d}f}]"
    if row["n"] < row["n_units"]:
        text += f" ({row['n']} of {row['n_units']})"
    return text


def metric_frame(part: pd.DataFrame, metric: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The cells of one table as text (rows resamplers, columns targets) and their ranks (0, 1, 2)."""
    cols = list(dict.fromkeys(part.loc[part["target"] != FULL].sort_values("scale", kind="stable")["target"]))
    ranks = _ranks(part, metric)
    text, rank = {}, {}
    for resampler, rows in part.groupby("resampler", sort=False):
        by = rows.set_index("target")
        name = resampler
        if list(by.index) == [FULL]:
            name = f"{resampler} (no resampling)"
            text[name] = {t: _value(by.loc[FULL], metric) for t in cols}
            rank[name] = {t: 0 for t in cols}
        else:
            text[name] = {t: _value(by.loc[t], metric) if t in by.index else "-" for t in cols}
            rank[name] = {t: ranks.get((resampler, t), 0) for t in cols}
    return pd.DataFrame(text).T[cols], pd.DataFrame(rank).T[cols]


def _markdown(text: pd.DataFrame, rank: pd.DataFrame) -> str:
    marked = text.copy()
    for r in text.index:
        for c in text.columns:
            marked.loc[r, c] = {1: f"**{text.loc[r, c]}**", 2: f"*{text.loc[r, c]}*"}.get(rank.loc[r, c], text.loc[r, c])
    marked.index.name = "resampler"
    return marked.to_markdown()


def _latex(text: pd.DataFrame, rank: pd.DataFrame, caption: str) -> str:
    style = {1: "textbf: --rwrap;", 2: "underline: --rwrap;"}
    styler = text.style.apply(lambda d: rank.map(lambda k: style.get(k, "")), axis=None)
    styler = styler.format(escape="latex").format_index(escape="latex", axis=0).format_index(escape="latex", axis=1)
    return styler.to_latex(hrules=True, caption=caption, position_float="centering")


def _latex_text(text: str) -> str:
    for plain, latex in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("%", r"\%"), ("&", r"\&"), ("#", r"\#"),
                         ("↑", r"$\uparrow$"), ("↓", r"$\downarrow$")):
        text = text.replace(plain, latex)
    return text


def _over(n_images: int, seeds: str) -> str:
    """What a table's means are over: "3 test images x 2 seeds (0, 1)", or ", seed 0" with one seed."""
    over = f"{n_images} test images"
    return over + (f" x {len(seeds.split(','))} seeds ({seeds.replace(',', ', ')})" if "," in seeds else
                   f", seed {seeds}" if seeds else "")


def _title(dataset, backbone, block: pd.DataFrame, seeds: str, metric: str) -> str:
    over = _over(int(block["n_images"].max()), seeds)
    return f"{dataset} / {backbone}: {LABEL.get(metric, metric)} {arrow(metric)}, mean [95% interval] over {over}"


def comparisons(df: pd.DataFrame, metrics, learned, n_boot: int = N_BOOT, seed: int = 0) -> pd.DataFrame:
    """Each learned resampler present against every other resampler, per dataset, backbone, target,
    within the table blocks of :func:`lmar.report.seed_groups`: over the seeds both ran with (the
    largest such set; column ``seeds``) and the test images every row of that table shares, so that
    a pair is compared on exactly the units its table's means are over."""
    out = []
    for _, both in df.groupby(["dataset", "backbone"], sort=False):
        done: set = set()
        for chosen, block in seed_groups(both):
            resampled = block[block["target"] != FULL]  # the full-resolution row has no target to pair with
            present = list(dict.fromkeys(resampled["resampler"]))
            pairs = [p for p in learned_pairs(present, [a for a in learned if a in present]) if p not in done]
            if pairs:
                cmp = compare(resampled, [m for m in metrics if m in df], pairs, n_boot=n_boot, seed=seed)
                out.append(cmp.assign(seeds=",".join(map(str, chosen))))
                done.update(pairs)
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def _comparison_markdown(cmp: pd.DataFrame, metric: str) -> str:
    d = DIGITS.get(metric, 3)
    part = cmp[cmp["metric"] == metric]
    cols = list(dict.fromkeys(part["target"]))
    cells = {}
    for (a, b), rows in part.groupby(["a", "b"], sort=False):
        by = rows.set_index("target")
        cells[f"{a} - {b}"] = {
            t: "-" if t not in by.index or pd.isna(by.loc[t, "mean_diff"]) else
            f"{by.loc[t, 'mean_diff']:+.{d}f} [{by.loc[t, 'ci_low']:+.{d}f}, {by.loc[t, 'ci_high']:+.{d}f}] "
            f"{by.loc[t, 'win_rate']:.0%}{' †' if by.loc[t, 'significant'] else ''}"
            for t in cols
        }
    frame = pd.DataFrame(cells).T[cols]
    frame.index.name = "pair"
    return frame.to_markdown()


def render(df: pd.DataFrame, metrics, learned=(), n_boot: int = N_BOOT, seed: int = 0) -> tuple[str, str, pd.DataFrame]:
    """(Markdown, LaTeX, tidy CSV frame) of every table of ``df``."""
    metrics = [m for m in metrics if m in HIGHER_IS_BETTER]
    stats = cell_stats(df, metrics, n_boot, seed)
    md, tex = [], []
    for (dataset, backbone, seeds), block in stats.groupby(["dataset", "backbone", "seeds"], sort=False):
        for metric in metrics:
            part = block[block["metric"] == metric]
            text, rank = metric_frame(part, metric)
            title = _title(dataset, backbone, part, seeds, metric)
            md += [f"### {title}\n", _markdown(text, rank), ""]
            tex += [_latex(text, rank, _latex_text(title)), ""]
    cmp = comparisons(df, metrics, learned, n_boot, seed) if learned else pd.DataFrame()
    if len(cmp):
        md.append("## Paired differences: mean [95% interval] per image, win rate; † the interval excludes 0\n")
        n_min = int(cmp["n_images"].min() * cmp["n_seeds"].min())
        if n_min < SMALL_N:
            md.append(f"With {n_min} paired units, percentile bootstrap intervals are narrower than the "
                      "true uncertainty: a † there says little more than that every unit went one way.\n")
        for (dataset, backbone, seeds), part in cmp.groupby(["dataset", "backbone", "seeds"], sort=False):
            for metric in metrics:
                if (part["metric"] == metric).any():
                    over = _over(int(part["n_images"].max()), seeds)
                    md += [f"### {dataset} / {backbone}: {LABEL.get(metric, metric)} {arrow(metric)} (over {over})\n",
                           _comparison_markdown(part, metric), ""]
    tidy = pd.concat([stats.assign(kind="mean"), cmp.assign(kind="paired")], ignore_index=True) if len(cmp) else stats
    return "\n".join(md), "\n".join(tex), tidy


COST_COLUMNS = {
    "resample_gflops": "GFLOPs resample", "enhance_gflops": "GFLOPs enhance", "upsample_gflops": "GFLOPs upsample",
    "resample_ms": "ms resample", "enhance_ms": "ms enhance", "upsample_ms": "ms upsample", "time_ms": "ms end to end",
    "resample_peak_mb": "peak MiB resample", "enhance_peak_mb": "peak MiB enhance", "upsample_peak_mb": "peak MiB upsample",
}


def cost_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, backbone, resampler, target): parameters (millions), GFLOPs per stage and in
    all, the mean milliseconds per stage and end to end over the test images (and seeds), and on
    CUDA the largest peak memory per stage; the full-resolution row first."""
    d = df.assign(time_ms=df["time_s"] * 1000.0) if "time_s" in df else df.copy()
    have = [c for c in COST_COLUMNS if c in d]
    if not have:
        return pd.DataFrame()
    agg = {c: ("max" if c.endswith("_peak_mb") else "mean") for c in have}
    for c in ("backbone_n_params", "resampler_n_params"):
        if c in d:
            agg[c] = "first"
    out = d.groupby(["dataset", "backbone", "resampler", "target"], sort=False).agg(
        {**agg, "scale": "mean", "target_h": "first", "target_w": "first"}).reset_index()
    gf = [c for c in ("resample_gflops", "enhance_gflops", "upsample_gflops") if c in out]
    if gf:
        out["GFLOPs total"] = out[gf].sum(axis=1, min_count=1)
    if "backbone_n_params" in out:
        out["params (M)"] = (out["backbone_n_params"] + out.get("resampler_n_params", 0).fillna(0)) / 1e6
    out = out.drop(columns=[c for c in out if c.endswith("_peak_mb") and out[c].isna().all()])
    out["full"] = out["target"] == FULL
    out = out.sort_values(["dataset", "backbone", "full", "scale"], ascending=[True, True, False, True], kind="stable")
    return out.drop(columns=["full"]).rename(columns=COST_COLUMNS)


def cost_markdown(df: pd.DataFrame) -> str:
    """The cost tables (one per dataset and backbone), or '' when the rows carry no cost columns."""
    costs = cost_frame(df)
    if costs.empty:
        return ""
    out = ["## Cost: parameters, GFLOPs and time per stage (mean over test images), same run\n"]
    keep = ["resampler", "target", "target_h", "target_w", "params (M)", "GFLOPs resample", "GFLOPs enhance",
            "GFLOPs upsample", "GFLOPs total", "ms resample", "ms enhance", "ms upsample", "ms end to end",
            "peak MiB resample", "peak MiB enhance", "peak MiB upsample"]
    for (dataset, backbone), part in costs.groupby(["dataset", "backbone"], sort=False):
        cols = [c for c in keep if c in part]
        out += [f"### {dataset} / {backbone}\n", part[cols].round(3).to_markdown(index=False), ""]
    out.append("Each job's wall time and peak resident memory are in job_costs.md (from Snakemake's benchmark files).\n")
    return "\n".join(out)
