"""The training curves' figure: each training job's losses per epoch and its held-out PSNR, from the
curve CSVs written beside the checkpoints (:mod:`lmar.run.curves`), one panel a job, one legend."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lmar.core.atomic import atomic_path
from lmar.core.errors import LmarError
from lmar.run.curves import BASE_COLUMNS, KEPT, LAST_COLUMNS, START, TOTAL, VAL_PSNR

RELEASED = "released weights:\nnot trained here"  # a header-only curve's panel


def training_curves(curves, root: Path, out: Path) -> None:
    """The training curves' figure (:func:`curves_figure`) as a PNG at ``out``, written whole or not at all."""
    import matplotlib.pyplot as plt

    fig = curves_figure(curves, root)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close("all")


def curves_figure(curves, root: Path):
    """One panel per training job (its curve CSV, :mod:`lmar.run.curves`): each loss part against the
    epoch, labelled by the job's path under ``root``; a row per training cell (:func:`_panel_slots`).
    Parts equal to each other at every epoch are one line, drawn as the component ("l1 (= total)"); a
    part has one colour and marker in every panel (the learned resizer's l1 that is its total has the
    backbone's l1's), named once in one legend beside the panels (never over a curve: "l1 (= total
    where equal)"); a loss spanning a decade or more is on a log axis with labelled ticks, else on a
    linear one. A held-out PSNR
    (``val_psnr``) is dashed on a right-hand axis in dB; with early stopping its first point is the
    initial weights' score (epoch -1, ticked "init") and a star marks the point whose weights were kept
    (column ``kept``). A curve without rows (weights converted, not trained) gets a panel that says so,
    without axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    jobs = [_read_curve(Path(path), root) for path in curves]
    if not jobs:
        raise LmarError("no training curves given")
    columns = list(dict.fromkeys(column for _, _, lines in jobs for column, _ in lines))
    style = {column: {"color": colour, "marker": PART_MARKERS[i % len(PART_MARKERS)]}
             for i, (column, colour) in enumerate(zip(columns, _palette(len(columns))))}
    aliases = {column: dict.fromkeys(a for _, _, lines in jobs for c, names in lines if c == column for a in names)
               for column in columns}
    labels = [_named(column, list(aliases[column]), " where equal") for column in columns]
    slots = _panel_slots([job for job, _, _ in jobs])
    nrows, ncols = max(r for r, _ in slots) + 1, max(c for _, c in slots) + 1
    fig, grid = plt.subplots(nrows, ncols, figsize=(3.2 * ncols + 1.6, 2.6 * nrows), squeeze=False,
                             layout="constrained")
    axes = [grid[slot] for slot in slots]
    for ax, (job, df, lines) in zip(axes, jobs):
        ax.set_title(job, fontsize="small")
        if df.empty or not lines:
            ax.set_axis_off()
            ax.text(0.5, 0.5, RELEASED if df.empty else "no loss recorded", ha="center", va="center",
                    transform=ax.transAxes)
            continue
        for column, equal in lines:
            ax.plot(df["epoch"], df[column], ms=3, lw=1.2, label=_named(column, equal), **style[column])
        _loss_axis(ax, df[[column for column, _ in lines]].to_numpy(dtype=float))
        ax.set_xlabel("epoch", fontsize="small")
        ax.set_ylabel("loss (mean per epoch)" + (", log" if ax.get_yscale() == "log" else ""), fontsize="small")
        if VALIDATION in df.columns:  # a score in dB, not a loss: its own axis on the right
            right = ax.twinx()
            right.plot(df["epoch"], df[VALIDATION], ls="--", lw=1.2, color="black")
            right.set_ylabel("held-out PSNR (dB), dashed", fontsize="small")
            right.tick_params(labelsize="x-small")
            if KEPT in df.columns:  # early stopping: the row whose weights were saved
                kept = df[pd.to_numeric(df[KEPT], errors="coerce") == 1]
                right.plot(kept["epoch"], kept[VALIDATION], ls="", **KEPT_STYLE)
        if (df["epoch"] == START).any():  # the initial weights' score, before any training
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: "init" if v == START else f"{v:g}"))
    for ax in grid.flat:
        if not any(ax is used for used in axes):
            ax.remove()
    handles = [Line2D([], [], ms=4, **style[column]) for column in columns]
    if any(VALIDATION in df.columns for _, df, _ in jobs):
        handles, labels = handles + [Line2D([], [], ls="--", color="black")], labels + ["held-out PSNR (right axis)"]
    if any(KEPT in df.columns for _, df, _ in jobs):
        handles, labels = handles + [Line2D([], [], ls="", **KEPT_STYLE)], labels + [KEPT_LABEL]
    if labels:
        fig.legend(handles, labels, title="loss part", loc="outside right upper", fontsize="small")
    return fig


PANELS_PER_ROW = 4  # a training cell with more jobs than this goes on over the next rows


def _panel_slots(jobs: list[str]) -> list[tuple[int, int]]:
    """(row, column) of each job's panel: each training cell (the job's folder: dataset, backbone and
    seed) starts a row of its own, its jobs in the order given (the backbone's, then its resamplers'),
    at most PANELS_PER_ROW to a row."""
    cells: dict[str, list[int]] = {}
    for i, job in enumerate(jobs):
        cells.setdefault(str(Path(job).parent), []).append(i)
    width = min(PANELS_PER_ROW, max(map(len, cells.values())))
    slots, row = [None] * len(jobs), 0
    for members in cells.values():
        for k, i in enumerate(members):
            slots[i] = (row + k // width, k % width)
        row += -(-len(members) // width)
    return slots


VALIDATION = VAL_PSNR  # a curve's held-out score (lmar.run.train's validation split), drawn on a right-hand axis
KEPT_STYLE = {"marker": "*", "ms": 11, "color": "black", "clip_on": False}  # whole, even at the axes' edge
KEPT_LABEL = "weights kept (best held-out PSNR;\n'init': before training)"


def _read_curve(path: Path, root: Path) -> tuple[str, pd.DataFrame, list[tuple[str, list[str]]]]:
    """(job label, rows, lines) of one curve CSV: the label is its path under ``root``; the lines are
    (column, equal parts) of its loss parts, one per set of parts equal at every epoch (:func:`_same_lines`)."""
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise LmarError(f"cannot read training curve {path}: {exc}") from None
    if "epoch" not in df.columns:
        raise LmarError(f"training curve {path} has no 'epoch' column (it has {list(df.columns)}); "
                        "give the .curve.csv files written beside the checkpoints")
    job = str(path.relative_to(root) if path.is_relative_to(root) else path).removesuffix(".curve.csv")
    parts = [c for c in df.columns if c not in (*BASE_COLUMNS, *LAST_COLUMNS)]  # the loss parts
    return job, df, _same_lines(df, parts)


def _same_lines(df: pd.DataFrame, parts: list[str]) -> list[tuple[str, list[str]]]:
    """(column, the parts equal to it) per distinct loss curve: parts equal at every epoch (to 1e-9
    relative, empty cells alike) are drawn once, as the first of them that is a component, not the
    :data:`TOTAL` that sums them ("l1 (= total)", :func:`_named`)."""
    groups: list[list[str]] = []
    for part in parts:
        values = pd.to_numeric(df[part], errors="coerce").to_numpy(dtype=float)
        same = next((g for g in groups if np.allclose(pd.to_numeric(df[g[0]], errors="coerce").to_numpy(dtype=float),
                                                      values, rtol=1e-9, atol=0, equal_nan=True)), None)
        if same is None:
            groups.append([part])
        else:
            same.append(part)
    drawn = [next((part for part in group if part != TOTAL), group[0]) for group in groups]
    return [(column, [part for part in group if part != column]) for column, group in zip(drawn, groups)]


def _named(column: str, aliases: list[str], where: str = "") -> str:
    """A line's name: the part, and the parts equal to it ("l1 (= total)"; in the legend, which names
    a part once for every panel, "l1 (= total where equal)")."""
    return column + (f" (= {', '.join(aliases)}{where})" if aliases else "")


# the loss parts' own colours and markers: not the resamplers' (tab10 and filled markers, plot_style), so that
# a loss part never reads as a method of the other figures
PART_MARKERS = ("x", "+", "1", "2", "3", "4", "|", "_")


def _palette(n: int) -> list:
    """``n`` distinguishable colours (ColorBrewer Dark2 up to eight), apart from the resamplers' tab10."""
    import seaborn as sns

    return sns.color_palette("Dark2" if n <= 8 else "husl", n)


def _loss_axis(ax, values: np.ndarray) -> None:
    """A log y axis with ticks at 1, 2 and 5 times each power of ten, each labelled, where the positive
    losses span a decade or more; a linear axis otherwise (a log axis would show one tick or none)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

    ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))  # labels clear of each other at 180 epochs
    finite = values[np.isfinite(values)]
    if finite.size and finite.min() > 0 and finite.max() / finite.min() >= 10:
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
    ax.tick_params(labelsize="x-small")
