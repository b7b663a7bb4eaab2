"""Seaborn plots from results files only."""

from __future__ import annotations

from pathlib import Path

from lmar.atomic import atomic_path
from lmar.report import load_results
from lmar.targets import FULL


def psnr_vs_scale(results: Path, out: Path) -> None:
    """Mean PSNR over test images against the downscaling factor, one panel per
    dataset/backbone; the full-resolution ceiling as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    df = load_results([results])
    df["panel"] = df["dataset"] + " / " + df["backbone"]
    full = df[df["target"] == FULL]
    resampled = df[df["target"] != FULL]
    grid = sns.relplot(
        # style as well as hue: a marker shape and dash per resampler, so that two resamplers with
        # nearly equal scores (lanczos3 and bicubic here) stay visible where their lines overlap
        data=resampled, x="scale", y="psnr", hue="resampler", style="resampler", col="panel", kind="line",
        markers=True, errorbar=None, height=3.5, aspect=1.2, facet_kws={"sharey": False},
    )
    for panel, ax in grid.axes_dict.items():
        ceiling = full[full["panel"] == panel]
        for name, rows in ceiling.groupby("resampler"):
            level = rows["psnr"].mean()
            ax.axhline(level, ls="--", c="grey", lw=1)
            ax.annotate(f"{name} (no resampling)", (0.02, level), xycoords=("axes fraction", "data"),
                        va="bottom", fontsize="small", color="grey")
        ax.set_xlabel("downscaling factor")
        ax.set_ylabel("PSNR (dB)")
    grid.set_titles("{col_name}")
    with atomic_path(out) as tmp:
        grid.savefig(tmp, dpi=120, format="png")
    plt.close("all")
