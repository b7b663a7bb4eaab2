"""What a run leaves beside its results for the report: the resolved config, the software
environment, and the time and memory of every job (from Snakemake's ``benchmark:`` files)."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

from lmar.core.atomic import atomic_path
from lmar.core.errors import LmarError


def write_config(config: dict, out: Path) -> None:
    """The config as the run used it (``extends:`` and ``base:`` resolved, defaults filled in)."""
    with atomic_path(out) as tmp:
        tmp.write_text("# The configuration this run used (resolved; written by the workflow)\n"
                       + yaml.safe_dump(config, sort_keys=False))


def write_environment(out: Path) -> None:
    """``pip freeze`` of the running interpreter, with the Python version and the platform."""
    try:
        frozen = subprocess.run([sys.executable, "-m", "pip", "freeze", "--all"], capture_output=True, text=True,
                                timeout=120, check=True).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise LmarError(f"cannot list the environment's packages (pip freeze): {exc}") from None
    with atomic_path(out) as tmp:
        tmp.write_text(f"# Python {platform.python_version()} on {platform.platform()}\n{frozen}")


def job_costs(paths, root: Path) -> pd.DataFrame:
    """One row per benchmark file: the job (its path under ``root``, without .tsv), wall seconds and
    peak resident memory (MiB); Snakemake writes one data line per run of the job."""
    rows = []
    for p in map(Path, paths):
        try:
            df = pd.read_csv(p, sep="\t")
        except (OSError, ValueError) as exc:
            raise LmarError(f"cannot read benchmark file {p}: {exc}") from None
        if df.empty or not {"s", "max_rss"} <= set(df.columns):
            raise LmarError(f"benchmark file {p} has no 's' and 'max_rss' columns; rerun its job")
        rel = p.relative_to(root) if p.is_relative_to(root) else p
        step, _, what = str(rel.with_suffix("")).partition("/")
        rows.append({"step": step, "job": what, "seconds": float(df["s"].iloc[-1]),
                     "max_rss_mib": float(df["max_rss"].iloc[-1])})
    return pd.DataFrame(rows, columns=["step", "job", "seconds", "max_rss_mib"])


def write_job_costs(paths, root: Path, out_md: Path, out_csv: Path) -> pd.DataFrame:
    df = job_costs(paths, root)
    per_step = df.groupby("step", sort=False).agg(jobs=("job", "count"), seconds=("seconds", "sum"),
                                                  max_rss_mib=("max_rss_mib", "max")).reset_index()
    text = ("# Time and memory per job\n\n" + df.round(1).to_markdown(index=False)
            + "\n\n## Per step\n\n" + per_step.round(1).to_markdown(index=False)
            + f"\n\nTotal: {df['seconds'].sum():.0f} s of job time over {len(df)} jobs "
              "(jobs may have run in parallel, and a step without a benchmark file is not counted: this is "
              "not the run's wall time).\n")
    with atomic_path(out_csv) as tmp:
        df.to_csv(tmp, index=False)
    with atomic_path(out_md) as tmp:
        tmp.write_text(text)
    return df
