"""What the tables leave out: a note per thing, in the table, in left_out.md, and in the exit status."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from helpers import result_rows

from lmar.cli import main
from lmar.core.errors import LmarError
from lmar.report import left_out
from lmar.report.store import gather
from lmar.report.write import write_table


@pytest.fixture
def good(tmp_path):
    paths = []
    for name in ("bicubic", "lmar"):
        paths.append(tmp_path / f"{name}.csv")
        pd.DataFrame(result_rows(name)).to_csv(paths[-1], index=False)
    return paths


@pytest.fixture
def lacking(tmp_path):
    path = tmp_path / "area.csv"
    pd.DataFrame(result_rows("area", only="bicubic")).drop(columns=["target"]).to_csv(path, index=False)
    return path


def test_the_record_round_trips_and_says_when_nothing_was_left_out(tmp_path):
    left_out.write(tmp_path / "a.md", ["one thing", "another: with a colon"])
    left_out.write(tmp_path / "b.md", [])
    assert left_out.read(tmp_path / "a.md") == ["one thing", "another: with a colon"]
    assert left_out.read(tmp_path / "b.md") == [] and "Nothing was left out." in (tmp_path / "b.md").read_text()
    assert left_out.check([tmp_path / "b.md"]) == (0, [])
    assert left_out.check([tmp_path / "a.md", tmp_path / "b.md"]) == (3, ["one thing", "another: with a colon"])
    (tmp_path / "c.md").write_text("something else\n")
    with pytest.raises(LmarError, match="c.md is not a left-out record"):
        left_out.read(tmp_path / "c.md")


def test_a_file_lacking_columns_is_left_out_of_the_table_with_a_note(tmp_path, good, lacking):
    df, notes = write_table([*good, lacking], tmp_path / "t.md", out_left_out=tmp_path / "left_out.md")
    assert set(df["resampler"]) == {"bicubic", "lmar"}  # the good rows are all there
    assert len(notes) == 1 and str(lacking) in notes[0] and "lacks column(s) ['target']" in notes[0]
    assert left_out.read(tmp_path / "left_out.md") == notes
    assert f"**Left out:** {notes[0]}." in (tmp_path / "t.md").read_text()


def test_the_store_leaves_a_bad_file_out_only_when_asked_to_note_it(tmp_path, good, lacking):
    with pytest.raises(LmarError, match="lacks column"):
        gather([*good, lacking], tmp_path / "r.parquet", tmp_path / "r.csv")
    assert not (tmp_path / "r.parquet").exists()
    df, notes = gather([*good, lacking], tmp_path / "r.parquet", tmp_path / "r.csv", tmp_path / "g.md")
    assert len(df) == len(result_rows("bicubic")) + len(result_rows("lmar")) and left_out.read(tmp_path / "g.md") == notes
    # the table step carries the store's notes into its own record
    _, table_notes = write_table([tmp_path / "r.parquet"], tmp_path / "t.md", left_out_in=[tmp_path / "g.md"],
                                 out_left_out=tmp_path / "left_out.md")
    assert table_notes == notes and left_out.read(tmp_path / "left_out.md") == notes


def test_a_metric_missing_for_some_rows_is_counted_with_its_reason(tmp_path, good):
    df = pd.read_csv(good[1])
    df["lpips"] = None
    df["missing_metrics"] = json.dumps({"lpips": "no weights here"})
    df.to_csv(good[1], index=False)
    df = pd.read_csv(good[0])
    df["lpips"] = 0.25
    df.to_csv(good[0], index=False)
    _, notes = write_table(good, tmp_path / "t.md")
    n = len(result_rows("lmar"))
    assert notes == [f"LPIPS not computed for {n} of {2 * n} rows (resamplers lmar): no weights here"]


def test_a_gain_pair_that_did_not_run_is_noted(tmp_path, good):
    _, notes = write_table(good, tmp_path / "t.md", gain=("lmar", "nearest"))
    assert notes == ["gain pair lmar - nearest: nearest not in the table of mini / unet (seeds 0) "
                     "(config key report.gain)"]


def test_the_exit_status_says_whether_anything_was_left_out(tmp_path, good, lacking, capsys):
    outs = ["--out-md", str(tmp_path / "t.md"), "--out-tex", str(tmp_path / "t.tex")]
    assert main(["table", *map(str, good), *outs]) == 0
    capsys.readouterr()
    assert main(["table", *map(str, good), str(lacking), *outs]) == 3
    assert "1 thing(s) left out" in capsys.readouterr().err
    assert (tmp_path / "t.md").is_file() and (tmp_path / "t.tex").is_file()  # every output still written
    # a workflow step records the notes and succeeds; `lmar left-out` then gives the status
    assert main(["table", *map(str, good), str(lacking), *outs, "--out-left-out", str(tmp_path / "l.md")]) == 0
    capsys.readouterr()
    assert main(["left-out", str(tmp_path / "l.md")]) == 3
    err = capsys.readouterr().err
    assert f"left out: results file {lacking} lacks column(s)" in err
    assert main(["table", *map(str, good), *outs, "--out-left-out", str(tmp_path / "none.md")]) == 0
    assert main(["left-out", str(tmp_path / "none.md")]) == 0
    assert "nothing was left out" in capsys.readouterr().out
