"""What a run leaves for the report: the resolved config, pip freeze, and per-job time and memory."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from helpers import entries

from lmar.core.errors import LmarError
from lmar.run.run_record import job_costs, write_config, write_job_costs


def bench(path, seconds, rss):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("s\th:m:s\tmax_rss\tmax_vms\n" f"{seconds}\t0:00:01\t{rss}\t1.0\n")
    return path


def test_job_costs_per_job_and_per_step(tmp_path):
    root = tmp_path / "benchmarks" / "exp"
    files = [bench(root / "evaluate" / "mini" / "unet" / "seed0" / "lmar.tsv", 12.5, 900.0),
             bench(root / "evaluate" / "mini" / "unet" / "seed0" / "bicubic.tsv", 7.5, 950.0),
             bench(root / "pretrain_backbone" / "mini" / "unet" / "seed0.tsv", 80.0, 1400.0)]
    df = job_costs(files, root)
    assert list(df["step"]) == ["evaluate", "evaluate", "pretrain_backbone"]
    assert list(df["job"]) == ["mini/unet/seed0/lmar", "mini/unet/seed0/bicubic", "mini/unet/seed0"]
    write_job_costs(files, root, tmp_path / "c.md", tmp_path / "c.csv")
    text = (tmp_path / "c.md").read_text()
    # per step: evaluate 2 jobs, 20 s, peak 950 MiB; total 100 s (hand sums)
    per_step = text.split("## Per step")[1]
    rows = {cells[0]: cells[1:] for cells in ([c.strip() for c in ln.strip("|").split("|")]
                                             for ln in per_step.splitlines() if ln.startswith("|"))}
    assert [float(v) for v in rows["evaluate"]] == [2, 20, 950]
    assert [float(v) for v in rows["pretrain_backbone"]] == [1, 80, 1400]
    assert "Total: 100 s of job time over 3 jobs" in text
    assert "this is not the run's wall time" in text and "at most" not in text  # jobs overlap, some go uncounted
    assert pd.read_csv(tmp_path / "c.csv")["seconds"].sum() == 100.0


def test_a_benchmark_file_without_its_columns_is_named(tmp_path):
    bad = tmp_path / "b.tsv"
    bad.write_text("x\ty\n1\t2\n")
    with pytest.raises(LmarError, match=f"benchmark file {bad} has no 's' and 'max_rss' columns"):
        write_job_costs([bad], tmp_path, tmp_path / "out" / "c.md", tmp_path / "out" / "c.csv")
    assert not (tmp_path / "out").exists() or entries(tmp_path / "out") == []


def test_the_resolved_config_reads_back(tmp_path):
    cfg = {"experiment": "e", "resamplers": {"lmar": {"type": "lmar", "params": {"hidden": 64}}}}
    write_config(cfg, tmp_path / "c.yaml")
    assert yaml.safe_load((tmp_path / "c.yaml").read_text()) == cfg
