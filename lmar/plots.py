"""Seaborn plots from the results store only (PNG and PDF each)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd

from lmar.atomic import atomic_path
from lmar.report import finite_scores, load_results, table_blocks
from lmar.targets import FULL


def _save(fig, out: Path) -> None:
    """``out`` (PNG) and the same figure as PDF beside it, each written whole or not at all."""
    import matplotlib.pyplot as plt

    for path, fmt in ((out, "png"), (out.with_suffix(".pdf"), "pdf")):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=120, format=fmt)
    plt.close("all")


def write_plots(results: Path, out_psnr: Path, out_gain: Path | None = None, out_latency: Path | None = None,
                gain: tuple[str, str] = ("lmar", "bicubic")) -> None:
    """Every plot of a results file (the store), PNG and PDF each; infinite scores are left out of
    them as out of the tables (:func:`lmar.report.finite_scores`, a warning in the log)."""
    df = finite_scores(load_results([results]))
    _save(psnr_figure(df).figure, out_psnr)
    if out_gain is not None:
        _save(gain_heatmap(df, gain), out_gain)
    if out_latency is not None:
        _save(quality_latency(df).figure, out_latency)


MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")


def resampler_styles(df: pd.DataFrame) -> tuple[list[str], dict, dict]:
    """Every resampler of the results, in the order the store lists them, with a colour and a marker
    each: a resampler keeps its colour and marker in every figure of a run, whichever of the others
    a figure shows (seaborn would otherwise colour each figure's own hue levels in turn)."""
    import seaborn as sns

    names = list(dict.fromkeys(df["resampler"].astype(str)))
    colours = sns.color_palette("tab10" if len(names) <= 10 else "husl", len(names))
    return names, dict(zip(names, colours)), {n: MARKERS[i % len(MARKERS)] for i, n in enumerate(names)}


def _styled(names: list[str], colours: dict, markers: dict, shown) -> dict:
    """The hue and style keyword arguments of a seaborn call that shows the resamplers ``shown``."""
    order = [n for n in names if n in set(shown)]
    return {"hue_order": order, "style_order": order, "palette": {n: colours[n] for n in order},
            "markers": {n: markers[n] for n in order}}


def panels(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of every table block (:func:`lmar.report.table_blocks`: over the images and seeds its
    rows share), with a column ``panel`` naming it: "dataset / backbone", and its seeds where the pair
    has several blocks (e.g. ablations run with one seed). A resampler's mean in a plot is then over
    the same units as every other resampler's beside it, and as in the table of the same block."""
    blocks = table_blocks(df, [])
    count = Counter((dataset, backbone) for dataset, backbone, _, _ in blocks)
    frames = []
    for dataset, backbone, chosen, rows in blocks:
        label = f"{dataset} / {backbone}"
        if count[(dataset, backbone)] > 1:
            label += f" (seed{'s' * (len(chosen) > 1)} {', '.join(map(str, chosen))})"
        frames.append(rows.assign(panel=label))
    return pd.concat(frames, ignore_index=True) if frames else df.assign(panel=pd.Series(dtype=str))


HEATMAP_MIN_DB = 0.25  # the colour scale of the gain heatmap spans at least this many dB each way


def gain_heatmap(df: pd.DataFrame, gain: tuple[str, str]):
    """Mean PSNR gain of ``gain[0]`` over ``gain[1]`` (paired per image and seed), backbone x target
    size, one panel per dataset; each backbone's over the rows of the first table block holding both
    (as the table's gain row is); a cell the pair did not both run is blank and says so in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    a, b = gain
    keys = ["dataset", "backbone", "target", "seed", "image"]
    # per dataset and backbone, the first table block holding both: the units of its table's gain row
    blocks = _first_blocks_with(df, {a, b})
    rows = pd.concat(blocks, ignore_index=True) if blocks else df.iloc[:0]
    both = rows[rows["resampler"] == a].merge(rows[rows["resampler"] == b], on=keys, suffixes=("_a", "_b"))
    datasets = list(dict.fromkeys(df["dataset"]))
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 3.2), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        part = both[both["dataset"] == dataset].assign(gain=lambda d: d["psnr_a"] - d["psnr_b"])
        if part.empty:
            ax.set_title(f"{dataset}: {a} or {b} did not run")
            ax.axis("off")
            continue
        order = part.groupby("target")["scale_a"].mean().sort_values(kind="stable").index
        table = part.pivot_table(index="backbone", columns="target", values="gain", aggfunc="mean")[order]
        # at least +-0.25 dB, so that hundredths of a dB stay pale rather than look like large gains
        limit = max(abs(table.min().min()), abs(table.max().max()), HEATMAP_MIN_DB)
        sns.heatmap(table, annot=True, fmt="+.2f", cmap="RdBu", vmin=-limit, vmax=limit, ax=ax,
                    cbar_kws={"label": "dB"})
        ax.set_title(f"{dataset}: PSNR {a} - {b}")
        ax.set_xlabel("target size")
    fig.tight_layout()
    return fig


def _first_blocks_with(df: pd.DataFrame, names: set) -> list[pd.DataFrame]:
    """Per dataset and backbone, the rows of the first table block (:func:`lmar.report.table_blocks`)
    where every resampler of ``names`` has rows."""
    out, seen = [], set()
    for dataset, backbone, _, rows in table_blocks(df, []):
        if (dataset, backbone) not in seen and names <= set(rows["resampler"]):
            seen.add((dataset, backbone))
            out.append(rows)
    return out


def quality_latency(df: pd.DataFrame):
    """PSNR against end-to-end milliseconds per image (mean over images and seeds), one point per
    resampler and target size, one panel per table block (:func:`panels`): what speed buys what quality."""
    import matplotlib

    matplotlib.use("Agg")
    import seaborn as sns

    styles = resampler_styles(df)
    d = panels(df)
    d = d.assign(ms=d["time_s"] * 1000.0)
    mean = d.groupby(["panel", "resampler", "target"], sort=False).agg(psnr=("psnr", "mean"), ms=("ms", "mean"))
    grid = sns.relplot(data=mean.reset_index(), x="ms", y="psnr", hue="resampler", style="resampler", col="panel",
                       s=60, height=3.5, aspect=1.2, facet_kws={"sharex": False, "sharey": False},
                       **_styled(*styles, d["resampler"]))
    for panel, ax in grid.axes_dict.items():  # which target each point is
        for (resampler, target), r in mean.loc[panel].iterrows():
            ax.annotate(target, (r["ms"], r["psnr"]), xytext=(3, 3), textcoords="offset points", fontsize=6,
                        color="grey")
    grid.set_axis_labels("end-to-end time per image (ms)", "PSNR (dB)")
    grid.set_titles("{col_name}")
    return grid


def psnr_figure(df: pd.DataFrame):
    """Mean PSNR over test images (and seeds) at each target size, ordered by downscaling factor,
    one panel per table block (:func:`panels`: every resampler of it over the same images and
    seeds); the full-resolution ceiling as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import seaborn as sns

    styles = resampler_styles(df)
    df = panels(df)  # every resampler of a panel over the same images and seeds
    full = df[df["target"] == FULL]
    resampled = df[df["target"] != FULL].copy()
    # x is the target's name, in order of its mean factor: two targets at one factor (x1.8 at the
    # authors' 1200x1600 and x1.8-aspect at 1200x2133) stay two points instead of being averaged
    order = resampled.groupby("target")["scale"].mean().sort_values(kind="stable").index.tolist()
    resampled["target"] = pd.Categorical(resampled["target"], categories=order, ordered=True)
    grid = sns.relplot(
        # style as well as hue: a marker shape and dash per resampler, so that two resamplers with
        # nearly equal scores (lanczos3 and bicubic here) stay visible where their lines overlap
        data=resampled.sort_values("target"), x="target", y="psnr", hue="resampler", style="resampler",
        col="panel", kind="line", errorbar=("ci", 95), seed=0, height=3.5, aspect=1.2, sort=False,
        facet_kws={"sharey": False}, **_styled(*styles, resampled["resampler"]),
    )
    for panel, ax in grid.axes_dict.items():
        ceiling = full[full["panel"] == panel]
        for name, rows in ceiling.groupby("resampler"):
            level = rows["psnr"].mean()
            ax.axhline(level, ls="--", c="grey", lw=1)
            ax.annotate(f"{name} (no resampling)", (0.02, level), xycoords=("axes fraction", "data"),
                        va="bottom", fontsize="small", color="grey")
        ax.set_xlabel("target size (by downscaling factor)")
        ax.set_ylabel("PSNR (dB)")
    grid.set_titles("{col_name}")
    return grid


def training_curves(curves, root: Path, out: Path) -> None:
    """One panel per training job (its curve CSV, :mod:`lmar.curves`): each loss part against the
    epoch (log scale), labelled by the job's path under ``root``. A curve without rows (weights
    converted, not trained) gets an empty, labelled panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    from lmar.errors import LmarError

    frames, jobs = [], []
    for path in map(Path, curves):
        try:
            df = pd.read_csv(path)
        except (OSError, ValueError) as exc:
            raise LmarError(f"cannot read training curve {path}: {exc}") from None
        job = str(path.relative_to(root) if path.is_relative_to(root) else path).removesuffix(".curve.csv")
        parts = [c for c in df.columns if c not in ("epoch", "lr", "seconds")]
        long = df.melt(id_vars=["epoch"], value_vars=parts, var_name="loss", value_name="value") if parts else \
            pd.DataFrame({"epoch": [], "loss": [], "value": []})
        frames.append(long.assign(job=job))
        jobs.append(job)
    if not frames:
        raise LmarError("no training curves given")
    data = pd.concat(frames, ignore_index=True)
    grid = sns.FacetGrid(data, col="job", col_order=jobs, col_wrap=min(4, len(jobs)), sharex=False, sharey=False,
                         height=2.6, aspect=1.3)  # each job its own epochs and loss range
    grid.map_dataframe(sns.lineplot, x="epoch", y="value", hue="loss", marker="o", markersize=3)
    for ax in grid.axes.flat:
        if ax.has_data():
            ax.set_yscale("log")
            ax.legend(fontsize="x-small")
    grid.set_titles("{col_name}", size="small")
    grid.set_axis_labels("epoch", "loss (mean per epoch)")
    with atomic_path(out) as tmp:
        grid.savefig(tmp, dpi=100, format="png")
    plt.close("all")
