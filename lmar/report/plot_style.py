"""What every figure of the report shares: each resampler's colour and marker, the panels (one per
table block) and how a figure is saved (PNG, and PDF beside it)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd

from lmar.core.atomic import atomic_path
from lmar.report.blocks import table_blocks


def save_figure(fig, out: Path) -> None:
    """``out`` (PNG) and the same figure as PDF beside it, each written whole or not at all."""
    import matplotlib.pyplot as plt

    for path, fmt in ((out, "png"), (out.with_suffix(".pdf"), "pdf")):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=120, format=fmt)
    plt.close("all")


MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")
# The default experiment's methods: each has this slot (a tab10 colour and a marker of MARKERS) in
# every run's figures, whatever else a config adds (an ablation's variants, a new method), so that
# lanczos3 is the same blue in the default's report and in the ablations'
FIXED = {"lanczos3": 0, "bicubic": 1, "area": 2, "learned_resizer": 3, "lmar": 4, "full_resolution": 5}


def resampler_styles(df: pd.DataFrame) -> tuple[list[str], dict, dict]:
    """Every resampler of the results, in the order the store lists them, with a colour and a marker
    each: a resampler keeps its colour and marker in every figure of a run, whichever of the others
    a figure shows (seaborn would otherwise colour each figure's own hue levels in turn), and one
    of :data:`FIXED` keeps its own in every run. The others take, in the store's order, the colours
    no fixed one has (tab10's last four, then tab20's light shades, then evenly spaced hues) and
    the markers after the fixed ones'."""
    import seaborn as sns

    names = list(dict.fromkeys(df["resampler"].astype(str)))
    tab10 = sns.color_palette("tab10", 10)
    others = [n for n in names if n not in FIXED]
    spare = tab10[len(FIXED):] + sns.color_palette("tab20", 20)[1::2]
    spare += sns.color_palette("husl", max(0, len(others) - len(spare)))
    colours = {n: tab10[FIXED[n]] for n in names if n in FIXED} | dict(zip(others, spare))
    markers = {n: MARKERS[FIXED[n]] for n in names if n in FIXED}
    markers |= {n: MARKERS[(len(FIXED) + i) % len(MARKERS)] for i, n in enumerate(others)}
    return names, colours, markers


def styled(names: list[str], colours: dict, markers: dict, shown) -> dict:
    """The hue and style keyword arguments of a seaborn call that shows the resamplers ``shown``."""
    order = [n for n in names if n in set(shown)]
    return {"hue_order": order, "style_order": order, "palette": {n: colours[n] for n in order},
            "markers": {n: markers[n] for n in order}}


def panels(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of every table block (:func:`lmar.report.blocks.table_blocks`: over the images and seeds its
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
