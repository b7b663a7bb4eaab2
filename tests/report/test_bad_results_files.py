"""Bad results files and bad output paths for the report verbs (table, plot, gather, compare-results,
plot-curves): one ``error:`` line naming the file (and the column or row), exit status 2, nothing
written, and never an input overwritten. Every results file below is written by hand."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pandas as pd
import pytest

from helpers import entries, one_error, run_cli

from lmar.core.errors import LmarError
from lmar.report.store import load_results

COLUMNS = ["dataset", "backbone", "resampler", "target", "scale", "target_h", "target_w", "image", "psnr", "ssim",
           "code_version", "device", "seed"]
# (resampler, target, scale, image, psnr, ssim)
ROWS = [("bicubic", "x2", 2.0, "a", 20.0, 0.80), ("bicubic", "x2", 2.0, "b", 22.0, 0.82),
        ("lmar", "x2", 2.0, "a", 22.0, 0.84), ("lmar", "x2", 2.0, "b", 23.0, 0.84),
        ("full_resolution", "full", 1.0, "a", 30.0, 0.95), ("full_resolution", "full", 1.0, "b", 31.0, 0.97)]


def results_csv(path: Path, drop=(), rows=ROWS, repeat: int = 0) -> Path:
    """A results CSV of ``rows`` (the first ``repeat`` of them twice), less the columns ``drop``."""
    table = [{"dataset": "mini", "backbone": "unet", "resampler": r, "target": t, "scale": s, "target_h": 10,
              "target_w": 10, "image": i, "psnr": p, "ssim": q, "code_version": "abc1234", "device": "cpu:test",
              "seed": 0} for r, t, s, i, p, q in [*rows, *rows[:repeat]]]
    df = pd.DataFrame(table, columns=COLUMNS).drop(columns=list(drop))
    df.to_csv(path, index=False)
    return path


def bytes_of(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in entries(folder) if (folder / name).is_file()}


# --- B: columns the table and plots index --------------------------------------------------------------------------

def test_a_file_without_seed_is_refused_as_it_is_read(tmp_path):
    bad = results_csv(tmp_path / "r.csv", drop=["seed"])
    with pytest.raises(LmarError, match=rf"^results file {bad} lacks column\(s\) \['seed'\]\. Re-run its evaluation"):
        load_results([bad])


@pytest.mark.parametrize("verb", ["table", "plot", "gather", "compare-results"])
def test_no_seed_column_is_one_error_naming_the_file(tmp_path, capsys, verb):
    bad = results_csv(tmp_path / "r.csv", drop=["seed"])
    out = tmp_path
    argv = {"table": ["table", bad, "--out-md", out / "t.md"],
            "plot": ["plot", bad, "--out", out / "p.png"],
            "gather": ["gather", bad, "--out", out / "s.parquet", "--out-csv", out / "s.csv"],
            "compare-results": ["compare-results", bad, bad, "--out-md", out / "c.md"]}[verb]
    line = one_error(*run_cli(capsys, *argv))
    assert str(bad) in line and "lacks column(s) ['seed']" in line
    assert entries(tmp_path) == ["r.csv"]


def test_a_table_of_rows_without_a_device_says_it_was_not_recorded(tmp_path, capsys):
    rc, err = run_cli(capsys, "table", results_csv(tmp_path / "r.csv", drop=["device"]), "--out-md", tmp_path / "t.md")
    assert rc == 0 and "Traceback" not in err, err
    assert "Produced by: code abc1234, device not recorded, seed 0" in (tmp_path / "t.md").read_text()


# --- B: a file with no rows ----------------------------------------------------------------------------------------

def test_a_header_only_file_is_refused_naming_it(tmp_path):
    empty = results_csv(tmp_path / "r.csv", rows=[])
    assert empty.read_text().count("\n") == 1
    with pytest.raises(LmarError, match=f"^results file {empty} has no rows .*re-run its evaluation"):
        load_results([empty])


@pytest.mark.parametrize("verb", ["table", "plot", "gather"])
def test_a_header_only_file_is_one_error_and_nothing_is_written(tmp_path, capsys, verb):
    empty = results_csv(tmp_path / "r.csv", rows=[])
    argv = {"table": ["table", empty, "--out-md", tmp_path / "t.md"],
            "plot": ["plot", empty, "--out", tmp_path / "p.png"],
            "gather": ["gather", empty, "--out", tmp_path / "s.parquet", "--out-csv", tmp_path / "s.csv"]}[verb]
    line = one_error(*run_cli(capsys, *argv))
    assert f"results file {empty} has no rows" in line
    assert entries(tmp_path) == ["r.csv"]


def test_gather_leaves_a_header_only_file_out_with_a_note(tmp_path, capsys):
    good, empty = results_csv(tmp_path / "a.csv"), results_csv(tmp_path / "b.csv", rows=[])
    rc, _ = run_cli(capsys, "gather", good, empty, "--out", tmp_path / "s.parquet", "--out-csv", tmp_path / "s.csv",
                    "--out-left-out", tmp_path / "left_out.md")
    assert rc == 0 and len(pd.read_parquet(tmp_path / "s.parquet")) == len(ROWS)
    assert f"results file {empty} has no rows" in (tmp_path / "left_out.md").read_text()


# --- B: a row twice ------------------------------------------------------------------------------------------------

def test_a_repeated_row_is_refused_naming_the_file_and_the_row(tmp_path):
    dup = results_csv(tmp_path / "r.csv", repeat=1)
    with pytest.raises(LmarError) as exc:
        load_results([dup])
    assert str(exc.value) == (
        f"results file {dup} repeats rows: 2 rows share one (dataset, backbone, seed, resampler, target, image), "
        "e.g. (dataset 'mini', backbone 'unet', seed 0, resampler 'bicubic', target 'x2', image 'a'); a results file "
        "holds each once. Re-run its evaluation (or gather the store again), or delete the repeated rows.")


def test_the_table_of_a_file_with_a_repeated_row_names_the_file(tmp_path, capsys):
    dup = results_csv(tmp_path / "r.csv", repeat=2)
    line = one_error(*run_cli(capsys, "table", dup, "--out-md", tmp_path / "t.md"))
    assert f"results file {dup} repeats rows" in line and "image 'b'" not in line and "Re-run" in line
    assert entries(tmp_path) == ["r.csv"]


def test_the_same_row_in_two_files_names_both(tmp_path, capsys):
    a, b = results_csv(tmp_path / "a.csv"), results_csv(tmp_path / "b.csv", rows=ROWS[2:3])
    line = one_error(*run_cli(capsys, "table", a, b, "--out-md", tmp_path / "t.md"))
    assert f"in {a} and {b}: the same evaluation is in two files" in line and "resampler 'lmar'" in line
    line = one_error(*run_cli(capsys, "table", a, a, "--out-md", tmp_path / "t.md"))
    assert f"results file {a} is given more than once" in line
    assert entries(tmp_path) == ["a.csv", "b.csv"]


# --- C: an output that is an input -----------------------------------------------------------------------------------

def test_table_refuses_to_write_over_its_input(tmp_path, capsys, monkeypatch):
    results = results_csv(tmp_path / "v3.csv")
    monkeypatch.chdir(tmp_path)
    before = bytes_of(tmp_path)
    for out in ("v3.csv", "./v3.csv", str(results), "sub/../v3.csv"):
        line = one_error(*run_cli(capsys, "table", "v3.csv", "--out-md", out))
        assert line.startswith(f"error: output --out-md {Path(out)} is the input v3.csv") and "choose another" in line
    for flag in ("--out-csv", "--out-tex", "--out-stats", "--out-left-out"):
        line = one_error(*run_cli(capsys, "table", "v3.csv", "--out-md", "t.md", flag, "v3.csv"))
        assert f"output {flag} v3.csv is the input v3.csv" in line
    assert bytes_of(tmp_path) == before


def test_table_refuses_to_write_over_a_left_out_record_it_reads(tmp_path, capsys):
    results = results_csv(tmp_path / "r.csv")
    record = tmp_path / "left_out.md"
    record.write_text("# Left out of the tables\n\nNothing was left out.\n")
    line = one_error(*run_cli(capsys, "table", results, "--left-out", record, "--out-md", tmp_path / "t.md",
                              "--out-left-out", record))
    assert f"output --out-left-out {record} is the input {record}" in line
    assert entries(tmp_path) == ["left_out.md", "r.csv"]


def test_a_hard_link_to_the_input_is_the_input(tmp_path, capsys):
    results = results_csv(tmp_path / "r.csv")
    os.link(results, tmp_path / "t.md")
    line = one_error(*run_cli(capsys, "table", results, "--out-md", tmp_path / "t.md"))
    assert f"output --out-md {tmp_path / 't.md'} is the input {results}" in line
    assert pd.read_csv(results).shape == (len(ROWS), len(COLUMNS))


@pytest.mark.parametrize("verb, flag", [("gather", "--out"), ("gather", "--out-csv"), ("gather", "--out-left-out"),
                                        ("plot", "--out"), ("plot", "--out-gain"), ("plot", "--out-latency"),
                                        ("compare-results", "--out-md")])
def test_the_other_report_verbs_refuse_to_write_over_an_input(tmp_path, capsys, verb, flag):
    results = results_csv(tmp_path / "r.csv")
    outs = {"gather": {"--out": tmp_path / "s.parquet", "--out-csv": tmp_path / "s.csv"},
            "plot": {"--out": tmp_path / "p.png"}, "compare-results": {}}[verb]
    outs[flag] = results
    inputs = [results, results] if verb == "compare-results" else [results]
    before = bytes_of(tmp_path)
    line = one_error(*run_cli(capsys, verb, *inputs, *[x for kv in outs.items() for x in kv]))
    assert f"output {flag} {results} is the input {results}" in line
    assert bytes_of(tmp_path) == before


def test_plot_refuses_an_output_whose_pdf_is_the_input(tmp_path, capsys):
    results = results_csv(tmp_path / "r.pdf")  # read as CSV: any suffix but .parquet
    line = one_error(*run_cli(capsys, "plot", results, "--out", tmp_path / "r.png"))
    assert f"output --out (its PDF) {results} is the input {results}" in line
    assert entries(tmp_path) == ["r.pdf"]


def test_plot_curves_refuses_to_write_over_a_curve(tmp_path, capsys):
    curve = tmp_path / "a.curve.csv"
    curve.write_text("epoch,total\n0,1.0\n")
    line = one_error(*run_cli(capsys, "plot-curves", curve, "--out", curve))
    assert f"output --out {curve} is the input {curve}" in line
    assert curve.read_text() == "epoch,total\n0,1.0\n"


def test_two_outputs_that_are_one_file_are_refused(tmp_path, capsys):
    results = results_csv(tmp_path / "r.csv")
    line = one_error(*run_cli(capsys, "table", results, "--out-md", tmp_path / "t.md", "--out-csv", tmp_path / "t.md"))
    assert f"outputs --out-md {tmp_path / 't.md'} and --out-csv {tmp_path / 't.md'} are the same file" in line
    assert entries(tmp_path) == ["r.csv"]


# --- A, through the report verbs: an output that cannot be written is found before the work ------------------------

def test_an_unwritable_output_is_refused_before_the_results_are_read(tmp_path, capsys, monkeypatch):
    import lmar.report.write

    results = results_csv(tmp_path / "r.csv")
    (tmp_path / "ro").mkdir()
    real_open = os.open

    def read_only(path, *args, **kwargs):
        if Path(os.fsdecode(path)).parent == tmp_path / "ro":
            raise OSError(errno.EROFS, "Read-only file system", os.fsdecode(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    monkeypatch.setattr(lmar.report.write, "load_results", lambda *a, **k: pytest.fail("the work began"))
    line = one_error(*run_cli(capsys, "table", results, "--out-md", tmp_path / "t.md",
                              "--out-csv", tmp_path / "ro" / "t.csv"))
    assert line == (f"error: cannot write {tmp_path / 'ro' / 't.csv'}: Read-only file system; choose an output path "
                    "on a file system you can write to")
    assert entries(tmp_path) == ["r.csv", "ro"]


def test_plot_without_time_s_for_the_latency_figure_is_one_error(tmp_path, capsys):
    results = results_csv(tmp_path / "r.csv")  # no time_s column
    line = one_error(*run_cli(capsys, "plot", results, "--out", tmp_path / "p.png", "--out-latency", tmp_path / "l.png"))
    assert f"results file {results} lacks column(s) ['time_s']" in line
    assert entries(tmp_path) == ["r.csv"]
