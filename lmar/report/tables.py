"""Paper-style tables from the results store: Markdown, LaTeX (booktabs) and CSV.

Per dataset and backbone, and per set of seeds the resamplers ran with (:func:`lmar.report.blocks.seed_groups`),
one table per metric: rows resamplers, columns target sizes, each cell the mean over test images
(and seeds) with a 95% bootstrap interval (:mod:`lmar.report.stats`). The best resampler of each column is
in bold and the second underlined in LaTeX (italic in Markdown), ranked by the means as printed (rows
that print the same mean share a mark); the full-resolution row (no
resampling) is the ceiling and takes no part in the ranking. Every row of a table is over the same
test images and seeds: a block whose rows were scored on different ones is reduced to those they
share, with a left-out note (:func:`lmar.report.blocks.common_rows`). A metric missing for some rows says so
in its cell ("2 of 3") and is not ranked; none is averaged over fewer images silently.

Then the paired comparisons: each learned resampler against every other, per target: the mean
per-image difference with its interval and the win rate; a dagger marks an interval that excludes
zero. Its digits are chosen so that a dagger never sits on a printed zero (:func:`_difference`).

``table.tex`` holds the same tables (per metric, paired, and the cost tables of
:mod:`lmar.report.cost_tables`) in LaTeX needing only booktabs, laid out by :mod:`lmar.report.latex`:
the mean on a cell's first line and its interval in small type on a second, a unique ``\\label`` for
each, and a table wider than a page split into parts of fewer columns.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from lmar.core.metric_table import METRICS
from lmar.report.blocks import by_scale, over_units, seed_groups
from lmar.report.latex import label_maker, tex_tables
from lmar.report.stats import better, bootstrap_mean_ci, compare, learned_pairs
from lmar.run.targets import FULL

LEVEL = 0.95
N_BOOT = 2000
EXTRA_DIGITS = 4  # a significant difference gets at most this many decimals more than its own (see _difference)


def arrow(metric: str) -> str:
    return "↑" if better(metric) else "↓"


def metric_digits(metric: str) -> int:
    """The decimals ``metric`` is printed with (the metric table's; 3 for a column it lacks)."""
    return METRICS[metric].digits if metric in METRICS else 3


def metric_label(metric: str) -> str:
    """The heading of ``metric`` (the metric table's; the column's name for one it lacks)."""
    return METRICS[metric].label if metric in METRICS else metric


STAT_COLUMNS = ["dataset", "backbone", "seeds", "resampler", "target", "scale", "metric", "n", "n_units", "n_images",
                "mean", "ci_low", "ci_high"]


def cell_stats(df: pd.DataFrame, metrics, n_boot: int = N_BOOT, seed: int = 0) -> pd.DataFrame:
    """Per (dataset, backbone, seeds, resampler, target, metric): mean, ci_low, ci_high over the
    scored units, n (units scored), n_units (units present) and n_images (the test images of the
    table, which every row of it was reduced to: :func:`lmar.report.blocks.seed_groups`)."""
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
    somewhere, or rows the table was not reduced for) is not ranked by its mean over other images.
    Ranked as printed: every row showing the best printed mean is best, every row showing the next
    printed mean second, so two cells that read the same never carry different marks."""
    out = {}
    d = metric_digits(metric)
    resampled = part[part["target"] != FULL]
    full = resampled["n_units"].max() if len(resampled) else 0
    ranked = resampled[(resampled["n"] == full) & (resampled["n_units"] == full) & resampled["mean"].notna()]
    for target, col in ranked.groupby("target", sort=False):
        shown = [float(f"{mean:.{d}f}") for mean in col["mean"]]
        leaders = sorted(set(shown), reverse=better(metric))[:2]
        for resampler, value in zip(col["resampler"], shown):
            if value in leaders:
                out[(resampler, target)] = leaders.index(value) + 1
    return out


def _value_parts(row, metric: str) -> tuple[str, str]:
    """(mean, interval) of one cell as text: "31.00", "[30.00, 32.00]"; a mean over fewer units than
    the table's says so: "31.00 (2 of 3)"; "n/a" and "" where nothing was scored."""
    d = metric_digits(metric)
    if row["n"] == 0:
        return "n/a", ""
    mean = f"{row['mean']:.{d}f}"
    if row["n"] < row["n_units"]:
        mean += f" ({row['n']} of {row['n_units']})"
    return mean, f"[{row['ci_low']:.{d}f}, {row['ci_high']:.{d}f}]"


def _value(row, metric: str) -> str:
    """One cell of a metric table: "31.00 [30.00, 32.00]", "0.3100 [0.3000, 0.3200] (2 of 3)", "n/a"."""
    mean, interval = _value_parts(row, metric)
    if not interval:
        return mean
    number, _, count = mean.partition(" ")
    return f"{number} {interval}" + (f" {count}" if count else "")


def metric_frame(part: pd.DataFrame, metric: str, cell=_value) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The cells of one table as ``cell`` makes them from a row of :func:`cell_stats` (text by default;
    rows resamplers, columns targets) and their ranks (0, 1, 2); "-" where a resampler has no row."""
    cols = list(by_scale(part.loc[part["target"] != FULL]).index)
    ranks = _ranks(part, metric)
    text, rank = {}, {}
    for resampler, rows in part.groupby("resampler", sort=False):
        by = rows.set_index("target")
        name = resampler
        if list(by.index) == [FULL]:
            name = f"{resampler} (no resampling)"
            text[name] = {t: cell(by.loc[FULL], metric) for t in cols}
            rank[name] = {t: 0 for t in cols}
        else:
            text[name] = {t: cell(by.loc[t], metric) if t in by.index else "-" for t in cols}
            rank[name] = {t: ranks.get((resampler, t), 0) for t in cols}
    return pd.DataFrame(text, dtype=object).T[cols], pd.DataFrame(rank).T[cols]


def _markdown(text: pd.DataFrame, rank: pd.DataFrame) -> str:
    marked = text.copy()
    for r in text.index:
        for c in text.columns:
            marked.loc[r, c] = {1: f"**{text.loc[r, c]}**", 2: f"*{text.loc[r, c]}*"}.get(rank.loc[r, c], text.loc[r, c])
    marked.index.name = "resampler"
    return marked.to_markdown()


def _metric_latex(part: pd.DataFrame, metric: str, caption: str, label: str) -> str:
    """The LaTeX tables of one metric's block: a resampler's mean on line 1 (best bold, second
    underlined), its interval below it; "(no resampling)" below the full-resolution row's name."""
    cells, rank = metric_frame(part, metric, cell=_value_parts)
    rows = []
    for name in cells.index:
        base = name.removesuffix(" (no resampling)")
        first = [(str(base), "(no resampling)" if name != base else "", 0)]
        rows.append(first + [(*(v if isinstance(v, tuple) else (v, "")), int(rank.loc[name, t]))
                             for t, v in cells.loc[name].items()])
    head = [("resampler", "")] + [(str(t), "") for t in cells.columns]
    return tex_tables(caption, label, head, rows)


def _over(n_images: int, seeds: str) -> str:
    """What a table's means are over: "3 test images x 2 seeds (0, 1)", or ", seed 0" with one seed."""
    return over_units(n_images, seeds.split(",") if seeds else [])


def _title(dataset, backbone, block: pd.DataFrame, seeds: str, metric: str) -> str:
    over = _over(int(block["n_images"].max()), seeds)
    return f"{dataset} / {backbone}: {metric_label(metric)} {arrow(metric)}, mean [95% interval] over {over}"


def comparisons(df: pd.DataFrame, metrics, learned, n_boot: int = N_BOOT, seed: int = 0,
                only: set[tuple[str, str]] | None = None) -> pd.DataFrame:
    """Each learned resampler present against every other resampler (variants of one part type only
    against the first of them: :func:`lmar.report.stats.learned_pairs`), per dataset, backbone, target,
    within the table blocks of :func:`lmar.report.blocks.seed_groups`: over the seeds both ran with (the
    largest such set; column ``seeds``) and the test images every row of that table shares, so that
    a pair is compared on exactly the units its table's means are over. With ``only``, those of the
    pairs ``(a, b)`` alone (each pair's interval is its own bootstrap: the same as among all pairs)."""
    out = []
    for _, both in df.groupby(["dataset", "backbone"], sort=False):
        done: set = set()
        for chosen, block in seed_groups(both):
            resampled = block[block["target"] != FULL]  # the full-resolution row has no target to pair with
            present = list(dict.fromkeys(resampled["resampler"]))
            kinds = resampled.get("resampler_type", pd.Series(dtype=object, index=resampled.index))
            types = dict(zip(resampled["resampler"], kinds)) if kinds.notna().all() else None  # untyped: every pair
            pairs = [p for p in learned_pairs(present, [a for a in learned if a in present], types)
                     if p not in done and (only is None or p in only)]
            if pairs:
                cmp = compare(resampled, [m for m in metrics if m in df], pairs, n_boot=n_boot, seed=seed)
                out.append(cmp.assign(seeds=",".join(map(str, chosen))))
                done.update(pairs)
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def _printed_zero(value: float, digits: int) -> bool:
    """Whether ``value`` prints as zero ("0.00", "-0.00", "+0.0000") with ``digits`` decimals."""
    return float(f"{value:.{digits}f}") == 0


def _difference(row, metric: str) -> tuple[str, str, str]:
    """(mean, interval, win rate and mark) of one paired comparison as text: "+0.83",
    "[+0.50, +1.00]", "100% †"; ("-", "", "") where there is none.

    The dagger marks an interval that excludes 0, and the reader must be able to see that it does.
    So a significant difference is printed with the fewest decimals, from the metric's own
    (:func:`metric_digits`) up to :data:`EXTRA_DIGITS` more, at which its mean and both bounds print as
    numbers other than zero: -0.0004 [-0.0007, -0.0001] of PSNR prints so (at 2 decimals it would be
    "-0.00 [-0.00, -0.00]", at 3 "[-0.001, -0.000]"). A difference still printed as zero at the
    cap (a gap below a millionth of a dB) gets no dagger: the table does not claim what it cannot
    show. One that is not significant keeps the metric's decimals."""
    if pd.isna(row["mean_diff"]):
        return "-", "", ""
    values = (row["mean_diff"], row["ci_low"], row["ci_high"])
    d, dagger = shown_digits(values, metric, bool(row["significant"]))
    mean, low, high = (f"{v:+.{d}f}" for v in values)
    return mean, f"[{low}, {high}]", f"{row['win_rate']:.0%}{' †' if dagger else ''}"


def shown_digits(values, metric: str, significant: bool) -> tuple[int, bool]:
    """(decimals, dagger) of a paired difference whose mean and bounds are ``values``: the metric's
    own decimals (:func:`metric_digits`) and no dagger where it is not ``significant``; else the fewest
    decimals, up to :data:`EXTRA_DIGITS` more, at which all three print as numbers other than zero,
    with the dagger, or the metric's own and no dagger where none does (see :func:`_difference`)."""
    d = metric_digits(metric)
    if significant:
        shown = [k for k in range(d, d + EXTRA_DIGITS + 1) if not any(_printed_zero(v, k) for v in values)]
        if shown:
            return shown[0], True
    return d, False


def _comparison_cells(cmp: pd.DataFrame, metric: str) -> dict[str, dict[str, tuple[str, str, str]]]:
    """{pair "a - b": {target: :func:`_difference`}} of one metric, targets in order of appearance."""
    part = cmp[cmp["metric"] == metric]
    cols = list(dict.fromkeys(part["target"]))
    cells = {}
    for (a, b), rows in part.groupby(["a", "b"], sort=False):
        by = rows.set_index("target")
        cells[f"{a} - {b}"] = {t: _difference(by.loc[t], metric) if t in by.index else ("-", "", "") for t in cols}
    return cells


WIN_RATE = ("The win rate is the share of the paired units (an image at a seed) where a scores better than b, "
            "a tie counting half")
PAIRED_INTERVAL = ("Each paired interval is the wider of the percentile bootstrap's and Student's t over the images "
                   "(each averaged over its seeds) and, with several seeds, over the seeds (each averaged over its "
                   "images): with few images the bootstrap alone is narrower than the true uncertainty; with many "
                   "the two agree.")


def _comparison_markdown(cmp: pd.DataFrame, metric: str) -> str:
    cells = _comparison_cells(cmp, metric)
    frame = pd.DataFrame({pair: {t: " ".join(p for p in parts if p) for t, parts in row.items()}
                          for pair, row in cells.items()}).T
    frame.index.name = "pair"
    return frame.to_markdown()


def _comparison_latex(cmp: pd.DataFrame, metric: str, caption: str, label: str) -> str:
    """The LaTeX tables of one metric's paired comparisons: the mean difference, win rate and dagger
    on line 1, the interval below."""
    cells = _comparison_cells(cmp, metric)
    cols = list(next(iter(cells.values())))
    rows = [[(pair, "", 0)] + [(" ".join(p for p in (mean, win) if p), interval, 0)
                               for mean, interval, win in (row[t] for t in cols)]
            for pair, row in cells.items()]
    return tex_tables(caption, label, [("pair", "")] + [(str(t), "") for t in cols], rows)


def render(df: pd.DataFrame, metrics, learned=(), n_boot: int = N_BOOT, seed: int = 0) -> tuple[str, str, pd.DataFrame]:
    """(Markdown, LaTeX, tidy CSV frame) of every table of ``df``: per metric, then the paired
    comparisons; every LaTeX table labelled "tab:" dataset-backbone-metric (-paired for a comparison;
    the seeds too for a block other than a dataset and backbone's first: :func:`lmar.report.latex.label_maker`)."""
    metrics = [m for m in metrics if m in METRICS]
    stats = cell_stats(df, metrics, n_boot, seed)
    md, tex = [], []
    label = label_maker()
    for (dataset, backbone, seeds), block in stats.groupby(["dataset", "backbone", "seeds"], sort=False):
        for metric in metrics:
            part = block[block["metric"] == metric]
            text, rank = metric_frame(part, metric)
            title = _title(dataset, backbone, part, seeds, metric)
            md += [f"### {title}\n", _markdown(text, rank), ""]
            tex += [_metric_latex(part, metric, title, label(dataset, backbone, seeds, metric)), ""]
    cmp = comparisons(df, metrics, learned, n_boot, seed) if learned else pd.DataFrame()
    if len(cmp):
        md.append("## Paired differences: mean [95% interval] per image, win rate; † the interval excludes 0\n")
        md.append(f"{WIN_RATE}.\n")
        md.append(PAIRED_INTERVAL + "\n")
        for (dataset, backbone, seeds), part in cmp.groupby(["dataset", "backbone", "seeds"], sort=False):
            for metric in metrics:
                if (part["metric"] == metric).any():
                    over = _over(int(part["n_images"].max()), seeds)
                    title = f"{dataset} / {backbone}: {metric_label(metric)} {arrow(metric)} (over {over})"
                    md += [f"### {title}\n", _comparison_markdown(part, metric), ""]
                    caption = (f"{dataset} / {backbone}, paired differences: {metric_label(metric)} "
                               f"{arrow(metric)}, mean a - b per image, win rate, † the interval excludes 0 "
                               f"(below: 95% interval, the wider of the bootstrap's and Student's t), over {over}; "
                               f"{WIN_RATE[0].lower()}{WIN_RATE[1:]}")
                    tex += [_comparison_latex(part, metric, caption,
                                              label(dataset, backbone, seeds, metric, "paired")), ""]
    tidy = pd.concat([stats.assign(kind="mean"), cmp.assign(kind="paired")], ignore_index=True) if len(cmp) else stats
    return "\n".join(md), "\n".join(tex), tidy
