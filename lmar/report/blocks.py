"""Table blocks: the rows of the results store that each table compares, like with like.

Per (dataset, backbone), the rows are split by the seeds the resamplers ran with (:func:`seed_groups`)
and each group reduced to the test images all its cells share (:func:`common_rows`); every table,
plot and claims check takes its rows from :func:`table_blocks`, so that their numbers are over the
same units. Infinite scores are made missing first (:func:`finite_scores`). Each reduction leaves a
note (:mod:`lmar.report.left_out`).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from lmar.core.metric_table import METRICS
from lmar.run.targets import FULL

log = logging.getLogger(__name__)


def seed_groups(df: pd.DataFrame, left_out: list[str] | None = None) -> list[tuple[list, pd.DataFrame]]:
    """The rows of one (dataset, backbone) split so that every table compares like with like: first
    the resamplers run with all its seeds, over those seeds; then, for each smaller set of seeds that
    some resamplers ran with alone (e.g. ablations on one seed), every resampler run with those
    seeds, over them only (so a comparison there is paired). Each group is then reduced to the test
    images all its rows share (:func:`common_rows`); with a ``left_out`` list, a note is appended
    there for each group that had to be reduced, and a group left with no row is not returned."""
    if "seed" not in df:
        groups = [([], df)]
    else:
        ran = df.groupby("resampler", sort=False)["seed"].agg(lambda s: tuple(sorted(set(s))))
        everything = tuple(sorted(set(df["seed"])))
        sets = [everything] + sorted({s for s in ran if s != everything}, key=lambda s: (-len(s), s))
        groups = []
        for chosen in sets:
            names = [r for r, s in ran.items() if set(chosen) <= set(s)]
            groups.append((list(chosen), df[df["resampler"].isin(names) & df["seed"].isin(chosen)]))
    out = []
    for chosen, rows in groups:
        kept, note = common_rows(rows, chosen)
        if note and left_out is not None:
            log.warning("left out: %s", note)
            left_out.append(note)
        if len(kept):
            out.append((chosen, kept))
    return out


def by_scale(rows: pd.DataFrame, column: str = "scale") -> pd.Series:
    """The mean ``column`` (the downscaling factor by height) of each target of ``rows``, ordered by it;
    targets at one factor in the order they first appear. Every table's columns and every figure's
    targets follow this order."""
    return rows.groupby("target", sort=False)[column].mean().sort_values(kind="stable")


def counted(n: int, word: str) -> str:
    """``n`` and ``word``, plural unless ``n`` is 1: "1 image", "2 images", "0 seeds". Every count a
    table, note or claims check prints goes through here."""
    return f"{n} {word}{'' if n == 1 else 's'}"


CELL = ["resampler", "target"]  # one row of a table at one column: the rows a mean is taken over


def _complete_images(rows: pd.DataFrame, chosen: list) -> set:
    """The images of one cell's rows that are there for every seed of ``chosen``."""
    if not chosen:
        return set(rows["image"])
    seeds = rows.groupby("image", sort=False)["seed"].agg(set)
    return {image for image, have in seeds.items() if set(chosen) <= have}


def common_rows(block: pd.DataFrame, chosen: list) -> tuple[pd.DataFrame, str | None]:
    """The rows of one table block (one dataset, backbone and set of seeds ``chosen``) over the test
    images that every cell of it (resampler x target) has for every seed, and a note (None when no
    row was removed).

    Why reduce rather than drop: a cell scored on other images than the rest of its table (a failed
    or unfinished evaluation job, a row lost from a CSV) would otherwise be averaged over its own
    images, and its mean, its gain and its rank compared with means over other images: a difference
    of image sets, not of resamplers (one hard image more moves a mean by dB). Dropping the odd cell
    would hide that it ran and, when it is the one with more images, drop a good row for nothing;
    reducing every cell to the images they all have keeps every row and makes every mean, gain, rank
    and paired comparison of the table one over the same (image, seed) units, at the price of fewer
    images, which the title's count and the note say. An image missing at one seed leaves for every
    seed, so the units stay a full images x seeds matrix (the two-way bootstrap needs one). Only a
    cell that shares no image with the rest cannot be reduced: it is left out (its column shows
    "-"). The common set is built from the cells with the most images down, so that one short cell
    cannot empty it.
    """
    if block.empty:
        return block, None
    cells = {key: _complete_images(rows, chosen) for key, rows in block.groupby(CELL, sort=False)}
    order = sorted(cells, key=lambda key: -len(cells[key]))  # stable: ties in order of appearance
    common, apart = set(cells[order[0]]), []
    for key in order[1:]:
        if common & cells[key]:
            common &= cells[key]
        else:
            apart.append(key)
    if not common:
        apart = order
    keep = block["image"].isin(common) & ~_in_cells(block, apart)
    if keep.all():
        return block, None
    return block[keep], _reduced_note(block, keep, chosen, common, apart)


def _in_cells(block: pd.DataFrame, cells: list) -> pd.Series:
    """Whether each row of ``block`` belongs to one of the (resampler, target) ``cells``."""
    chosen = set(cells)
    return pd.Series([cell in chosen for cell in zip(block["resampler"], block["target"])], index=block.index,
                     dtype=bool)


def _units(rows: pd.DataFrame, chosen: list) -> str:
    """How many (image, seed) units ``rows`` hold, in words: "3 images x 2 seeds" when they form a full
    matrix, else the number of units and images."""
    images = rows["image"].nunique()
    seeds = len(chosen) or 1
    if len(rows) == images * seeds and len(_complete_images(rows, chosen)) == images:
        return f"{counted(images, 'image')} x {counted(seeds, 'seed')}"
    return f"{counted(len(rows), '(image, seed) unit')} over {counted(images, 'image')}"


def over_units(n_images: int, chosen: list) -> str:
    """What a table's means are over, in words: "3 test images x 2 seeds (0, 1)", "1 test image, seed 0"
    with one seed, "2 test images" when the rows record no seed."""
    over = counted(n_images, "test image")
    if len(chosen) > 1:
        return over + f" x {counted(len(chosen), 'seed')} ({', '.join(map(str, chosen))})"
    return over + (f", seed {chosen[0]}" if chosen else "")


def _reduced_note(block: pd.DataFrame, keep: pd.Series, chosen: list, common: set, apart: list) -> str:
    """The left-out note of :func:`common_rows`: what each resampler was scored on, what every row was
    reduced to, and which images (of which resamplers) or cells were left out."""
    first = block.iloc[0]
    where = f"{first['dataset']} / {first['backbone']}" + (f" (seeds {', '.join(map(str, chosen))})" if chosen else "")
    scored: dict[str, list[str]] = {}
    for name, rows in block.groupby("resampler", sort=False):
        per = {t: _units(r, chosen) for t, r in rows.groupby("target", sort=False)}
        words = next(iter(per.values())) if len(set(per.values())) == 1 else \
            ", ".join(f"{u} at {t}" for t, u in per.items())
        scored.setdefault(words, []).append(str(name))
    said = "; ".join(f"{', '.join(names)} on {words}" for words, names in scored.items())
    seeds = len(chosen) or 1
    note = f"{where}: the rows were not scored on the same test images: {said}"
    if common:
        note += f"; every row was reduced to the {counted(len(common), 'image')} x {counted(seeds, 'seed')} all share"
    removed = block[~keep & ~_in_cells(block, apart)]
    if len(removed):
        by_image = removed.groupby("image", sort=True)["resampler"].agg(lambda r: ", ".join(dict.fromkeys(map(str, r))))
        shown = [f"{image} ({names})" for image, names in by_image.items()]
        more = f" and {counted(len(shown) - 5, 'more image')}" if len(shown) > 5 else ""
        note += f" (left out: {', '.join(shown[:5])}{more})"
    if apart and not common:
        note += "; no image was scored in every row at every seed: the table is left out"
    elif apart:
        note += ("; left out as sharing no image with the rest: "
                 + ", ".join(f"{name} at {target}" for name, target in apart))
    return note


def unequal_images(df: pd.DataFrame) -> list[str]:
    """One left-out note per table block whose rows were not all scored on the same test images and
    seeds (see :func:`common_rows`): the tables show such a block reduced to the images it shares."""
    notes: list[str] = []
    table_blocks(df, notes)
    return notes


def table_blocks(df: pd.DataFrame, left_out: list[str] | None = None) -> list[tuple[str, str, list, pd.DataFrame]]:
    """(dataset, backbone, seeds, rows) of every table block, in the order of the tables: the rows of
    :func:`seed_groups`, reduced to the images and seeds they all share. Whatever else summarises the
    results across resamplers (the claims check, the plots) takes its rows from here, so that its
    numbers are over the same units as the tables'."""
    return [(dataset, backbone, chosen, rows)
            for (dataset, backbone), both in df.groupby(["dataset", "backbone"], sort=False)
            for chosen, rows in seed_groups(both, left_out)]


def finite_scores(df: pd.DataFrame, left_out: list[str] | None = None) -> pd.DataFrame:
    """``df`` with every infinite metric value made missing, and one left-out note per metric that had
    any (how many rows, which resamplers, targets, images and seeds).

    PSNR is infinite where an enhanced output equals its ground truth bit for bit (a mean squared
    error of 0). Such a value is not a measurement a mean can hold: one of them makes a mean, a gain
    and a comparison inf (or NaN), and capping it at some dB would be a number nobody measured that
    moves the mean by as much as the cap is arbitrary. An exact output is also far more likely a
    fault of the data (an input that is its own ground truth) than a perfect enhancement. So the
    value is left out of every mean, gain, rank and paired comparison, as a missing metric is (the
    cells say "2 of 3"; a comparison drops the image), and the note names the rows so that their
    images can be checked. The rows stay: the other metrics of those images are still counted."""
    out = df
    for metric in [m for m in METRICS if m in df]:
        values = pd.to_numeric(df[metric], errors="coerce")
        bad = np.isinf(values.to_numpy(dtype=float))
        if not bad.any():
            continue
        if out is df:
            out = df.copy()
        out.loc[bad, metric] = np.nan
        note = _infinite_note(df[bad], metric, len(df))
        log.warning("left out: %s", note)
        if left_out is not None:
            left_out.append(note)
    return out


def _infinite_note(rows: pd.DataFrame, metric: str, total: int) -> str:
    """The note of :func:`finite_scores` for the ``rows`` whose ``metric`` is infinite."""
    signs = ", ".join(sorted({"inf" if v > 0 else "-inf" for v in rows[metric]}))
    where = []
    for (dataset, backbone, resampler, target), part in rows.groupby(["dataset", "backbone", "resampler", "target"],
                                                                     sort=False):
        units = [str(image) for image in part["image"]] if "seed" not in part else \
            [f"{image} (seed {seed})" for image, seed in zip(part["image"], part["seed"])]
        shown = ", ".join(units[:5]) + (f" and {len(units) - 5} more" if len(units) > 5 else "")
        where.append(f"{dataset} / {backbone}, {resampler} at {target} on {shown}")
    return (f"{metric.upper()} is {signs} in {len(rows)} of {total} rows (an output equal to its ground truth): "
            f"{'; '.join(where)}. Left out of every {metric.upper()} mean, gain, rank and comparison (their "
            "cells count the rows left); check those images' input and ground truth")


def full_resolution_name(block: pd.DataFrame) -> str | None:
    """The first resampler of ``block`` whose rows are all at target ``full`` (no resampling), or None."""
    for name, rows in block.groupby("resampler", sort=False):
        if (rows["target"] == FULL).all():
            return name
    return None
