"""Every evaluation row records the load it was timed under (``load_1m, cpus, threads, timed_at``), and
the cost table marks a time taken while the load average, less the job's own threads, exceeded the
CPUs it may use, with a legend saying so in numbers; a store from before they were recorded says
"load not recorded"."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from helpers import run_cli

from lmar.core.errors import LmarError
from lmar.report.cost_tables import cost_frame, cost_latex, cost_markdown
from lmar.report.store import load_results

# (resampler, load average): with 1 own thread on 2 CPUs, a load above 3.0 is more than this job's
CASES = (("lanczos3", 5.0), ("bicubic", 2.5), ("area", 3.0))


def store(loads=CASES, recorded=True) -> pd.DataFrame:
    rows = []
    for name, load in loads:
        for k, image in enumerate(("i1", "i2")):
            row = {"dataset": "d", "backbone": "b", "resampler": name, "target": "x2", "scale": 2.0,
                   "target_h": 10, "target_w": 15, "image": image, "seed": 0, "psnr": 20.0,
                   "resample_ms": 1.0 + k, "enhance_ms": 10.0, "upsample_ms": 2.0, "time_s": (13.0 + k) / 1000}
            if recorded:  # the second image a little less loaded: the row's highest counts
                row.update(load_1m=load - 0.5 * k, cpus=2, threads=1, timed_at="2026-12-04T23:45:00.000+00:00")
            rows.append(row)
    return pd.DataFrame(rows)


def md_rows(md: str) -> dict[str, list[str]]:
    """{resampler: its cells} of the Markdown cost table."""
    out = {}
    for line in md.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) > 2 and cells[0] not in ("resampler",) and not cells[0].startswith(":"):
            out[cells[0]] = cells[1:]
    return out


def test_a_load_above_own_threads_plus_cpus_is_flagged_and_the_boundary_is_not():
    costs = cost_frame(store()).set_index("resampler")
    # by hand: 5.0 - 1 = 4.0 > 2 CPUs; 2.5 - 1 = 1.5 <= 2; 3.0 - 1 = 2.0, not > 2
    assert costs["under load"].to_dict() == {"lanczos3": True, "bicubic": False, "area": False}
    assert costs["load 1m"].to_dict() == {"lanczos3": 5.0, "bicubic": 2.5, "area": 3.0}  # the highest sample


def test_the_markdown_cost_table_marks_the_loaded_row_and_says_why_in_numbers():
    md = cost_markdown(store())
    rows = md_rows(md)
    # ms resample, enhance, upsample, end to end: (1 + 2) / 2, 10, 2, (13 + 14) / 2
    assert rows["lanczos3"][-4:] == ["1.5 ‡", "10 ‡", "2 ‡", "13.5 ‡"], rows
    assert rows["bicubic"][-4:] == rows["area"][-4:] == ["1.5", "10", "2", "13.5"], rows
    assert "lanczos3 x2: load 5.00 against 2 CPUs, 1 own thread" in md
    assert "‡ timed under load" in md and "load average of 2.50 to 5.00" in md
    assert "bicubic x2: load" not in md and "area x2: load" not in md


def test_the_latex_cost_table_marks_the_loaded_row_and_its_caption_says_why():
    tex = cost_latex(store())
    lines = [ln for ln in tex.splitlines() if ln.startswith(("lanczos3", "bicubic", "area"))]
    assert lines and all(("\\ddag{}" in ln) == ln.startswith("lanczos3") for ln in lines), lines
    assert "‡" not in tex  # written as LaTeX's \ddag
    assert "\\ddag{} timed under load" in tex and "lanczos3 x2: load 5.00 against 2 CPUs, 1 own thread" in tex


def test_no_load_no_mark_and_a_store_without_the_columns_says_load_not_recorded():
    quiet = cost_markdown(store((("bicubic", 2.5), ("area", 3.0))))
    assert "‡" not in quiet and "load average of 2.50 to 3.00" in quiet
    old = store(recorded=False)
    assert cost_frame(old)["under load"].isna().all()
    for text in (cost_markdown(old), cost_latex(old)):
        assert "Load not recorded (results from before it was)" in text and "‡" not in text and "ddag" not in text
        assert "Timed under" not in text
    mixed = pd.concat([store((("lanczos3", 5.0),)), store((("bicubic", 9.0),), recorded=False)], ignore_index=True)
    md = cost_markdown(mixed)
    assert md_rows(md)["lanczos3"][-1] == "13.5 ‡" and md_rows(md)["bicubic"][-1] == "13.5"
    assert "Load not recorded for bicubic x2" in md


def test_a_load_column_holding_text_is_one_clear_error(tmp_path):
    path = tmp_path / "m.csv"
    store().assign(load_1m="busy").to_csv(path, index=False)
    with pytest.raises(LmarError, match=r"m\.csv: column load_1m holds text"):
        load_results([path])


@pytest.fixture
def counting_load(monkeypatch):
    """``os.getloadavg`` as evaluate calls it returning 1, 2, 3, ... (or 100, 99, ... with .falling)."""
    calls = {"n": 0, "falling": False}

    def fake():
        calls["n"] += 1
        value = 100.0 - calls["n"] if calls["falling"] else float(calls["n"])
        return value, 0.0, 0.0

    monkeypatch.setattr("lmar.run.evaluate.os.getloadavg", fake)
    return calls


def _evaluate(capsys, mini_data, backbone_ckpt, out, threads: int) -> pd.DataFrame:
    labels = json.dumps({"dataset": "mini", "backbone": "unet", "resampler": "bicubic", "config_hash": "x"})
    rc, err = run_cli(capsys, "evaluate", "--data", mini_data, "--backbone", backbone_ckpt,
                      "--resampler-spec", '{"type": "bicubic"}', "--evaluation", '{"scales": [2, 3]}',
                      "--labels", labels, "--out", out / "m.csv", "--images", out / "img", "--device", "cpu",
                      "--threads", threads)
    assert rc == 0, err
    return pd.read_csv(out / "m.csv")


def test_evaluate_records_load_cpus_threads_and_when(capsys, mini_data, backbone_ckpt, tmp_path):
    before = datetime.now(UTC)
    df = _evaluate(capsys, mini_data, backbone_ckpt, tmp_path, threads=1)
    after = datetime.now(UTC)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert (df["cpus"] == cpus).all() and (df["threads"] == 1).all()
    assert df["load_1m"].notna().all() and (df["load_1m"] >= 0).all() and df["load_1m"].map(math.isfinite).all()
    for text in df["timed_at"]:
        when = datetime.fromisoformat(text)
        assert when.utcoffset() == timedelta(0), text
        assert before <= when <= after, (text, before, after)


def test_each_row_holds_the_higher_load_of_just_before_and_just_after_its_timing(
        capsys, mini_data, backbone_ckpt, tmp_path, counting_load):
    rising = _evaluate(capsys, mini_data, backbone_ckpt, tmp_path / "rising", threads=1)
    n = len(rising)
    # two samples per timed call (before, after), nothing else: rising 1, 2, 3, ... -> the after: 2, 4, ...
    assert counting_load["n"] == 2 * n
    assert sorted(rising["load_1m"]) == [2.0 * k for k in range(1, n + 1)]
    counting_load.update(n=0, falling=True)  # 99, 98, ... -> the before of each pair: 99, 97, ...
    falling = _evaluate(capsys, mini_data, backbone_ckpt, tmp_path / "falling", threads=1)
    assert sorted(falling["load_1m"], reverse=True) == [100.0 - (2 * k - 1) for k in range(1, n + 1)]


def test_a_store_gathered_from_files_before_and_after_the_columns_keeps_them_and_renders(tmp_path):
    from lmar.report.store import gather

    store((("lanczos3", 5.0),)).assign(config_hash="x").to_csv(tmp_path / "new.csv", index=False)
    store((("bicubic", 9.0),), recorded=False).assign(config_hash="x").to_csv(tmp_path / "old.csv", index=False)
    gather([tmp_path / "new.csv", tmp_path / "old.csv"], tmp_path / "r.parquet", tmp_path / "r.csv")
    df = load_results([tmp_path / "r.parquet"])
    assert df.loc[df["resampler"] == "lanczos3", "timed_at"].notna().all()
    assert df.loc[df["resampler"] == "bicubic", ["load_1m", "cpus", "threads", "timed_at"]].isna().all().all()
    md = cost_markdown(df)
    assert md_rows(md)["lanczos3"][-1] == "13.5 ‡" and md_rows(md)["bicubic"][-1] == "13.5"
    assert "Load not recorded for bicubic x2" in md


def test_the_legend_names_a_resamplers_loaded_targets_once_with_the_range_of_their_loads():
    def two_targets(x4_load: float) -> pd.DataFrame:
        x2 = store((("lanczos3", 5.0),))
        return pd.concat([x2, x2.assign(target="x4", scale=4.0, load_1m=x4_load)], ignore_index=True)

    # the loads print alike (5.00): one number; apart: both ends
    assert "lanczos3 x2, x4: load 5.00 against 2 CPUs, 1 own thread)" in cost_markdown(two_targets(5.001))
    assert "lanczos3 x2, x4: load 5.00 to 6.00 against 2 CPUs, 1 own thread)" in cost_markdown(two_targets(6.0))


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not on PATH (texlive is not installed here)")
def test_the_marked_cost_table_compiles_without_an_overfull_box(tmp_path):
    (tmp_path / "doc.tex").write_text("\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
                                      + cost_latex(store(loads=(("learned_resizer", 5.0), ("bicubic", 2.5))))
                                      + "\n\\end{document}\n")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"], check=False,
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:]
    log = (tmp_path / "doc.log").read_text(errors="replace")
    assert "Overfull \\hbox" not in log and "Missing character" not in log, log[-2000:]


def test_a_measured_cpu_wait_decides_over_the_load_average():
    """cpu_wait (lmar.run.cpu_wait) measured: the share of a row's passes together, weighted by their times
    (13 and 14 ms here), above 5% marks it whatever the load; at or below, not even under a load that
    would; where not measured (NaN) the load rule stands."""
    df = store((("lanczos3", 5.0), ("bicubic", 2.5), ("area", 5.0), ("resizer", 2.5)))
    waits = {("lanczos3", "i1"): 0.01, ("lanczos3", "i2"): 0.01, ("bicubic", "i1"): 0.30, ("bicubic", "i2"): 0.002,
             ("resizer", "i1"): 0.08, ("resizer", "i2"): 0.02}
    df["cpu_wait"] = [waits.get((r, i), float("nan")) for r, i in zip(df["resampler"], df["image"])]
    costs = cost_frame(df).set_index("resampler")
    # by hand: bicubic (0.30 * 13 + 0.002 * 14) / 27 = 0.14548; resizer (0.08 * 13 + 0.02 * 14) / 27 = 0.04889
    assert costs["under load"].to_dict() == {"lanczos3": False, "bicubic": True, "area": True, "resizer": False}
    assert costs.loc["bicubic", "cpu wait"] == pytest.approx(3.928 / 27)
    assert costs.loc["resizer", "cpu wait"] == pytest.approx(1.32 / 27) and math.isnan(costs.loc["area", "cpu wait"])
    md = cost_markdown(df)
    assert md_rows(md)["bicubic"][-1].endswith("‡") and not md_rows(md)["lanczos3"][-1].endswith("‡")
    assert "waited for a CPU for at most 15% of their runnable time (a row's passes together, where measured)" in md
    assert "bicubic x2: waited 15%, load 2.50 against 2 CPUs, 1 own thread" in md
    assert "more than 5% of their runnable time" in md
    df.loc[df["resampler"] == "resizer", "cpu_wait"] = 0.053  # just above the limit: printed as above it
    assert "resizer x2: waited 5.3%" in cost_markdown(df)
    assert "15\\%" in cost_latex(df)  # a percent sign escaped in LaTeX, not a comment
