"""The ablation figure: each variant of a learned method (an entry of the same part type as the first
learned entry of that type, e.g. `no-kernel` beside `lmar`) against that method, as the paired tables
compare them: the mean per-image PSNR difference, variant minus method, with its paired 95% interval,
one panel per table block and target, one row per variant in its colour of every figure. A reader
sees at once which part's removal costs PSNR (left of 0), which gains (right), and which is noise."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lmar.core.errors import LmarError
from lmar.report.blocks import finite_scores
from lmar.report.plot_style import resampler_styles, save_figure
from lmar.report.stats import first_of_type, learned_names
from lmar.report.store import load_results
from lmar.report.tables import N_BOOT, comparisons
from lmar.report.verdicts import kept_initial_weights_labels, wrap_names

TITLE_WIDTH = 60


def variants(df: pd.DataFrame) -> dict[str, str]:
    """Each variant of a learned method in the results and that method: the trained resamplers of one
    part type (``resampler_type``) after the first of that type, which is the method (as the paired
    tables pair them: :func:`lmar.report.stats.learned_pairs`). Empty where there are none."""
    learned = learned_names(df)
    if "resampler_type" not in df or not learned:
        return {}
    types = dict(zip(df["resampler"], df["resampler_type"]))
    first = first_of_type(learned, types)
    return {name: first[types[name]] for name in learned if first[types[name]] != name}


def check_variants(df: pd.DataFrame) -> None:
    """LmarError where the results hold no variants of a learned method (nothing to draw)."""
    if not variants(df):
        raise LmarError("the results hold no variants of a learned method (two trained resamplers of one part "
                        "type, e.g. an ablation with base: lmar): there is no ablation figure to draw")


def variant_rows(df: pd.DataFrame, n_boot: int = N_BOOT, seed: int = 0) -> pd.DataFrame:
    """One row per variant (:func:`variants`), table block and target: columns dataset, backbone, seeds,
    target, variant, method, mean, low, high (PSNR, variant - method, paired over the images and seeds of
    the block: :func:`lmar.report.tables.comparisons`, whose rows are method - variant, negated here),
    significant. Empty where there are no variants."""
    pairs = variants(df)
    if not pairs:
        return pd.DataFrame()
    cmp = comparisons(df, ["psnr"], learned_names(df), n_boot, seed, only={(m, v) for v, m in pairs.items()})
    out = []
    for r in cmp.itertuples():
        if pairs.get(r.b) != r.a:
            continue
        out.append({"dataset": r.dataset, "backbone": r.backbone, "seeds": r.seeds, "target": r.target,
                    "variant": r.b, "method": r.a, "mean": -r.mean_diff, "low": -r.ci_high, "high": -r.ci_low,
                    "significant": bool(r.significant)})
    return pd.DataFrame(out)


def ablation_figure(df: pd.DataFrame, n_boot: int = N_BOOT, seed: int = 0):
    """The figure (matplotlib) of :func:`variant_rows`: rows of panels per table block holding variants,
    a column per target; each variant's mean difference as its marker in its colour, the interval as a
    bar, a dagger where it excludes 0; a variant that kept its initial weights is named so in the
    block's title. LmarError where the results hold no variants."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    check_variants(df)
    rows = variant_rows(df, n_boot, seed)
    if rows.empty:
        raise LmarError("no variant of a learned method ran in a table block beside that method (same dataset, "
                        "backbone and seeds): there is nothing to compare; see their `only:` keys")
    names, colours, markers = resampler_styles(df)
    blocks = list(dict.fromkeys(zip(rows["dataset"], rows["backbone"], rows["seeds"])))
    targets = list(dict.fromkeys(rows["target"]))
    drawn = [n for n in names if n in set(rows["variant"])]
    fig = plt.figure(layout="constrained", figsize=(2.4 * len(targets) + 1.8,
                                                    (0.3 * len(drawn) + 1.5) * len(blocks)))
    for sub, (dataset, backbone, seeds) in zip(fig.subfigures(len(blocks), 1, squeeze=False)[:, 0], blocks):
        block = rows[(rows["dataset"] == dataset) & (rows["backbone"] == backbone) & (rows["seeds"] == seeds)]
        method = block["method"].iloc[0]
        chosen = str(seeds).split(",")
        units = df[(df["dataset"] == dataset) & (df["backbone"] == backbone) & df["seed"].astype(str).isin(chosen)]
        axes = sub.subplots(1, len(targets), sharex=True, sharey=True, squeeze=False)[0]
        for ax, target in zip(axes, targets):
            here = block[block["target"] == target].set_index("variant")
            for y, name in enumerate(drawn):
                if name not in here.index:
                    continue
                r = here.loc[name]
                ax.errorbar(r["mean"], y, xerr=[[r["mean"] - r["low"]], [r["high"] - r["mean"]]], fmt=markers[name],
                            color=colours[name], ecolor=colours[name], capsize=2, markersize=5)
                if r["significant"]:
                    ax.annotate("†", (r["high"], y), xytext=(3, 0), textcoords="offset points", va="center")
            ax.axvline(0, color="0.4", lw=0.8, ls="--")
            ax.set_title(str(target))
            ax.set_xlabel(f"variant - {method} (dB)")
        axes[0].set_yticks(range(len(drawn)), drawn)
        axes[0].set_ylim(len(drawn) - 0.5, -0.5)  # the first variant on top, as in the tables
        seed_text = f"seed{'s' * (len(chosen) > 1)} {', '.join(chosen)}"
        title = f"{dataset} / {backbone} ({seed_text}): PSNR, each variant - {method}, paired 95% CI, † excludes 0"
        kept = kept_initial_weights_labels(units, drawn)
        if kept:
            title += "\n" + "\n".join(wrap_names(f"kept their initial weights: {', '.join(kept)}", 2 * TITLE_WIDTH))
        sub.suptitle(title, fontsize=10)
    return fig


def write_ablation(results: Path, out: Path) -> None:
    """The ablation figure of a results file (the store) as ``out`` (PNG) and PDF beside it; infinite
    scores are left out as out of the tables. Results without variants are refused, nothing written."""
    save_figure(ablation_figure(finite_scores(load_results([results]))), out)
