"""Verdicts the tables state beside their numbers: where a table cannot show a method's effect.

Seven, each a small function over a curve or the results rows:

- convergence (:func:`convergence_note`, from the columns ``backbone_converged`` and
  ``backbone_convergence`` that the evaluation stores per row by the criterion of
  :func:`lmar.run.curves.convergence`). A gain measured on a backbone still learning may move as it
  trains on.
- changes what the backbone sees (:func:`beats_full_resolution`): a resampler whose PSNR exceeds the
  full-resolution row's by more than its paired interval (paired over the same images and seeds)
  cannot be only resampling: the full image holds every pixel the small one does. It changes what
  the backbone sees (its tone, its contrast), and its gain is not a gain of sampling.
- no resampling loss shown (:func:`no_loss_to_close`): where DEU with the gain pair's baseline
  (``report.gain``, second entry) is not below full resolution by more than its paired interval,
  the run cannot show a loss of resampling for a resampler to recover there, and a gain over that
  baseline there is not shown to be one.
- within noise (:func:`gain_text`): a gain whose paired interval includes 0 says so beside it; †
  where the interval excludes 0 (printed as the paired tables print it, so that † never sits on a
  printed zero: :func:`lmar.report.tables.shown_digits`).
- kept its initialisation (:func:`kept_initialisation_note`): a trainable resampler trained with
  early stopping (``train.val_pairs``) whose held-out PSNR no epoch improved keeps its initial
  weights (column ``resampler_kept_epoch``: -1); its rows are then those of the untrained part, and
  the table says so instead of crediting its training.
- the same scores (:func:`same_scores_notes`): resamplers that score the same on every test image at a
  target (every metric, to 1e-9) most likely produced the same outputs there; the table says so,
  so that equal rows are not taken for a merged or duplicated one (without antialiasing, an odd
  whole factor such as x3 samples each block's centre pixel whatever the kernel).
- compute (:mod:`lmar.report.compute_verdict`): whether DEU costs less than enhancing at full
  resolution, in FLOPs and in time, and above which backbone cost it would.

:func:`block_notes` turns them into the lines under each (dataset, backbone) block of ``table.md``.
None of them is a left-out note: a table that states a verdict has left nothing out.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd

from lmar.core.metric_table import METRICS
from lmar.report.blocks import full_resolution_name, table_blocks
from lmar.report.compute_verdict import GFLOPS, compute_note, compute_table, compute_verdicts
from lmar.report.stats import better, compare, paired_mean_ci
from lmar.report.tables import LEVEL, N_BOOT, shown_digits
from lmar.run.targets import FULL

# ---------------------------------------------------------------- convergence


def convergence_note(rows: pd.DataFrame, backbone: str) -> str | None:
    """The line under a block saying that backbone ``backbone`` is not shown converged, and why (per
    seed where its seeds differ); None where every row says "yes". A store from before the verdict
    was recorded says "convergence not recorded"."""
    if "backbone_converged" not in rows or rows["backbone_converged"].isna().all():
        return (f"Backbone {backbone}: convergence not recorded (results from before it was): the gains above "
                "may move if it was still learning.")
    why = rows["backbone_convergence"] if "backbone_convergence" in rows else pd.Series("", index=rows.index)
    seeds = rows["seed"] if "seed" in rows else pd.Series("", index=rows.index)
    found = pd.DataFrame({"seed": seeds, "converged": rows["backbone_converged"].fillna("not recorded"),
                          "why": why.fillna("")}).drop_duplicates()
    if (found["converged"] == "yes").all():
        return None
    each = list(dict.fromkeys((r.converged, r.why) for r in found.itertuples()))
    if len(each) == 1:
        converged, reason = each[0]
        return _convergence_line(backbone, converged, reason)
    per = "; ".join(f"seed {r.seed}: {r.converged}" + (f" ({r.why})" if r.why else "") for r in found.itertuples())
    return f"Backbone {backbone} not shown converged at every seed ({per}): the gains above may move as it trains on."


def _convergence_line(backbone: str, converged: str, reason: str) -> str:
    """One backbone's convergence note for a verdict shared by all its rows."""
    if converged == "unknown":
        return f"Backbone {backbone}: convergence unknown ({reason})."
    return f"Backbone {backbone} not converged ({reason}): the gains above may move as it trains on."


# ---------------------------------------------------------------- within noise


def paired_interval(diffs: pd.DataFrame, n_boot: int = N_BOOT, seed: int = 0) -> tuple[float, float, float]:
    """(mean, low, high) of the per-unit differences ``diffs`` (columns image, diff, and seed where
    there are seeds): :func:`lmar.report.stats.paired_mean_ci` over a full seeds x images matrix (the
    paired tables' interval), else the (seed, image) units resampled one way (as the tables' cells do)."""
    units = diffs.assign(seed=diffs.get("seed", 0))[["seed", "image", "diff"]]
    if len(units) != units["seed"].nunique() * units["image"].nunique():
        units = units.assign(image=units["seed"].astype(str) + "/" + units["image"].astype(str), seed=0)
    return paired_mean_ci(units, n_boot=n_boot, level=LEVEL, seed=seed)


def gain_text(mean: float, low: float, high: float, metric: str) -> str:
    """A gain with its interval and verdict: "+0.83 [+0.50, +1.00] †" where the interval excludes 0,
    "+0.02 [-0.01, +0.05] within noise" where it includes it; a significant gain that prints as zero
    even at the most decimals the tables allow gets neither mark (:func:`lmar.report.tables.shown_digits`)."""
    significant = bool(low > 0 or high < 0)
    digits, dagger = shown_digits((mean, low, high), metric, significant)
    mark = " †" if dagger else "" if significant else " within noise"
    return f"{mean:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]{mark}"


# ---------------------------------------------------------------- changes what the backbone sees


def against_full_resolution(block: pd.DataFrame, metric: str = "psnr", n_boot: int = N_BOOT,
                            seed: int = 0, only: list[str] | None = None) -> pd.DataFrame:
    """Each resampled row's paired difference to the full-resolution row of one table block, per
    target (rows of :func:`lmar.report.stats.compare`, ``b`` the full-resolution resampler): over the same
    images and seeds, the full-resolution row standing at every target; ``only``: those resamplers alone.
    Empty where the block has no full-resolution row or no resampled one."""
    full = full_resolution_name(block)
    if only is not None:
        block = block[block["resampler"].isin([*only, full])]
    resampled = block[block["target"] != FULL]
    if full is None or resampled.empty or metric not in block:
        return pd.DataFrame()
    if "seed" not in block:
        block, resampled = block.assign(seed=0), resampled.assign(seed=0)
    base = block[block["resampler"] == full]
    targets = list(dict.fromkeys(resampled["target"]))
    paired = pd.concat([resampled] + [base.assign(target=t) for t in targets], ignore_index=True)
    names = [n for n in dict.fromkeys(resampled["resampler"]) if n != full]
    return compare(paired, [metric], [(n, full) for n in names], n_boot=n_boot, seed=seed)


def beats_full_resolution(block: pd.DataFrame, metric: str = "psnr", n_boot: int = N_BOOT,
                          seed: int = 0) -> pd.DataFrame:
    """The rows of :func:`against_full_resolution` where the resampler is better than full resolution
    by more than its paired interval: the whole interval on the metric's good side of 0."""
    cmp = against_full_resolution(block, metric, n_boot, seed)
    if cmp.empty:
        return cmp
    beyond = cmp["ci_low"] > 0 if better(metric) else cmp["ci_high"] < 0
    return cmp[beyond]


def repair_note(beats: pd.DataFrame, resampler: str, metric: str = "psnr") -> str:
    """The line saying that ``resampler`` beat full resolution (its rows of :func:`beats_full_resolution`)."""
    unit = f" {METRICS[metric].unit}" if METRICS[metric].unit else ""
    each = []
    for r in beats[beats["a"] == resampler].itertuples():
        d, _ = shown_digits((r.mean_diff, r.ci_low, r.ci_high), metric, True)
        each.append(f"{r.target} ({r.mean_diff:+.{d}f}{unit} [{r.ci_low:+.{d}f}, {r.ci_high:+.{d}f}])")
    return (f"{resampler} beats full resolution in {metric.upper()} by more than its paired interval at "
            f"{', '.join(each)}: it changes what the backbone sees (e.g. its tone), not only how the image is "
            "sampled.")


# ---------------------------------------------------------------- no resampling loss shown


def no_loss_to_close(block: pd.DataFrame, baseline: str, metric: str = "psnr", n_boot: int = N_BOOT,
                     seed: int = 0) -> pd.DataFrame:
    """The rows of :func:`against_full_resolution` for ``baseline`` (``b`` full resolution) at the targets
    where DEU with ``baseline`` is not measurably worse than enhancing at full resolution: its paired
    interval reaches 0 or the metric's good side of it. Empty where the block lacks either row."""
    cmp = against_full_resolution(block, metric, n_boot, seed, only=[baseline])
    if cmp.empty:
        return cmp
    worse = cmp["ci_high"] < 0 if better(metric) else cmp["ci_low"] > 0
    return cmp[~worse]


def no_loss_note(rows: pd.DataFrame, baseline: str, metric: str = "psnr") -> str:
    """The line saying where ``baseline`` loses nothing measurable to full resolution (the rows of
    :func:`no_loss_to_close`), with the share of (image, seed) units on which it reads above it: there
    the run cannot show a resampling loss for a resampler to close."""
    unit = f" {METRICS[metric].unit}" if METRICS[metric].unit else ""
    each = []
    for r in rows.itertuples():
        d, dagger = shown_digits((r.mean_diff, r.ci_low, r.ci_high), metric, bool(r.significant))
        units = int(r.n_images) * int(r.n_seeds)
        won = r.win_rate * units  # a tie counts half
        over = "images" if int(r.n_seeds) == 1 else "(image, seed) pairs"
        each.append(f"{r.target} {r.mean_diff:+.{d}f}{unit} [{r.ci_low:+.{d}f}, {r.ci_high:+.{d}f}]"
                    + (" \u2020" if dagger else "") + f", above it on {won:g} of {units} {over}")
    return (f"The resampling loss is not measurable at {', '.join(rows['target'])}: there DEU with {baseline} is "
            f"not below enhancing at full resolution by more than its paired interval in {metric.upper()} "
            f"({baseline} - {rows['b'].iloc[0]}: {'; '.join(each)}), so at those targets this run cannot show a "
            f"loss for a resampler to close, nor read a gain over {baseline} as one recovered.")


# ---------------------------------------------------------------- kept its initialisation


TITLE_WIDTH = 48  # characters to a line of a panel's title: an ablation's list of names stays over its panel


def kept_initial_weights_title(rows: pd.DataFrame, names: list[str]) -> str:
    """A figure panel's title lines naming those of ``names`` whose rows in ``rows`` (one panel's)
    kept their initial weights (:func:`kept_initial_weights_labels`), with a newline before them,
    wrapped at :data:`TITLE_WIDTH` characters between names; empty where none did."""
    named = kept_initial_weights_labels(rows, names)
    if not named:
        return ""
    return "\n" + "\n".join(wrap_names(f"kept their initial weights: {', '.join(named)}", TITLE_WIDTH))


def kept_initial_weights_labels(rows: pd.DataFrame, names: list[str]) -> list[str]:
    """Those of ``names`` whose rows in ``rows`` kept their initial weights, in the order of ``names``:
    a name alone where they did at every seed, with the seeds where at some only ("lmar (seed 0 of 3)",
    held together by non-breaking spaces, which print as spaces, so that :func:`wrap_names` never breaks
    a line inside it)."""
    named = []
    for name in names:
        at, every = kept_seeds(rows, name)
        if at:
            seeds = "" if at == every else " (" + _at_seeds(at, every) + ")"
            named.append(name + seeds.replace(" ", "\u00a0"))
    return named


def kept_seeds(rows: pd.DataFrame, resampler: str) -> tuple[list, list]:
    """The seeds at which ``resampler``'s rows in ``rows`` kept their initial weights
    (``resampler_kept_epoch`` -1), and all its seeds there; both empty without that column."""
    if "resampler_kept_epoch" not in rows:
        return [], []
    mine = rows[rows["resampler"] == resampler]
    kept = pd.to_numeric(mine["resampler_kept_epoch"], errors="coerce")
    seeds = mine["seed"] if "seed" in mine else pd.Series(0, index=mine.index)
    return sorted(set(seeds[kept == -1])), sorted(set(seeds))


def kept_initial_weights_star(rows: pd.DataFrame, resampler: str, backbones: list[str]) -> tuple[list[str], str]:
    """Those of ``backbones`` on which ``resampler``'s rows in ``rows`` kept their initial weights at some
    seed (the gain heatmap stars them), and the title line explaining the star: "* lmar kept its initial
    weights", naming the seeds of each starred backbone where it did not at every seed ("(unet: seed 0
    of 3)"), wrapped at :data:`TITLE_WIDTH`; empty where none did."""
    kept = {bb: kept_seeds(rows[rows["backbone"] == bb], resampler) for bb in backbones}
    starred = [bb for bb in backbones if kept[bb][0]]
    if not starred:
        return [], ""
    some = [f"{bb}: {_at_seeds(*kept[bb])}".replace(" ", "\u00a0") for bb in starred if kept[bb][0] != kept[bb][1]]
    line = f"* {resampler} kept its initial weights" + (f" ({'; '.join(some)})" if some else "")
    return starred, "\n" + "\n".join(wrap_names(line, TITLE_WIDTH))


def _at_seeds(at: list, every: list) -> str:
    """ "seed 0 of 3", "seeds 0, 2 of 3": where a verdict holds at some seeds only."""
    return f"seed{'s' if len(at) > 1 else ''} {', '.join(map(str, at))} of {len(every)}"


def wrap_names(text: str, width: int) -> list[str]:
    """``text`` (a list of names) as lines of at most ``width`` characters, broken between names only
    (a name such as "no-feature-loss" is never split at its hyphens)."""
    return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)


def kept_initialisation_note(rows: pd.DataFrame, resampler: str) -> str | None:
    """The line saying that ``resampler`` kept its initial weights (``resampler_kept_epoch`` -1) at
    every seed, or at which seeds; None where it never did or the column is absent."""
    at, every = kept_seeds(rows, resampler)
    if not at:
        return None
    where = "" if at == every else " at " + _at_seeds(at, every)
    return (f"{resampler} kept its initial weights{where}: no epoch of its training beat them on the held-out "
            f"training pairs' PSNR (early stopping), so its rows there are those of the untrained {resampler}.")


# ---------------------------------------------------------------- the same scores

# scores this close on every unit count as the same: about what float32 outputs leave in each metric (two
# interpolations that give the same image by different arithmetic differ by ~1e-6 dB PSNR, ~1e-7 SSIM)
SAME_ATOL = {"psnr": 1e-4}
SAME_ATOL_OTHER = 1e-6  # every other metric (SSIM, LPIPS: values in [0, 1])


def same_atol(metric: str) -> float:
    return SAME_ATOL.get(metric, SAME_ATOL_OTHER)


def _same_groups(block: pd.DataFrame, metrics: list[str]) -> dict:
    """{(resamplers...): [targets]}: at each resampled target, the resamplers (two or more, in order of
    appearance) whose ``metrics`` are equal to :data:`SAME_ATOL` on every (seed, image) unit, over
    the same units."""
    keys = [k for k in ("seed", "image") if k in block]
    found: dict = {}
    for target, rows in block[block["target"] != FULL].groupby("target", sort=False):
        groups: list[tuple[list[str], pd.DataFrame]] = []
        for name, mine in rows.groupby("resampler", sort=False):
            scores = mine.set_index(keys)[metrics].astype(float).sort_index()
            atol = np.array([same_atol(m) for m in metrics])
            same = next((g for g in groups if g[1].index.equals(scores.index) and
                         _close(g[1].to_numpy(), scores.to_numpy(), atol)), None)
            if same is None:
                groups.append(([name], scores))
            else:
                same[0].append(name)
        for names, _ in groups:
            if len(names) > 1:
                found.setdefault(tuple(names), []).append(target)
    return found


def _close(a: np.ndarray, b: np.ndarray, atol: np.ndarray) -> bool:
    """Every value of ``a`` within its column's ``atol`` of ``b``'s (NaN equal to NaN)."""
    both_nan = np.isnan(a) & np.isnan(b)
    return bool(np.all(both_nan | (np.abs(a - b) <= atol)))


def _sci(value: float) -> str:
    """1e-09 as "1e-9"."""
    return np.format_float_scientific(value, trim="-", exp_digits=1)


def _odd_whole_factor(rows: pd.DataFrame) -> bool:
    """Whether every row's effective scale is a whole odd number (3, 5, ...)."""
    scale = pd.to_numeric(rows["scale"], errors="coerce").to_numpy(dtype=float) if "scale" in rows else np.array([])
    return bool(scale.size) and np.all(np.abs(scale - np.round(scale)) < 1e-9) and np.all(np.round(scale) % 2 == 1)


def same_scores_notes(block: pd.DataFrame) -> list[str]:
    """The lines naming resamplers that score the same on every test image at some targets
    (:func:`_same_groups`, over the metrics the rows hold), one per set of resamplers."""
    metrics = [m for m in METRICS if m in block and block[m].notna().any()]
    if not metrics:
        return []
    lines = []
    for names, targets in _same_groups(block, metrics).items():
        listed = ", ".join(names[:-1]) + f" and {names[-1]}"
        why = ""
        if _odd_whole_factor(block[block["target"].isin(targets)]):
            why = (f"; {', '.join(map(str, targets))} {'is a whole odd factor' if len(targets) == 1 else 'are whole odd factors'}"
                   ", where an interpolation without antialiasing samples each block's centre pixel whatever its kernel")
        lines.append(f"{listed} score the same on every test image at {', '.join(map(str, targets))} "
                     f"({', '.join(f'{m.upper()} to within {_sci(same_atol(m))}' for m in metrics)}): most likely the same "
                     f"outputs, each evaluated on its own, not one row shown twice{why}.")
    return lines


def block_same_scores_notes(groups: list[tuple[list, pd.DataFrame]]) -> list[str]:
    """:func:`same_scores_notes` of each table block of one dataset and backbone (``groups``: the seeds
    and rows of each, as :func:`table_blocks` gives them), over the seeds and images its table shows (so
    that two rows a table shows as equal are named as such there, whatever other seeds one of them ran
    with); with more than one block, each line says which ("Over seed 0: ...")."""
    lines = []
    for chosen, block in groups:
        where = f"Over {'seeds' if len(chosen) > 1 else 'seed'} {', '.join(map(str, chosen))}: " if len(groups) > 1 else ""
        lines += [where + line for line in same_scores_notes(block)]
    return lines


# ---------------------------------------------------------------- the notes of table.md


def block_notes(df: pd.DataFrame, metric: str = "psnr", n_boot: int = N_BOOT, seed: int = 0,
                baseline: str | None = None) -> dict:
    """{(dataset, backbone): the verdict lines under its tables}: convergence (unless converged),
    each resampler that beats full resolution by more than its paired interval (in each table block
    where it first does), the targets where ``baseline`` (the gain pair's second) loses nothing
    measurable to full resolution (in the first table block holding both), each that kept its initial
    weights, resamplers that score the same, and, where the rows carry GFLOPs and a full-resolution row,
    the compute table (:func:`compute_table`) with a line for each resampler that saves no compute
    somewhere (:func:`compute_note`)."""
    notes: dict = {}
    for (dataset, backbone), rows in df.groupby(["dataset", "backbone"], sort=False):
        line = convergence_note(rows, backbone)
        notes[(dataset, backbone)] = [line] if line else []
    blocks: dict = {}  # (dataset, backbone) -> [(seeds, rows)] of its tables, in their order
    for dataset, backbone, chosen, rows in table_blocks(df):
        blocks.setdefault((dataset, backbone), []).append((chosen, rows))
    if metric in df:
        for key, groups in blocks.items():
            done: set = set()
            for _, rows in groups:
                beats = beats_full_resolution(rows, metric, n_boot, seed)
                names = list(dict.fromkeys(beats["a"])) if len(beats) else []
                for name in [n for n in names if n not in done]:
                    done.add(name)
                    notes[key].append(repair_note(beats, name, metric))
            if baseline is not None:
                for _, rows in groups:
                    if full_resolution_name(rows) is not None and baseline in set(rows["resampler"]):
                        same = no_loss_to_close(rows, baseline, metric, n_boot, seed)
                        if len(same):
                            notes[key].append(no_loss_note(same, baseline, metric))
                        break
    for (dataset, backbone), rows in df.groupby(["dataset", "backbone"], sort=False):
        for name in dict.fromkeys(rows["resampler"]):
            line = kept_initialisation_note(rows, name)
            if line:
                notes[(dataset, backbone)].append(line)
        notes[(dataset, backbone)] += block_same_scores_notes(blocks.get((dataset, backbone), []))
    costs = compute_verdicts(df)
    for (dataset, backbone), block in costs.groupby(["dataset", "backbone"], sort=False):
        notes[(dataset, backbone)].append(compute_table(block))
        for _, rows in block.groupby("resampler", sort=False):
            line = compute_note(rows.sort_values("scale", kind="stable"))
            if line:
                notes[(dataset, backbone)].append(line)
    if set(GFLOPS) <= set(df):
        for (dataset, backbone), rows in df.groupby(["dataset", "backbone"], sort=False):
            if full_resolution_name(rows) is None:
                notes[(dataset, backbone)].append("Compute: no full-resolution row here, so no verdict on whether "
                                                  "DEU saves compute (add a resampler of type full_resolution).")
    return notes
