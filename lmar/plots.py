"""Seaborn plots from results files only."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lmar.atomic import atomic_path
from lmar.report import load_results
from lmar.targets import FULL


def psnr_vs_scale(results: Path, out: Path) -> None:
    """Write :func:`psnr_figure` of a results file as a PNG."""
    import matplotlib.pyplot as plt

    grid = psnr_figure(load_results([results]))
    with atomic_path(out) as tmp:
        grid.savefig(tmp, dpi=120, format="png")
    plt.close("all")


def psnr_figure(df: pd.DataFrame):
    """Mean PSNR over test images (and seeds) at each target size, ordered by downscaling factor,
    one panel per dataset/backbone; the full-resolution ceiling as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import seaborn as sns

    df = df.copy()
    df["panel"] = df["dataset"] + " / " + df["backbone"]
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
        col="panel", kind="line", markers=True, errorbar=None, height=3.5, aspect=1.2, sort=False,
        facet_kws={"sharey": False},
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
