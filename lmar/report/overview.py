"""The overview tables of ``table.md``: per (dataset, backbone) and table block, rows resamplers,
columns targets (scales), cells mean PSNR / SSIM, and the gain row of the config's ``report.gain``
pair (a paired difference with its interval, :mod:`lmar.report.verdicts`)."""

from __future__ import annotations

import logging

import pandas as pd

from lmar.core.metric_table import METRICS
from lmar.report.blocks import over_units, seed_groups
from lmar.run.targets import FULL

log = logging.getLogger(__name__)

SHOWN = ("psnr", "ssim")  # the overview's metrics, in the order of its cells


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Mean PSNR and SSIM over test images per dataset, backbone, resampler and target."""
    keys = ["dataset", "backbone", "resampler", "target"]
    return (
        df.groupby(keys, sort=False)
        .agg(scale=("scale", "first"), **{m: (m, "mean") for m in SHOWN}, n=("image", "count"),
             **{f"n_{m}": (m, "count") for m in SHOWN})
        .reset_index()
    )


def _cell(row) -> str:
    """PSNR / SSIM of one summary row; a mean over fewer rows than the cell has says so: "(2 of 3)"."""
    return " / ".join(f"{getattr(row, m):.{METRICS[m].digits}f}" + (f" ({getattr(row, 'n_' + m)} of {row.n})"
                                                                    if getattr(row, "n_" + m) < row.n else "")
                      for m in SHOWN)


def markdown_table(df: pd.DataFrame, gain: tuple[str, str] | None = ("lmar", "bicubic"),
                   left_out: list[str] | None = None, notes: dict | None = None) -> str:
    """The compact PSNR / SSIM tables; a gain pair that did not run is noted in ``left_out``.
    ``notes``: {(dataset, backbone): lines} written under that dataset and backbone's last table
    (the verdicts of :func:`lmar.report.verdicts.block_notes`)."""
    out = []
    for (dataset, backbone), both in df.groupby(["dataset", "backbone"], sort=False):
        for chosen, rows in seed_groups(both):
            _one_table(rows, dataset, backbone, chosen, gain, out, left_out if left_out is not None else [])
        out += [f"{line}\n" for line in (notes or {}).get((dataset, backbone), [])]
    return "\n".join(out)


def _one_table(rows: pd.DataFrame, dataset: str, backbone: str, chosen: list, gain, out: list,
               left_out: list[str]) -> None:
    """Append one Markdown table (rows resamplers, columns targets) of ``rows``, over seeds ``chosen``."""
    part = summary(rows)
    cols = list(dict.fromkeys(t for t in part["target"] if t != FULL))
    over = over_units(rows["image"].nunique(), chosen)
    out.append(f"### {dataset} / {backbone}: {' / '.join(METRICS[m].label for m in SHOWN)}, mean over {over}\n")
    out.append("| resampler | " + " | ".join(cols) + " |")
    out.append("|---" * (len(cols) + 1) + "|")
    for name, one in part.groupby("resampler", sort=False):
        by_target = one.set_index("target")
        if list(by_target.index) == [FULL]:  # no resampling: the ceiling, the same in every column
            cells = [_cell(by_target.loc[FULL])] * len(cols)
            name = f"{name} (no resampling)"
        else:
            cells = [_cell(by_target.loc[t]) if t in by_target.index else "-" for t in cols]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    if gain and set(gain) <= set(part["resampler"]):
        cells = [_gain_cell(rows, *gain, t) for t in cols]
        out.append(f"| **{gain[0]} - {gain[1]}** | " + " | ".join(cells) + " |")
    elif gain:
        absent = [g for g in gain if g not in set(part["resampler"])]
        out.append(f"\nNo {gain[0]} - {gain[1]} row here: {', '.join(absent)} did not run with these "
                   "backbone and seeds (config key report.gain).")
        note = (f"gain pair {gain[0]} - {gain[1]}: {', '.join(absent)} not in the table of {dataset} / {backbone}"
                + (f" (seeds {', '.join(map(str, chosen))})" if chosen else "") + " (config key report.gain)")
        log.warning("left out: %s", note)
        left_out.append(note)
    out.append("")


def _gain_cell(rows: pd.DataFrame, a: str, b: str, target: str) -> str:
    """One cell of the gain row: the mean paired difference ``a - b`` of PSNR / SSIM at ``target``,
    over the (seed, image) units both have a value for (never a difference of two means over other
    images), with its paired 95% interval (:func:`lmar.report.stats.paired_mean_ci`) and † where that
    excludes 0, "within noise" where it includes it (:func:`lmar.report.verdicts.gain_text`); "-" where
    either did not run there, "(n of N)" where a value is missing for some units."""
    from lmar.report.verdicts import gain_text, paired_interval

    keys = [k for k in ("seed", "image") if k in rows]
    sides = [rows.loc[(rows["resampler"] == name) & (rows["target"] == target), keys + list(SHOWN)]
             for name in (a, b)]
    both = sides[0].merge(sides[1], on=keys, how="inner", suffixes=("_a", "_b"))
    if both.empty:
        return "-"
    text = []
    for metric in SHOWN:
        diff = both.assign(diff=both[f"{metric}_a"].astype(float) - both[f"{metric}_b"].astype(float))
        diff = diff.dropna(subset=["diff"])
        text.append("n/a" if diff.empty else gain_text(*paired_interval(diff), metric)
                    + (f" ({len(diff)} of {len(both)})" if len(diff) < len(both) else ""))
    return " / ".join(text)
