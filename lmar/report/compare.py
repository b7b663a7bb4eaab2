"""Two results stores side by side: are they the same results?

After a change that should not move a number (a refactor, a dependency bump, another machine of the
same kind), run the experiment again into another folder and compare the two stores::

    python -m lmar compare-results before/results.parquet after/results.parquet

Rows are matched by what identifies them (dataset, backbone, seed, resampler, target, image). Every
column both stores hold is compared, cell by cell, except the columns that differ between two runs
of the same code by design (:data:`lmar.report.store.VOLATILE_COLUMNS`: timings, memory, the host
and its load) and ``code_version`` (the commit each run came from). Numbers must be equal to the last
bit unless a tolerance is given; a missing value equals a missing value only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lmar.core.errors import LmarError
from lmar.report.store import ROW_KEY, VOLATILE_COLUMNS, load_results, repeated_rows

SKIPPED = (*VOLATILE_COLUMNS, "code_version")


@dataclass
class Comparison:
    rows: tuple[int, int]
    compared: list[str]
    skipped: list[str]
    only_in: dict[str, list[str]] = field(default_factory=dict)  # side -> columns only it holds
    unmatched: dict[str, list[tuple]] = field(default_factory=dict)  # side -> row keys only it holds
    differing: dict[str, tuple[int, float | None]] = field(default_factory=dict)  # column -> (rows, max |a-b|)

    @property
    def same(self) -> bool:
        return not (self.differing or any(self.unmatched.values()) or any(self.only_in.values()))

    def markdown(self, a: Path, b: Path) -> str:
        lines = [f"# {a} vs {b}", "",
                 f"- rows: {self.rows[0]} vs {self.rows[1]}",
                 f"- columns compared: {len(self.compared)}; not compared (differ by design): "
                 f"{', '.join(self.skipped) or 'none'}"]
        for side, cols in self.only_in.items():
            if cols:
                lines.append(f"- columns only in {side}: {', '.join(cols)}")
        for side, keys in self.unmatched.items():
            if keys:
                shown = "; ".join("/".join(map(str, k)) for k in keys[:5])
                lines.append(f"- {len(keys)} row(s) only in {side}, e.g. {shown}")
        if self.differing:
            lines += ["", "| column | rows differing | max abs difference |", "| --- | ---: | ---: |"]
            lines += [f"| {c} | {n} | {'' if d is None else f'{d:.3g}'} |" for c, (n, d) in self.differing.items()]
        lines += ["", "**the same results**" if self.same else "**the results differ**"]
        return "\n".join(lines) + "\n"


def _keyed(df: pd.DataFrame, key: list[str], path) -> pd.DataFrame:
    dup = repeated_rows(df, key)
    if len(dup):
        first = dup.iloc[0].tolist()
        raise LmarError(f"results file {path}: {len(dup)} rows repeat a row's key {key}, e.g. {first}; "
                        "a store holds each (dataset, backbone, seed, resampler, target, image) once. "
                        "Gather it again from its evaluation CSVs.")
    return df.set_index(key).sort_index()


def _differ(a: pd.Series, b: pd.Series, atol: float) -> tuple[int, float | None]:
    """How many cells of ``a`` and ``b`` (same index) differ, and the largest difference where both are
    numbers."""
    a_na, b_na = a.isna().to_numpy(), b.isna().to_numpy()
    if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
        x, y = a.to_numpy(float, na_value=np.nan), b.to_numpy(float, na_value=np.nan)
        gap = np.abs(x - y)
        bad = (a_na != b_na) | (~a_na & ~b_na & ~(gap <= atol))
        both = ~a_na & ~b_na
        return int(bad.sum()), (float(gap[both & bad].max()) if (both & bad).any() else None)
    x, y = a.astype(object).to_numpy(), b.astype(object).to_numpy()
    same_text = np.array([str(u) == str(v) for u, v in zip(x, y)], dtype=bool)
    bad = (a_na != b_na) | (~a_na & ~b_na & ~same_text)
    return int(bad.sum()), None


def compare(a_path: Path, b_path: Path, atol: float = 0.0, skip: tuple[str, ...] = ()) -> Comparison:
    """Compare the results files ``a_path`` and ``b_path`` (store or evaluation CSV; see the module)."""
    if atol < 0:
        raise LmarError(f"--atol must be >= 0, got {atol}")
    a, b = load_results([a_path]), load_results([b_path])
    key = [k for k in ROW_KEY if k in a.columns and k in b.columns]
    skipped = sorted({c for c in (*SKIPPED, *skip) if c in a.columns or c in b.columns})
    ka, kb = _keyed(a, key, a_path), _keyed(b, key, b_path)
    result = Comparison(rows=(len(a), len(b)), compared=[], skipped=skipped)
    result.only_in = {str(a_path): sorted(set(ka.columns) - set(kb.columns) - set(skipped)),
                      str(b_path): sorted(set(kb.columns) - set(ka.columns) - set(skipped))}
    result.unmatched = {str(a_path): list(ka.index.difference(kb.index)),
                        str(b_path): list(kb.index.difference(ka.index))}
    common = ka.index.intersection(kb.index)
    for column in [c for c in ka.columns if c in kb.columns and c not in skipped]:
        result.compared.append(column)
        n, gap = _differ(ka.loc[common, column], kb.loc[common, column], atol)
        if n:
            result.differing[column] = (n, gap)
    return result
