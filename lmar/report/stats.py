"""Paired comparisons of resamplers, with bootstrap intervals, from tidy per-image results.

Why: a table of means says which resampler scored higher on average, not whether the gap is larger
than the noise of a few test images and a few training seeds. Every resampler is evaluated on the
same images (and, for learned ones, the same seeds), so the honest comparison is *paired*: the
difference ``a - b`` of one metric per unit, a unit being one (dataset, backbone, target, seed,
image). Its mean gets a percentile bootstrap interval that resamples the sources of variation we
have: images, and seeds when there are several (a two-way bootstrap over the seeds x images matrix,
so that a gain carried by one lucky seed is not mistaken for a robust one).

Missing values are never hidden: a unit whose metric is NaN for either resampler is dropped and
counted (``n_dropped``), and a unit absent from the seeds x images matrix is an error naming it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from lmar.core.errors import LmarError
from lmar.core.metric_table import METRICS

GROUP = ["dataset", "backbone", "target"]
UNIT = GROUP + ["seed", "image"]
COLUMNS = [
    "dataset", "backbone", "target", "metric", "a", "b", "mean_diff", "ci_low", "ci_high",
    "win_rate", "n_images", "n_seeds", "n_dropped", "significant", "better",
]  # fmt: skip

_CELLS_PER_CHUNK = 2_000_000  # bounds the memory of one block of bootstrap weights


def better(metric: str) -> bool:
    """True where a higher value of ``metric`` is better, False where lower is better (the metric table)."""
    try:
        return METRICS[metric].higher_is_better
    except KeyError:
        raise LmarError(
            f"unknown metric {metric!r}: its direction is not known. Known metrics: {sorted(METRICS)}."
        ) from None


def _require(df: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise LmarError(f"{what} lacks column(s) {missing}; it has {list(df.columns)}.")


def _joined(df: pd.DataFrame, metric: str, a: str, b: str) -> pd.DataFrame:
    """Units present for both ``a`` and ``b`` with ``diff = a - b`` (NaN where either value is)."""
    _require(df, ["resampler", *UNIT, metric], "results table")
    if a == b:
        raise LmarError(f"cannot compare resampler {a!r} with itself")
    present = set(df["resampler"])
    for name in (a, b):
        if name not in present:
            raise LmarError(f"resampler {name!r} is not in the results; present: {sorted(map(str, present))}.")
    sides = []
    for name in (a, b):
        rows = df.loc[df["resampler"] == name, UNIT + [metric]]
        dup = rows.duplicated(UNIT, keep=False)
        if dup.any():
            first = rows.loc[dup, UNIT].iloc[0].to_dict()
            raise LmarError(
                f"resampler {name!r} has {int(dup.sum())} rows sharing a unit, e.g. {first}: "
                "each (dataset, backbone, target, seed, image) must appear once. Remove duplicated results files."
            )
        sides.append(rows)
    both = sides[0].merge(sides[1], on=UNIT, how="inner", suffixes=("_a", "_b"))
    both["diff"] = both[f"{metric}_a"].astype(float) - both[f"{metric}_b"].astype(float)
    return both[UNIT + ["diff"]].reset_index(drop=True)


def paired(df: pd.DataFrame, metric: str, a: str, b: str) -> tuple[pd.DataFrame, int]:
    """Per-unit paired difference ``a - b`` of ``metric`` over the units both resamplers have.

    Returns ``(frame, n_dropped)``: ``frame`` has columns dataset, backbone, target, seed, image,
    diff; ``n_dropped`` counts the units present for both whose value was NaN for either, which are
    left out of ``frame`` (report them: the metric is missing for some rows).
    """
    both = _joined(df, metric, a, b)
    keep = both["diff"].notna()
    return both[keep].reset_index(drop=True), int((~keep).sum())


def _matrix(diffs: pd.DataFrame) -> np.ndarray:
    """The seeds x images matrix of ``diff``; an error naming any missing, repeated or NaN cell."""
    _require(diffs, ["seed", "image", "diff"], "differences table")
    if diffs.empty:
        raise LmarError("no paired differences to summarise (no unit is present for both resamplers)")
    dup = diffs.duplicated(["seed", "image"], keep=False)
    if dup.any():
        r = diffs[dup].iloc[0]
        raise LmarError(f"unit (seed {r['seed']}, image {r['image']!r}) appears more than once in the differences")
    bad = diffs["diff"].isna()
    if bad.any():
        r = diffs[bad].iloc[0]
        raise LmarError(
            f"unit (seed {r['seed']}, image {r['image']!r}) has a NaN difference: drop NaNs first (see paired())"
        )
    wide = diffs.pivot(index="seed", columns="image", values="diff")
    holes = wide.isna()
    if holes.values.any():
        where = holes.stack()
        missing = [f"(seed {s}, image {i!r})" for (s, i), hole in where.items() if hole]
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise LmarError(
            f"the seeds x images matrix is incomplete: {len(missing)} unit(s) missing: {shown}. "
            "Every image needs a difference for every seed."
        )
    return wide.to_numpy(dtype=float)


def _counts(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """``size`` multisets of ``n`` draws with replacement from ``range(n)``, as count vectors (size x n)."""
    idx = rng.integers(0, n, size=(size, n))
    offsets = (np.arange(size) * n)[:, None]
    return np.bincount((idx + offsets).ravel(), minlength=size * n).reshape(size, n)


def bootstrap_mean_ci(
    diffs: pd.DataFrame, n_boot: int = 10000, level: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """Mean of ``diff`` and a percentile bootstrap ``level`` interval of it: ``(mean, low, high)``.

    ``diffs`` has columns seed, image, diff, one row per seed x image cell. With one seed, images are
    resampled with replacement. With several, images and seeds are resampled independently (two-way):
    each replicate draws a multiset of images and one of seeds and takes the mean of ``diff`` over
    their Cartesian product. Reproducible for a given ``seed``; a single unit gives ``(mean, mean)``.
    """
    if n_boot < 1:
        raise LmarError(f"n_boot must be at least 1, got {n_boot}")
    if not 0 < level < 1:
        raise LmarError(f"level must be between 0 and 1 (exclusive), got {level}")
    m = _matrix(diffs)
    n_seeds, n_images = m.shape
    mean = float(m.mean())
    if m.size == 1 or np.ptp(m) == 0:  # every replicate equals the mean
        return mean, mean, mean
    # Separate streams for images and seeds: the image draws do not depend on the number of seeds.
    image_rng, seed_rng = np.random.default_rng(seed).spawn(2)
    stats = np.empty(n_boot)
    chunk = max(1, _CELLS_PER_CHUNK // max(n_images, n_seeds))
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        w_img = _counts(image_rng, n_images, size)  # size x images
        w_seed = _counts(seed_rng, n_seeds, size) if n_seeds > 1 else np.ones((size, 1), dtype=np.int64)
        # mean over drawn seeds x drawn images = w_seed . M . w_img / (seeds * images)
        stats[start : start + size] = np.einsum("bs,si,bi->b", w_seed, m, w_img, optimize=True)
    stats /= n_seeds * n_images
    tail = (1 - level) / 2
    low, high = np.quantile(stats, [tail, 1 - tail])
    return mean, float(low), float(high)


def t_interval(means: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Student's t interval (``level``) of the mean of ``means`` (the per-image or per-seed means of a
    paired difference): ``(low, high)``. With few images (or seeds) the percentile bootstrap is too
    narrow (it draws only from the values seen, and its spread lacks the t tails); this one is not."""
    from scipy import stats as scipy_stats

    m = float(means.mean())
    if means.size < 2 or np.ptp(means) == 0:
        return m, m
    half = float(scipy_stats.t.ppf(1 - (1 - level) / 2, means.size - 1) * means.std(ddof=1) / np.sqrt(means.size))
    return m - half, m + half


def paired_mean_ci(diffs: pd.DataFrame, n_boot: int = 10000, level: float = 0.95,
                   seed: int = 0) -> tuple[float, float, float]:
    """``(mean, low, high)`` of a paired difference: the bootstrap's interval (:func:`bootstrap_mean_ci`),
    widened to cover Student's t over the images (each averaged over its seeds) and, where there are
    several seeds, over the seeds (each averaged over its images) (:func:`t_interval`): every paired
    interval of the report (tables, overview, heatmap) is this one. With few images the percentile
    bootstrap is too narrow (13 heavy-tailed differences were enough for it to exclude 0 where t did not);
    with many the two agree, so the wider is taken at every size rather than below a cutoff."""
    mean, low, high = bootstrap_mean_ci(diffs, n_boot=n_boot, level=level, seed=seed)
    m = _matrix(diffs)  # seeds x images
    for axis in (0, 1):  # 0: a mean per image, 1: a mean per seed
        if m.shape[1 - axis] > 1:
            t_low, t_high = t_interval(m.mean(axis=axis), level)
            low, high = min(low, t_low), max(high, t_high)
    return mean, low, high


def win_rate(diffs: pd.DataFrame, metric: str) -> float:
    """Fraction of units where ``a`` is strictly better than ``b`` (``diff = a - b``); ties count half."""
    higher = better(metric)
    _require(diffs, ["diff"], "differences table")
    d = diffs["diff"].to_numpy(dtype=float)
    if d.size == 0:
        raise LmarError("no paired differences to compute a win rate from")
    if np.isnan(d).any():
        raise LmarError("the differences contain NaN: drop NaNs first (see paired())")
    wins = (d > 0) if higher else (d < 0)
    return float((wins.sum() + 0.5 * (d == 0).sum()) / d.size)


def learned_names(df: pd.DataFrame) -> list[str]:
    """The trained resamplers of the results (``resampler_weights`` other than "none"), in store order."""
    weights = df.get("resampler_weights", pd.Series("none", index=df.index)).fillna("none")
    return list(dict.fromkeys(df.loc[weights != "none", "resampler"]))


def first_of_type(learned: Sequence[str], types: dict[str, str]) -> dict[str, str]:
    """Per part type, the first of ``learned`` of that type (name -> type in ``types``; a name without a
    type has none): the method that its variants are compared with."""
    first: dict[str, str] = {}
    for name in dict.fromkeys(learned):
        if name in types:
            first.setdefault(types[name], name)
    return first


def learned_pairs(df_or_names: pd.DataFrame | Sequence[str], learned: list[str],
                  types: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """``(l, other)`` for each learned resampler ``l`` and every other resampler present.

    ``df_or_names`` is a results table (its ``resampler`` column) or the resampler names. A pair of two
    learned resamplers appears once, in the order of ``learned``. With ``types`` (name -> part type),
    two learned resamplers of one type are paired only where one is the first of that type in
    ``learned``: variants of one method (an ablation study's entries) are each compared with that
    reference entry and with every other method, not with one another.
    """
    if isinstance(df_or_names, pd.DataFrame):
        _require(df_or_names, ["resampler"], "results table")
        names = list(dict.fromkeys(df_or_names["resampler"]))
    else:
        names = list(dict.fromkeys(df_or_names))
    absent = [n for n in learned if n not in names]
    if absent:
        raise LmarError(f"learned resampler(s) {absent} not in the results; present: {names}.")
    types = types or {}
    first = first_of_type(learned, types)

    def siblings(a: str, b: str) -> bool:
        kind = types.get(a)
        return kind is not None and b in learned and types.get(b) == kind and first[kind] not in (a, b)

    pairs: list[tuple[str, str]] = []
    for a in dict.fromkeys(learned):
        for b in names:
            if b != a and (b, a) not in pairs and not siblings(a, b):
                pairs.append((a, b))
    return pairs


def compare(
    df: pd.DataFrame,
    metrics: Sequence[str],
    pairs: Sequence[tuple[str, str]],
    n_boot: int = 10000,
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per pair ``(a, b)``, metric and (dataset, backbone, target) present for both.

    Columns: dataset, backbone, target, metric, a, b, mean_diff (a - b), ci_low, ci_high (bootstrap,
    see :func:`bootstrap_mean_ci`, widened to cover Student's t interval over the images, and over the
    seeds where there are several, :func:`paired_mean_ci`), win_rate (a better than b), n_images, n_seeds, n_dropped,
    significant (interval excludes 0), better (mean_diff in the metric's good direction).

    A unit whose metric is NaN is dropped; with several seeds the whole image is then dropped from
    that group (the bootstrap needs a complete seeds x images matrix), and ``n_dropped`` counts all
    units so removed. A group left with no unit gets a row of NaN statistics and ``n_images`` 0.
    """
    for metric in metrics:
        better(metric)
    rows = []
    for a, b in pairs:
        for metric in metrics:
            higher = better(metric)
            both = _joined(df, metric, a, b)
            for key, group in both.groupby(GROUP, sort=False, dropna=False):
                nan_images = set(group.loc[group["diff"].isna(), "image"])
                kept = group[~group["image"].isin(nan_images)]
                row = dict(zip(GROUP, key), metric=metric, a=a, b=b, n_dropped=len(group) - len(kept))
                row.update(n_images=kept["image"].nunique(), n_seeds=kept["seed"].nunique())
                if kept.empty:
                    row.update(mean_diff=np.nan, ci_low=np.nan, ci_high=np.nan, win_rate=np.nan)
                    row.update(significant=False, better=False)
                else:
                    try:
                        mean, low, high = paired_mean_ci(kept, n_boot=n_boot, level=level, seed=seed)
                    except LmarError as exc:
                        where = ", ".join(f"{k} {v!r}" for k, v in zip(GROUP, key))
                        raise LmarError(f"comparing {a!r} with {b!r} on {metric} ({where}): {exc}") from None
                    row.update(mean_diff=mean, ci_low=low, ci_high=high, win_rate=win_rate(kept, metric))
                    row.update(significant=bool(low > 0 or high < 0), better=bool(mean > 0 if higher else mean < 0))
                rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)
