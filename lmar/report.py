"""Tables from results files only (the store, lmar.store): per (dataset, backbone), rows resamplers,
columns targets (scales)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from lmar.atomic import atomic_path
from lmar.errors import LmarError
from lmar.targets import FULL

log = logging.getLogger(__name__)

REQUIRED = ["dataset", "backbone", "resampler", "target", "scale", "image"]
METRICS = ("psnr", "ssim", "lpips")  # the metric columns a results file may hold (at least one)
# columns that are text whatever they look like: a hash or an image name of digits only ("0042",
# "123456789012", "1e5a...") would otherwise be read from CSV as a number, and differ by file
TEXT = ["dataset", "backbone", "resampler", "target", "image", "config_hash", "code_version", "device",
        "torch_version", "backbone_type", "resampler_type", "upsampler", "precision", "resize_loss",
        "backbone_weights", "resampler_weights", "backbone_params", "backbone_train", "resampler_params",
        "resampler_train", "missing_metrics", "nondeterministic_ops", "backbone_converged", "backbone_convergence",
        "resampler_kept_epoch"]


def load_results(paths, left_out: list[str] | None = None) -> pd.DataFrame:
    """The rows of results files, joined. A file that cannot be read, lacks a column, has no metric or
    holds text in a column of numbers (:data:`NUMERIC`) is an error naming it; with a ``left_out``
    list, it is skipped and a note appended there instead (an error still when no file is left)."""
    frames = []
    for p in paths:
        try:
            frames.append(_read_one(p))
        except LmarError as exc:
            if left_out is None:
                raise
            log.warning("left out: %s", exc)
            left_out.append(str(exc))
    if not frames:
        raise LmarError("no results files given to the table" if not left_out else
                        f"no results file could be read: {'; '.join(left_out)}")
    return pd.concat(frames, ignore_index=True)


def _read_one(p) -> pd.DataFrame:
    try:
        df = pd.read_parquet(p) if Path(p).suffix == ".parquet" else pd.read_csv(p, dtype=dict.fromkeys(TEXT, str))
    except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise LmarError(f"cannot read results file {p}: {exc}. Re-run its evaluation.") from None
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise LmarError(f"results file {p} lacks column(s) {missing}. Re-run its evaluation.")
    if not any(m in df.columns for m in METRICS):
        raise LmarError(f"results file {p} has no metric column ({', '.join(METRICS)}). Re-run its evaluation.")
    return _numbers(df, p)


# means, factors, sizes, timings and what they were timed under: numbers
NUMERIC = [*METRICS, "scale", "seed", "target_h", "target_w", "time_s", "load_1m", "cpus", "threads"]


def _numbers(df: pd.DataFrame, p) -> pd.DataFrame:
    """``df`` with each column of NUMERIC it has as numbers; a column holding text that is not a number
    (a hand edit, a log line pasted into the CSV) is an error naming the file, the column and a value,
    rather than a mean that fails or a store Parquet cannot write. An empty cell stays a missing value."""
    for column in [c for c in NUMERIC if c in df and not pd.api.types.is_numeric_dtype(df[c])]:
        values = pd.to_numeric(df[column], errors="coerce")
        bad = df[column].notna() & values.isna()
        if bad.any():
            first = int(np.argmax(bad.to_numpy()))
            raise LmarError(f"results file {p}: column {column} holds text where a number belongs in {int(bad.sum())} "
                            f"of {len(df)} rows, e.g. {df[column].iloc[first]!r} (data row {first + 1}). "
                            "Re-run its evaluation, or correct the file by hand.")
        df[column] = values
    return df


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Mean PSNR and SSIM over test images per dataset, backbone, resampler and target."""
    keys = ["dataset", "backbone", "resampler", "target"]
    return (
        df.groupby(keys, sort=False)
        .agg(scale=("scale", "first"), psnr=("psnr", "mean"), ssim=("ssim", "mean"), n=("image", "count"),
             n_psnr=("psnr", "count"), n_ssim=("ssim", "count"))
        .reset_index()
    )


def _cell(row) -> str:
    """PSNR / SSIM of one summary row; a mean over fewer rows than the cell has says so: "(2 of 3)"."""
    return " / ".join(f"{getattr(row, m):.{d}f}" + (f" ({getattr(row, 'n_' + m)} of {row.n})"
                                                    if getattr(row, "n_" + m) < row.n else "")
                      for m, d in (("psnr", 2), ("ssim", 4)))


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


def markdown_table(df: pd.DataFrame, gain: tuple[str, str] | None = ("lmar", "bicubic"),
                   left_out: list[str] | None = None, notes: dict | None = None) -> str:
    """The compact PSNR / SSIM tables; a gain pair that did not run is noted in ``left_out``.
    ``notes``: {(dataset, backbone): lines} written under that dataset and backbone's last table
    (the verdicts of :func:`lmar.verdicts.block_notes`)."""
    out = []
    for (dataset, backbone), both in df.groupby(["dataset", "backbone"], sort=False):
        for chosen, rows in seed_groups(both):
            _one_table(rows, dataset, backbone, chosen, gain, out, left_out if left_out is not None else [])
        out += [f"{line}\n" for line in (notes or {}).get((dataset, backbone), [])]
    return "\n".join(out)


def _one_table(rows: pd.DataFrame, dataset: str, backbone: str, chosen: list, gain, out: list,
               left_out: list[str]) -> None:
    """Append one Markdown table (rows resamplers, columns targets) of ``rows``, over seeds ``chosen``."""
    part = summary(rows)
    cols = list(dict.fromkeys(t for t in part["target"] if t != FULL))
    over = over_units(rows["image"].nunique(), chosen)
    out.append(f"### {dataset} / {backbone}: PSNR (dB) / SSIM, mean over {over}\n")
    out.append("| resampler | " + " | ".join(cols) + " |")
    out.append("|---" * (len(cols) + 1) + "|")
    for name, one in part.groupby("resampler", sort=False):
        by_target = one.set_index("target")
        if list(by_target.index) == [FULL]:  # no resampling: the ceiling, the same in every column
            cells = [_cell(by_target.loc[FULL])] * len(cols)
            name = f"{name} (no resampling)"
        else:
            cells = [_cell(by_target.loc[t]) if t in by_target.index else "-" for t in cols]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    if gain and set(gain) <= set(part["resampler"]):
        cells = [_gain_cell(rows, *gain, t) for t in cols]
        out.append(f"| **{gain[0]} - {gain[1]}** | " + " | ".join(cells) + " |")
    elif gain:
        absent = [g for g in gain if g not in set(part["resampler"])]
        out.append(f"\nNo {gain[0]} - {gain[1]} row here: {', '.join(absent)} did not run with these "
                   "backbone and seeds (config key report.gain).")
        note = (f"gain pair {gain[0]} - {gain[1]}: {', '.join(absent)} not in the table of {dataset} / {backbone}"
                + (f" (seeds {', '.join(map(str, chosen))})" if chosen else "") + " (config key report.gain)")
        log.warning("left out: %s", note)
        left_out.append(note)
    out.append("")


def _gain_cell(rows: pd.DataFrame, a: str, b: str, target: str) -> str:
    """One cell of the gain row: the mean paired difference ``a - b`` of PSNR / SSIM at ``target``,
    over the (seed, image) units both have a value for (never a difference of two means over other
    images), with its 95% bootstrap interval and † where that excludes 0, "within noise" where it
    includes it (:func:`lmar.verdicts.gain_text`); "-" where either did not run there, "(n of N)"
    where a value is missing for some units."""
    from lmar.verdicts import gain_text, paired_interval

    keys = [k for k in ("seed", "image") if k in rows]
    sides = [rows.loc[(rows["resampler"] == name) & (rows["target"] == target), keys + ["psnr", "ssim"]]
             for name in (a, b)]
    both = sides[0].merge(sides[1], on=keys, how="inner", suffixes=("_a", "_b"))
    if both.empty:
        return "-"
    text = []
    for metric in ("psnr", "ssim"):
        diff = both.assign(diff=both[f"{metric}_a"].astype(float) - both[f"{metric}_b"].astype(float))
        diff = diff.dropna(subset=["diff"])
        text.append("n/a" if diff.empty else gain_text(*paired_interval(diff), metric)
                    + (f" ({len(diff)} of {len(both)})" if len(diff) < len(both) else ""))
    return " / ".join(text)


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


def _budget(train_json: str) -> str:
    """A `train` block as recorded in the rows, in words: the keys that size the run first."""
    train = json.loads(train_json)
    first = [k for k in ("epochs", "repeats", "batch_size", "size", "crop") if k in train]
    return ", ".join(f"{k} {train[k]}" for k in first + sorted(set(train) - set(first)))


def _budgets(df: pd.DataFrame) -> str:
    """Each trained part's `train` block, from the rows' JSON columns or the store's flattened ones."""
    text = ""
    for part in ("backbone", "resampler"):
        prefix = f"{part}.train."
        cols = [c for c in df.columns if c.startswith(prefix)]
        if f"{part}_train" in df:
            rows = df.loc[df[f"{part}_train"].notna() & (df[f"{part}_train"] != ""), [part, f"{part}_train"]]
            blocks = {(r[part], r[f"{part}_train"]) for _, r in rows.iterrows()}
        elif cols:
            blocks = set()
            for _, r in df[[part, *cols]].drop_duplicates().iterrows():
                train = {c[len(prefix):]: _plain(r[c]) for c in cols if not _absent(r[c])}
                if train:
                    blocks.add((r[part], json.dumps(train, sort_keys=True)))
        else:
            continue
        text += "".join(f"\nTraining budget of {part} {name}: {_budget(block)}\n" for name, block in sorted(blocks))
    return text


def _absent(value) -> bool:
    if isinstance(value, str):
        return value == ""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or the like: present
        return False


def _plain(value):
    """A flattened value back as it was written: JSON text of a list, numbers as numbers."""
    if isinstance(value, str) and value[:1] in "[{":
        return json.loads(value)
    return value.item() if hasattr(value, "item") else value


def write_table(paths, out_md: Path, out_csv: Path | None = None, gain=("lmar", "bicubic"), title: str = "",
                out_tex: Path | None = None, out_stats: Path | None = None, left_out_in=(),
                out_left_out: Path | None = None) -> tuple[pd.DataFrame, list[str]]:
    """The tables of results files (the store, or evaluation CSVs): Markdown in ``out_md`` (a compact
    PSNR / SSIM overview with the ``gain`` row, then every metric with intervals and the paired
    comparisons of :mod:`lmar.tables`), LaTeX in ``out_tex`` (every metric, paired and cost table of
    the Markdown, each labelled; :mod:`lmar.tables`), their numbers in ``out_stats``;
    ``out_csv``: also the rows read, joined (infinite scores as read: every table leaves them out,
    :func:`finite_scores`). Returns the rows read and what was left out (lmar.left_out):
    the notes of the records ``left_out_in`` (the gather step's) and this step's, also written to
    ``out_left_out`` and listed at the top of the Markdown."""
    from lmar import left_out as record
    from lmar.claims import claims_table
    from lmar.store import mixed_configs
    from lmar.cost_tables import cost_latex, cost_markdown
    from lmar.tables import render
    from lmar.verdicts import block_notes

    notes = [n for p in left_out_in for n in record.read(p)]
    read = load_results(paths, notes)
    metrics = [m for m in METRICS if m in read]
    missing = missing_metric_notes(read, metrics)  # before the infinite values are made missing: they have a note
    infinite: list[str] = []
    df = finite_scores(read, infinite)
    learned = list(dict.fromkeys(df.loc[df.get("resampler_weights", pd.Series("none", index=df.index))
                                        .fillna("none") != "none", "resampler"]))
    detail_md, detail_tex, detail = render(df, metrics, learned)
    for note in mixed_configs(df):
        log.warning("left out: %s", note)
        notes.append(note)
    notes += unequal_images(df)
    notes += missing + infinite
    verdicts = block_notes(df)  # under each block's overview; a verdict leaves nothing out (not in notes)
    body = ""
    if {"psnr", "ssim"} <= set(metrics):
        body += "## Overview\n\n" + markdown_table(df, gain, notes, verdicts) + "\n"
    elif any(verdicts.values()):
        body += "## Verdicts\n\n" + "".join(f"### {d} / {b}\n\n" + "".join(f"{line}\n\n" for line in lines)
                                          for (d, b), lines in verdicts.items() if lines)
    text = f"# {title}\n\n" if title else ""
    text += "".join(f"**Left out:** {note}.\n\n" for note in notes) + body
    text += "## Every metric, with intervals\n\n" + detail_md
    if "psnr" in metrics:
        text += "\n" + claims_table(df)
    cost = cost_markdown(df)
    if cost:
        text += "\n" + cost
    prov = df[["code_version", "device", "seed"]].drop_duplicates() if "code_version" in df else None
    if prov is not None:
        text += "\nProduced by: " + "; ".join(
            f"code {r.code_version}, device {r.device}, seed {r.seed}" for r in prov.itertuples()
        ) + "\n"
    if "resize_loss" in df:
        used = df.loc[df["resize_loss"].notna() & (df["resize_loss"] != ""), ["resampler", "resize_loss"]].drop_duplicates()
        for r in used.itertuples():
            text += f"\nResize loss used to train {r.resampler}: {r.resize_loss}\n"
    for col, part in (("backbone_weights", "backbone"), ("resampler_weights", "resampler")):
        if col in df:
            rows = df.loc[df[col].notna() & (df[col] != "none"), [part, col]].drop_duplicates()
            text += "".join(f"\nWeights of {part} {r[part]}: {r[col]}\n" for _, r in rows.iterrows())
    text += _budgets(df)
    if out_csv is not None:
        with atomic_path(out_csv) as t:
            read.to_csv(t, index=False)
    if out_tex is not None:
        with atomic_path(out_tex) as t:
            t.write_text(detail_tex + cost_latex(df))
    if out_stats is not None:
        with atomic_path(out_stats) as t:
            detail.to_csv(t, index=False)
    with atomic_path(out_md) as t:
        t.write_text(text)
    if out_left_out is not None:
        record.write(out_left_out, notes)
    return read, notes


def missing_metric_notes(df: pd.DataFrame, metrics: list[str]) -> list[str]:
    """One note per metric that some rows lack: why it was not computed where the rows say (their
    ``missing_metrics``), and how many rows lack it."""
    notes = []
    reasons = {}
    for cell in sorted(set(df.get("missing_metrics", pd.Series(dtype=str)).dropna()) - {""}):
        for metric, reason in json.loads(cell).items():
            reasons.setdefault(metric, []).append(reason)
    for metric in metrics:
        lacking = df[metric].isna()
        if lacking.any():
            where = ", ".join(sorted(df.loc[lacking, "resampler"].astype(str).unique()))
            why = "; ".join(reasons.get(metric, [])) or "the results files of those rows have no value"
            notes.append(f"{metric.upper()} not computed for {int(lacking.sum())} of {len(df)} rows "
                         f"(resamplers {where}): {why}")
    return notes
