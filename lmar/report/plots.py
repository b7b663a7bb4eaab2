"""Seaborn plots from the results store only (PNG and PDF each)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from lmar.core.errors import LmarError
from lmar.report.blocks import by_scale, finite_scores, table_blocks
from lmar.report.plot_latency import quality_latency
from lmar.report.plot_style import panels, resampler_styles, save_figure
from lmar.report.store import load_results
from lmar.report.tables import N_BOOT, shown_digits
from lmar.report.verdicts import kept_initial_weights_star, kept_initial_weights_title
from lmar.run.targets import FULL


def write_plots(results: Path, out_psnr: Path, out_gain: Path | None = None, out_latency: Path | None = None,
                gain: tuple[str, str] = ("lmar", "bicubic")) -> None:
    """Every plot of a results file (the store), PNG and PDF each; infinite scores are left out of
    them as out of the tables (:func:`lmar.report.blocks.finite_scores`, a warning in the log). ``gain`` is
    the heatmap's pair; its second is the baseline of the scale figure's paired differences."""
    df = finite_scores(load_results([results]))
    missing = [c for c in ("psnr", *(("time_s",) if out_latency is not None else ())) if c not in df]
    if missing:
        raise LmarError(f"results file {results} lacks column(s) {missing}, which the figures plot; gather it from "
                        "evaluations that record them")
    save_figure(psnr_figure(df, gain[1]).figure, out_psnr)
    if out_gain is not None:
        save_figure(gain_heatmap(df, gain), out_gain)
    if out_latency is not None:
        save_figure(quality_latency(df).figure, out_latency)


HEATMAP_MIN_DB = 0.25  # the colour scale of the gain heatmap spans at least this many dB each way
NOISE_GREY = "#d9d9d9"  # the gain heatmap's cells whose paired interval holds 0


def gain_heatmap(df: pd.DataFrame, gain: tuple[str, str]):
    """Mean PSNR gain of ``gain[0]`` over ``gain[1]`` (paired per image and seed), backbone x target
    size, one panel per dataset; each backbone's over the rows of the first table block holding both
    (as the table's gain row is); a cell the pair did not both run is blank and says so in the title.

    Each cell reads as the table's gain row: its mean with a dagger where the paired 95% interval
    excludes 0 (:func:`lmar.report.stats.compare`, as table_stats.csv), coloured only there (a cell within
    noise is grey, whatever its mean, and does not set the colour scale); a backbone on which ``gain[0]``
    kept its initial weights (early stopping) at some seed is starred, the star explained in the title
    with the seeds where not at every one (:func:`lmar.report.verdicts.kept_initial_weights_star`), so
    that a pale row is not read as a trained method that gained nothing."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    from lmar.report.stats import compare

    a, b = gain
    # per dataset and backbone, the first table block holding both: the units of its table's gain row
    blocks = _first_blocks_with(df, {a, b})
    rows = pd.concat(blocks, ignore_index=True) if blocks else df.iloc[:0]
    stats = compare(rows, ["psnr"], [(a, b)], n_boot=N_BOOT, seed=0) if blocks else pd.DataFrame()
    datasets = list(dict.fromkeys(df["dataset"]))
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 3.4), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        part = stats[stats["dataset"] == dataset].dropna(subset=["mean_diff"]) if len(stats) else stats
        if part.empty:
            ax.set_title(f"{dataset}: {a} or {b} did not run")
            ax.axis("off")
            continue
        mine = rows[rows["dataset"] == dataset]
        targets = list(by_scale(mine[mine["resampler"] == a]).index)
        backbones = list(dict.fromkeys(part["backbone"]))  # the tables' order
        table = part.pivot(index="backbone", columns="target", values="mean_diff").reindex(backbones)
        table = table[[t for t in targets if t in table.columns]]
        labels = table.copy().astype(object)
        for r in part.itertuples():  # as the paired tables print it: enough decimals that a dagger is seen
            if r.backbone in labels.index and r.target in labels.columns and not pd.isna(r.mean_diff):
                digits, dagger = shown_digits((r.mean_diff, r.ci_low, r.ci_high), "psnr", bool(r.significant))
                labels.loc[r.backbone, r.target] = f"{r.mean_diff:+.{digits}f}" + ("\u2020" if dagger else "")
        labels = labels.where(table.notna(), "").to_numpy()
        significant = part.pivot(index="backbone", columns="target", values="significant").reindex(
            index=table.index, columns=table.columns).fillna(False).astype(bool)
        untrained, kept_note = kept_initial_weights_star(mine, a, backbones)
        # colour only where the interval excludes 0: a gain within noise is grey whatever its mean, so that a
        # large but uncertain mean does not look like a finding (nor set the colour scale); the scale spans at
        # least +-0.25 dB, so that hundredths of a dB stay pale rather than look like large gains
        shown = table.where(significant)
        limit = max(float(shown.abs().max().max()) if shown.notna().any().any() else 0.0, HEATMAP_MIN_DB)
        sig, missing = significant.to_numpy(), table.isna().to_numpy()
        sns.heatmap(shown, annot=labels, fmt="", cmap="RdBu", vmin=-limit, vmax=limit, ax=ax,
                    mask=~sig | missing, cbar_kws={"label": "dB"})
        if not (sig | missing).all():  # the within-noise cells, in one grey, their means printed as the others'
            sns.heatmap(table, annot=labels, fmt="", cmap=[NOISE_GREY], mask=sig | missing, cbar=False, ax=ax)
        ax.set_yticklabels([f"{bb} *" if bb in untrained else bb for bb in table.index])
        notes = "\u2020 paired 95% interval excludes 0; grey: holds 0" + kept_note
        ax.set_title(f"{dataset}: PSNR {a} - {b}\n{notes}", fontsize=10)
        ax.set_xlabel("target size")
        ax.set_ylabel("backbone")
    fig.tight_layout()
    return fig


def _first_blocks_with(df: pd.DataFrame, names: set) -> list[pd.DataFrame]:
    """Per dataset and backbone, the rows of the first table block (:func:`lmar.report.blocks.table_blocks`)
    where every resampler of ``names`` has rows."""
    out, seen = [], set()
    for dataset, backbone, _, rows in table_blocks(df, []):
        if (dataset, backbone) not in seen and names <= set(rows["resampler"]):
            seen.add((dataset, backbone))
            out.append(rows)
    return out


DIFFERENCE, ABSOLUTE = "difference", "absolute"  # the two rows of the scale figure
SAME_FACTOR = 0.02  # targets whose factors differ by less than this (log2) are at one factor ...
SPREAD = 0.12  # ... and are drawn this far apart (log2) around it, so that each stays a point of its own
DODGE = 0.02  # log2 step between the resamplers' intervals at one target (difference row), so none hides another


def psnr_figure(df: pd.DataFrame, baseline: str = "lanczos3"):
    """PSNR against the target's downscaling factor (log2 axis, a tick per target named for it), one
    column per table block (:func:`panels`: every resampler of it over the same images and seeds).

    Top row: each resampler's paired difference to ``baseline`` (the gain pair's second, config
    ``report.gain``): the mean over (image, seed) pairs of psnr(resampler) - psnr(baseline) at the
    same target, with its paired 95% interval (:func:`lmar.report.stats.compare`, as the table's
    statistics: images and seeds resampled, seed 0, widened to Student's t with few images; a pair only
    where both have the unit, an image missing at one seed leaving that target's comparison); the
    baseline is the line at 0. Bottom row: each resampler's mean PSNR (points and lines, no band: the
    spread over images is not the uncertainty of a comparison), and the full-resolution ceiling as a dashed line labelled where no data is. A
    panel's title names the trainable resamplers that kept their initial weights there (early
    stopping): their points are the untrained parts'."""
    import matplotlib

    matplotlib.use("Agg")
    import seaborn as sns
    from matplotlib.lines import Line2D

    names, colours, markers = resampler_styles(df)
    df = panels(df)
    order = list(dict.fromkeys(df["panel"]))
    facets = pd.DataFrame([(v, p) for v in (DIFFERENCE, ABSOLUTE) for p in order], columns=["view", "panel"])
    grid = sns.FacetGrid(facets, row="view", col="panel", row_order=[DIFFERENCE, ABSOLUTE], col_order=order,
                         sharex=False, sharey=False, height=3.0, aspect=1.35)
    resampled = df[df["target"] != FULL]
    ceilings = []
    for panel in order:
        rows = resampled[resampled["panel"] == panel]
        shown = [n for n in names if n in set(rows["resampler"])]
        positions = target_positions(rows)
        top, bottom = grid.axes_dict[(DIFFERENCE, panel)], grid.axes_dict[(ABSOLUTE, panel)]
        _difference_panel(top, rows, positions, baseline, [n for n in shown if n != baseline], colours, markers)
        kept = kept_initial_weights_title(rows, shown)
        top.set_title(f"{panel}\nPSNR - {baseline}, paired, 95% CI{kept}", fontsize="medium")
        full = df[(df["panel"] == panel) & (df["target"] == FULL)].groupby("resampler", sort=False)["psnr"].mean()
        _absolute_panel(bottom, rows, positions, shown, colours, markers, full.to_dict())
        bottom.set_title("mean PSNR", fontsize="medium")
        bottom.set_xlabel("downscaling factor (log2 axis)")
        ceilings += [(bottom, f"{name} (no resampling): {level:.2f} dB", level) for name, level in full.items()]
    shown = [n for n in names if n in set(resampled["resampler"])]
    grid.add_legend(legend_data={n: Line2D([], [], color=colours[n], marker=markers[n]) for n in shown},
                    title="resampler")
    grid.tight_layout()
    if _names_overlap(grid):
        for ax in grid.axes.flat:
            ax.tick_params(axis="x", labelrotation=90)
        grid.tight_layout()
    _label_ceilings(grid, ceilings)
    return grid


def _names_overlap(grid) -> bool:
    """Whether two target names side by side on the x axis of any panel overlap as drawn."""
    grid.figure.canvas.draw()
    renderer = grid.figure.canvas.get_renderer()
    for ax in grid.axes.flat:
        boxes = sorted((t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text()),
                       key=lambda box: box.x0)
        if any(a.x1 + 2 > b.x0 for a, b in itertools.pairwise(boxes)):
            return True
    return False


def _label_ceilings(grid, ceilings: list) -> None:
    """Each ceiling's label, placed last (:func:`_label_clear_of_data`: by where the data ended up in
    the figure); where one had to go to its panel's title, the layout is made again for the longer
    title and the other labels placed anew."""
    placed = [_label_clear_of_data(ax, text, level) for ax, text, level in ceilings]
    if all(label is not None for label in placed):
        return
    for label in placed:
        if label is not None:
            label.remove()
    grid.tight_layout()
    for ax, text, level in ceilings:
        if text not in ax.get_title():
            _label_clear_of_data(ax, text, level)


def target_positions(rows: pd.DataFrame) -> pd.Series:
    """The x of each target of ``rows`` (its mean ``scale``: the downscaling factor by height), in
    order of factor. Targets at one factor (x1.8 at 1200x1600 and x1.8-aspect at 1200x2133) are drawn
    :data:`SPREAD` apart on the log2 axis around it, in the store's order: two points, not one."""
    factor = by_scale(rows)
    positions, group = {}, []
    for name, f in [*factor.items(), (None, None)]:
        if group and (name is None or np.log2(f) - np.log2(factor[group[0]]) >= SAME_FACTOR):
            centre = np.log2(factor[group].to_numpy()).mean()
            for j, member in enumerate(group):
                positions[member] = 2.0 ** (centre + (j - (len(group) - 1) / 2) * SPREAD)
            group = []
        if name is not None:
            group.append(name)
    return pd.Series(positions, dtype=float)


def _factor_axis(ax, positions: pd.Series) -> None:
    """A log2 x axis with one tick per target, at its position, labelled with its name."""
    from matplotlib.ticker import NullLocator

    ax.set_xscale("log", base=2)
    if positions.empty:  # only the full-resolution row ran here: its ceiling alone
        ax.set_xticks([])
        return
    ax.set_xticks(positions.to_numpy(), labels=list(positions.index), fontsize="small")
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlim(positions.min() / 2**0.15, positions.max() * 2**0.15)


def _difference_panel(ax, rows: pd.DataFrame, positions: pd.Series, baseline: str, others: list, colours: dict,
                      markers: dict) -> None:
    """Each of ``others``' paired PSNR difference to ``baseline`` at each target, with its interval."""
    from lmar.report.stats import compare

    if baseline not in set(rows["resampler"]) or not others:
        why = f"{baseline} (the gain baseline) did not run here" if baseline not in set(rows["resampler"]) \
            else f"no resampler besides {baseline} ran here"
        ax.text(0.5, 0.5, f"no paired difference:\n{why}", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    stats = compare(rows, ["psnr"], [(n, baseline) for n in others], n_boot=N_BOOT, seed=0)  # as table_stats.csv
    stats = stats[stats["mean_diff"].notna()].assign(x=lambda s: s["target"].map(positions)).sort_values("x")
    ax.axhline(0, color=colours[baseline], lw=1.5, zorder=1)  # the baseline itself
    for i, name in enumerate(others):
        s = stats[stats["a"] == name]
        x = s["x"] * 2 ** ((i - (len(others) - 1) / 2) * DODGE)
        ax.vlines(x, s["ci_low"], s["ci_high"], color=colours[name], lw=1.5)
        ax.plot(x, s["mean_diff"], color=colours[name], marker=markers[name], ms=5, lw=1, label=name)
    _factor_axis(ax, positions)
    ax.set_ylabel(f"PSNR - {baseline} (dB)")


def _absolute_panel(ax, rows: pd.DataFrame, positions: pd.Series, shown: list, colours: dict, markers: dict,
                    ceilings: dict) -> None:
    """Each resampler's mean PSNR at each target, at the target's position (points and lines only),
    and each level of ``ceilings`` (full-resolution resampler: mean PSNR) as a dashed grey line."""
    means = rows.groupby(["resampler", "target"], sort=False)["psnr"].mean()
    for name in shown:
        m = means[name].to_frame("psnr").assign(x=lambda t: t.index.map(positions)).sort_values("x")
        ax.plot(m["x"], m["psnr"], color=colours[name], marker=markers[name], ms=5, lw=1.2, label=name)
    for level in ceilings.values():
        ax.axhline(level, ls="--", c="grey", lw=1, gid="ceiling")
    _factor_axis(ax, positions)
    ax.set_ylabel("mean PSNR (dB)")
    low, high = ax.get_ylim()
    ax.set_ylim(low, high + 0.12 * (high - low))  # room for the ceiling's label above it


def _data_points(ax) -> np.ndarray:
    """Display coordinates of the data lines of ``ax`` (not the ceiling), sampled along each segment."""
    out = [np.empty((0, 2))]
    for line in ax.lines:
        if line.get_gid() == "ceiling":
            continue
        xy = line.get_transform().transform(np.asarray(line.get_xydata(), dtype=float))
        for a, b in itertools.pairwise(xy):
            out.append(a + np.linspace(0, 1, 25)[:, None] * (b - a))
        out.append(xy)
    return np.concatenate(out)


def _label_clear_of_data(ax, text: str, level: float):
    """``text`` beside the dashed line at ``level``: at its right or left end, above or below it,
    the first place where it stays inside the axes and covers no data (line or point); else the
    line is named in the title. Call once the figure's layout is final."""
    renderer = ax.figure.canvas.get_renderer()
    points, frame = _data_points(ax), ax.get_window_extent(renderer)
    for x, ha, dy, va in ((0.98, "right", 2, "bottom"), (0.02, "left", 2, "bottom"),
                          (0.98, "right", -2, "top"), (0.02, "left", -2, "top")):
        label = ax.annotate(text, (x, level), xycoords=("axes fraction", "data"), xytext=(0, dy),
                            textcoords="offset points", ha=ha, va=va, fontsize="small", color="grey")
        box = label.get_window_extent(renderer).padded(5)  # clear of a marker drawn about its point
        inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
        if inside and not box.count_contains(points):
            return label
        label.remove()
    if text not in ax.get_title():
        ax.set_title(f"{ax.get_title()}\ndashed: {text}", fontsize="medium")
    return None
