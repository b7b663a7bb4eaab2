"""The results store: every per-image row of a run in one file, ``results/<experiment>/results.parquet``
(and the same rows as ``results.csv``), which the tables and plots read and nothing else.

One row per (dataset, backbone, seed, resampler, target, image). The evaluation jobs write one CSV
each; :func:`gather` joins them and flattens every part's parameters into columns of their own,
named by where they come from: ``resampler.hidden``, ``resampler.train.epochs``,
``backbone.model_channel``, ``backbone.train.size``, so that a filter or a group-by needs no JSON.
A value that is a list or a mapping is kept as its JSON text; a column whose values have different
types across rows (an int here, a string there) is kept as text, so that Parquet can store it.

It is the hub of the report: the one reader of results files (:func:`load_results`, for the store
and for evaluation CSVs alike), which every table, plot and check reads through.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from lmar.core.atomic import atomic_path
from lmar.core.errors import LmarError
from lmar.core.metric_table import METRICS  # the metric columns a results file may hold (at least one)

log = logging.getLogger(__name__)

# the columns every results file has: what identifies a row (ROW_KEY) and the factor; the tables, plots and
# checks index them without asking (a file lacking one is refused by name as it is read, not a KeyError later)
REQUIRED = ["dataset", "backbone", "seed", "resampler", "target", "scale", "image"]

# Columns of a results row that may differ between two runs of the same config and seed: wall
# times, peak memory, the host (device name and GPU index, its CPUs and threads) and the load and
# time the timings were taken at. Everything else is the same to the last digit on a CPU
# (tests/run/test_pipeline.py); on a GPU, ``lmar.core.runtime.nondeterministic_ops`` names what may not be.
VOLATILE_COLUMNS = ("time_s", "resample_ms", "enhance_ms", "upsample_ms", "resample_peak_mb", "enhance_peak_mb",
                    "upsample_peak_mb", "device", "load_1m", "cpu_wait", "cpus", "threads", "timed_at")

# what identifies a row: a store holds each combination once
ROW_KEY = ["dataset", "backbone", "seed", "resampler", "target", "image"]


# columns that are text whatever they look like: a hash or an image name of digits only ("0042",
# "123456789012", "1e5a...") would otherwise be read from CSV as a number, and differ by file
TEXT = ["dataset", "backbone", "resampler", "target", "image", "config_hash", "code_version", "device",
        "torch_version", "backbone_type", "resampler_type", "upsampler", "precision", "resize_loss",
        "backbone_weights", "resampler_weights", "backbone_params", "backbone_train", "resampler_params",
        "resampler_train", "missing_metrics", "nondeterministic_ops", "backbone_converged", "backbone_convergence",
        "resampler_kept_epoch"]


def load_results(paths, left_out: list[str] | None = None) -> pd.DataFrame:
    """The rows of results files, joined. A file that cannot be read, lacks a column (:data:`REQUIRED`),
    has no metric, no rows, a row twice (:data:`ROW_KEY`) or text in a column of numbers (:data:`NUMERIC`) is an
    error naming it; with a ``left_out`` list, it is skipped and a note appended there instead (an error still
    when no file is left). Two files holding the same row (the same evaluation twice) are always an error,
    naming both: which one is stale is for the user to say."""
    frames, read = [], []
    for p in paths:
        try:
            frames.append(_read_one(p))
            read.append(p)
        except LmarError as exc:
            if left_out is None:
                raise
            log.warning("left out: %s", exc)
            left_out.append(str(exc))
    if not frames:
        raise LmarError("no results files given to the table" if not left_out else
                        f"no results file could be read: {'; '.join(left_out)}")
    df = pd.concat(frames, ignore_index=True)
    if len(frames) > 1:
        _refuse_shared_rows(df, [q for q, f in zip(read, frames) for _ in range(len(f))])
    return df


def _unit(row: pd.Series) -> str:
    return ", ".join(f"{k} {row[k]!r}" if isinstance(row[k], str) else f"{k} {row[k]}" for k in ROW_KEY)


def _refuse_repeated_rows(df: pd.DataFrame, p) -> None:
    dup = repeated_rows(df, ROW_KEY)
    if len(dup):
        raise LmarError(f"results file {p} repeats rows: {len(dup)} rows share one (dataset, backbone, seed, "
                        f"resampler, target, image), e.g. ({_unit(dup.iloc[0])}); a results file holds each once. "
                        "Re-run its evaluation (or gather the store again), or delete the repeated rows.")


def _refuse_shared_rows(df: pd.DataFrame, sources: list) -> None:
    dup = repeated_rows(df, ROW_KEY)
    if len(dup):
        keys = df[ROW_KEY].astype(str).agg("\x1f".join, axis=1)
        first = dup.index[0]
        files = list(dict.fromkeys(str(s) for s, hit in zip(sources, keys == keys[first]) if hit))
        first = df.loc[first]
        if len(files) == 1:
            raise LmarError(f"results file {files[0]} is given more than once ({len(dup)} results rows share their "
                            f"keys, e.g. ({_unit(first)})): give each results file once")
        raise LmarError(f"{len(dup)} results rows share their keys, e.g. ({_unit(first)}) in {' and '.join(files)}: "
                        "the same evaluation is in two files; remove the stale one and rerun")


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
    if df.empty:
        raise LmarError(f"results file {p} has no rows (a header at most); re-run its evaluation.")
    df = _numbers(df, p)
    _refuse_repeated_rows(df, p)
    return df


# means, factors, sizes, timings and what they were timed under: numbers
NUMERIC = [*METRICS, "scale", "seed", "target_h", "target_w", "time_s", "load_1m", "cpu_wait", "cpus", "threads"]


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


# JSON columns of the evaluation rows -> the prefix of the columns they are flattened into
FLATTENED = {
    "backbone_params": "backbone.",
    "backbone_train": "backbone.train.",
    "resampler_params": "resampler.",
    "resampler_train": "resampler.train.",
}


def _parse(text, column: str) -> dict:
    if not isinstance(text, str) or not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LmarError(f"results column {column} holds text that is not JSON ({exc}): {text[:80]!r}") from None
    if not isinstance(value, dict):
        raise LmarError(f"results column {column} must hold a JSON mapping, got {text[:80]!r}")
    return value


def _cell(value):
    return json.dumps(value, sort_keys=True) if isinstance(value, (list, dict)) else value


def flatten(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with each JSON column of FLATTENED replaced by one column per key (see the module)."""
    out = df.copy()
    for column, prefix in FLATTENED.items():
        if column not in out:
            continue
        parsed = [_parse(v, column) for v in out[column]]
        keys = sorted({k for d in parsed for k in d})
        for key in keys:
            values = [_cell(d[key]) if key in d else None for d in parsed]
            kinds = {type(v) for v in values if v is not None}
            if len(kinds) > 1 and not kinds <= {int, float}:
                values = [None if v is None else str(v) for v in values]
            elif kinds == {int}:  # integers stay integers where some rows lack the key (not 4.0)
                values = pd.array(values, dtype="Int64")
            out[prefix + key] = values
        out = out.drop(columns=column)
    return out


def repeated_rows(df: pd.DataFrame, key: list[str] | None = None) -> pd.DataFrame:
    """The ``key`` columns (default: those of ROW_KEY that ``df`` has) of every row whose key another
    row shares: empty where each row is one of a kind, as a store's rows must be."""
    key = key if key is not None else [k for k in ROW_KEY if k in df]
    return df.loc[df.duplicated(key, keep=False), key]


def gather(paths, out_parquet: Path, out_csv: Path, out_left_out: Path | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Join the evaluation CSVs ``paths`` into the store (Parquet and CSV, each written whole or not
    at all); returns the rows and what was left out. A file that cannot be read or lacks columns is
    left out with a note (in ``out_left_out``, which the table step reads); without ``out_left_out``
    it is an error."""
    from lmar.report import left_out as record

    notes = [] if out_left_out is not None else None
    df = flatten(load_results(paths, notes))  # a row in two files is refused there, naming both
    _write_parquet(df, out_parquet)
    with atomic_path(out_csv) as tmp:
        df.to_csv(tmp, index=False)
    if out_left_out is not None:
        record.write(out_left_out, notes)
    log.info("gathered %d rows from %d files into %s", len(df), len(list(paths)), out_parquet)
    return df, notes or []


def _write_parquet(df: pd.DataFrame, out: Path) -> None:
    """The store's Parquet file, whole or not at all. The columns of numbers the tables use are checked
    file by file as they are read (:func:`lmar.report.store.load_results`); any other column that Parquet
    cannot hold (text in some files, numbers in others) is one error naming it, not a traceback."""
    import pyarrow as pa

    try:
        with atomic_path(out) as tmp:
            df.to_parquet(tmp, index=False)
    except pa.ArrowException as exc:
        raise LmarError(f"cannot write the results store {out}: {exc}. A column holds text in some results "
                        "files and numbers in others: correct or re-run the evaluation whose CSV has the text") from None


def mixed_configs(df: pd.DataFrame) -> list[str]:
    """One line per part name whose rows disagree on a parameter: results of different configs in
    one folder (the table says so rather than averaging them together)."""
    notes = []
    for part in ("backbone", "resampler"):
        cols = [c for c in df.columns if c.startswith(f"{part}.")]
        if part not in df or not cols:
            continue
        for name, rows in df.groupby(part, sort=False):
            for col in cols:
                values = rows[col].dropna().astype(str).unique()
                if len(values) > 1:
                    notes.append(f"{part} {name}: rows with {col} = {', '.join(sorted(values))}: results of "
                                 "different configs are in one folder; rerun the experiment into a clean folder")
    return notes
