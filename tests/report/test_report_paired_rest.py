"""The rest of the paired tables: the claims check and the plots take the same reduced table blocks as
the tables (a missing row is a note and exit 3, never a crash); text in a metric column of a results
file is a note naming file, column and value (or one ``error:`` line), never a traceback or half an
output; an infinite PSNR is kept out of every mean with a note naming its rows. Every expected number
is worked out by hand in the comments from the hand-made rows."""

from __future__ import annotations

import math

import pandas as pd

from lmar.cli import main
from lmar.report import left_out
from lmar.report.blocks import finite_scores
from lmar.report.claims import claims_table
from lmar.report.write import write_table

TYPES = {"lmar": "lmar", "bicubic": "bicubic", "lanczos3": "lanczos3", "area": "area"}


def frame(units: dict, dataset="mini", backbone="unet") -> pd.DataFrame:
    """Results rows from {resampler: {target: {(seed, image): psnr}}}; SSIM is PSNR / 100, time 10 ms
    per dB (so that the latency plot's x says which rows a point is over)."""
    rows = []
    for name, targets in units.items():
        for target, values in targets.items():
            for (seed, image), v in values.items():
                rows.append({"dataset": dataset, "backbone": backbone, "resampler": name, "target": target,
                             "scale": float(target[1:]), "target_h": round(360 / float(target[1:])),
                             "target_w": round(480 / float(target[1:])), "image": image, "seed": seed, "psnr": v, "ssim": v / 100,
                             "time_s": v / 100, "resampler_type": TYPES[name],
                             "resampler_weights": "trained" if name == "lmar" else "none"})
    return pd.DataFrame(rows)


def cells(md: str, first: str) -> list[str]:
    """The cells after ``first`` of the Markdown table line that starts with it."""
    for line in md.splitlines():
        parts = [c.strip() for c in line.strip().strip("|").split("|")]
        if parts[0] == first:
            return parts[1:]
    raise AssertionError(f"no line {first!r} in\n{md}")


def claim(md: str, comparison: str) -> str:
    """The "measured" cell of the claims row of ``comparison``."""
    block = md.split("## Claims check")[1]
    for line in block.splitlines():
        parts = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(parts) > 5 and parts[2] == comparison:
            return parts[5]
    raise AssertionError(f"no claims row {comparison!r} in\n{block}")


def run(capsys, *argv) -> tuple[int, str]:
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    return rc, capsys.readouterr().err


def error_lines(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if ln.startswith("error:")]


# ---------------------------------------------------------------- 1. the claims check

# Two seeds, images a, b, c, one target x1.8. lmar is +1 dB over bicubic on a and b at both seeds;
# its row for (seed 1, image c) is lost, and at (seed 0, c) it is +7. Reduced to a, b x seeds 0, 1:
# the gain is +1.00 on each of the 4 units, so [+1.00, +1.00]. Unreduced, the seeds x images matrix
# of the pair has a hole at (seed 1, c): stats.compare refuses it (and the table used to stop there).
BASE = {"a": 30.0, "b": 28.0, "c": 26.0}
LOST = {"bicubic": {"x1.8": {(s, im): v + s for s in (0, 1) for im, v in BASE.items()}},
        "lmar": {"x1.8": {(s, im): v + s + (7.0 if im == "c" else 1.0) for s in (0, 1) for im, v in BASE.items()
                          if (s, im) != (1, "c")}}}


def test_a_row_lost_at_one_seed_is_a_note_in_the_claims_not_a_crash(tmp_path, capsys):
    path = tmp_path / "r.csv"
    frame(LOST).to_csv(path, index=False)
    rc, err = run(capsys, "table", path, "--out-md", tmp_path / "t.md", "--gain", "lmar", "bicubic")
    assert rc == 3, err
    assert error_lines(err) == [] and "Traceback" not in err
    md = (tmp_path / "t.md").read_text()
    assert claim(md, "lmar - bicubic") == "+1.00 dB [+1.00, +1.00], n = 2 images x 2 seeds"
    assert "**Left out:** mini / unet (seeds 0, 1): the rows were not scored on the same test images" in md


def test_the_claims_compare_each_pair_in_the_first_table_block_that_holds_both():
    # lmar and lanczos3 ran with seeds 0 and 1, bicubic with seed 0 only: two table blocks, seeds 0, 1
    # (lmar, lanczos3) and seed 0 (all three). lmar - lanczos3 is +2 on every image at seed 0 and +4
    # at seed 1: over the first block, both seeds, +3.00 (over seed 0 alone it would be +2.00).
    # lmar - bicubic only meets in the block of seed 0: bicubic is 2 below lanczos3 there, so +4.00.
    units = {"lanczos3": {"x1.8": {(s, im): v for s in (0, 1) for im, v in BASE.items()}},
             "lmar": {"x1.8": {(s, im): v + 2 + 2 * s for s in (0, 1) for im, v in BASE.items()}},
             "bicubic": {"x1.8": {(0, im): v - 2 for im, v in BASE.items()}}}
    md = claims_table(frame(units), n_boot=200)
    assert claim(md, "lmar - lanczos3").startswith("+3.00 dB [")
    assert claim(md, "lmar - lanczos3").endswith("n = 3 images x 2 seeds")
    assert claim(md, "lmar - bicubic") == "+4.00 dB [+4.00, +4.00], n = 3 images x 1 seed"


def test_a_claims_pair_whose_rows_were_left_out_of_the_tables_says_so():
    # lmar was scored on image z alone, which no other row has: the tables leave it out, and so does
    # the claims check, saying why rather than dropping the row silently or failing
    units = {"bicubic": {"x1.8": {(0, "a"): 30.0, (0, "b"): 31.0}},
             "lanczos3": {"x1.8": {(0, "a"): 30.5, (0, "b"): 31.5}},
             "lmar": {"x1.8": {(0, "z"): 40.0}}}
    md = claims_table(frame(units), n_boot=200)
    assert claim(md, "lmar - bicubic").startswith("cannot be tested: no test image scored by both at every seed")
    assert claim(md, "lmar - lanczos3").startswith("cannot be tested")


# ---------------------------------------------------------------- 2. the plots

# area was scored on a and b only (its job on c never finished); bicubic and lmar on a, b and c.
# Over the images all share (a, b): area x2 (30 + 32) / 2 = 31.0, bicubic 31.0, lmar 32.0; at x4 each
# 4 dB lower. Over its own images bicubic x2 would be (30 + 32 + 20) / 3 = 27.33.
SHORT = {name: {t: {(0, im): v + off - (4 if t == "x4" else 0) for im, v in {"a": 30.0, "b": 32.0, "c": 20.0}.items()
                    if not (name == "area" and im == "c")} for t in ("x2", "x4")}
         for name, off in (("area", 0.0), ("bicubic", 0.0), ("lmar", 1.0))}


def _lines(ax) -> set[tuple]:
    """The y values of every data line of a seaborn line plot (each resampler's), rounded."""
    return {tuple(round(float(y), 4) for y in ln.get_ydata()) for ln in ax.get_lines() if len(ln.get_ydata()) > 1}


def test_the_psnr_figure_averages_every_resampler_over_the_images_all_share():
    import matplotlib.pyplot as plt

    from lmar.report.plots import psnr_figure

    grid = psnr_figure(frame(SHORT))
    lines = _lines(grid.axes[1][0])  # the mean PSNR row
    # area and bicubic coincide (one tuple); unreduced, bicubic would be (27.33, 23.33)
    assert lines == {(31.0, 27.0), (32.0, 28.0)}, lines
    plt.close("all")


def test_the_psnr_figure_has_a_panel_per_set_of_seeds():
    import matplotlib.pyplot as plt

    from lmar.report.plots import psnr_figure

    # bicubic and lmar with seeds 0 and 1; area (an ablation) with seed 0 only: two tables, two panels.
    # Seeds 0, 1: bicubic x2 (30 + 31) / 2 = 30.5, lmar 31.5; seed 0: area 29, bicubic 30, lmar 31.
    units = {"bicubic": {"x2": {(0, "a"): 30.0, (1, "a"): 31.0}, "x4": {(0, "a"): 26.0, (1, "a"): 27.0}},
             "lmar": {"x2": {(0, "a"): 31.0, (1, "a"): 32.0}, "x4": {(0, "a"): 27.0, (1, "a"): 28.0}},
             "area": {"x2": {(0, "a"): 29.0}, "x4": {(0, "a"): 25.0}}}
    grid = psnr_figure(frame(units))
    # a column per panel: its name heads the top row, its means are the bottom row
    panels = {top.get_title().split("\n")[0]: _lines(bottom) for top, bottom in zip(*grid.axes)}
    assert panels == {"mini / unet (seeds 0, 1)": {(30.5, 26.5), (31.5, 27.5)},
                      "mini / unet (seed 0)": {(29.0, 25.0), (30.0, 26.0), (31.0, 27.0)}}, panels
    plt.close("all")


def test_the_latency_plot_averages_over_the_images_all_share():
    import matplotlib.pyplot as plt

    from lmar.report.plots import quality_latency

    grid = quality_latency(frame(SHORT))
    points = {tuple(round(float(v), 4) for v in p) for c in grid.axes.flat[0].collections for p in c.get_offsets()}
    # time is 10 ms per dB: bicubic x2 over a, b is 310 ms at 31.0 dB (unreduced: 273.33 ms at 27.33)
    assert points == {(310.0, 31.0), (270.0, 27.0), (320.0, 32.0), (280.0, 28.0)}, points
    plt.close("all")


def test_the_gain_heatmap_is_over_the_units_of_the_tables_gain_row():
    import matplotlib.pyplot as plt

    from lmar.report.plots import gain_heatmap

    # lmar - bicubic is +1 on a and b and +9 on c, which area lacks: the table's gain row is over a
    # and b (+1.00); over every image both have it would be (1 + 1 + 9) / 3 = +3.67
    units = {name: {"x2": {k: v for k, v in values["x2"].items()}} for name, values in SHORT.items()}
    units["lmar"]["x2"][(0, "c")] = 29.0
    fig = gain_heatmap(frame(units), ("lmar", "bicubic"))
    assert [t.get_text() for t in fig.axes[0].texts] == ["+1.00\u2020"]  # +1 on both: the interval is that point
    plt.close("all")


# ---------------------------------------------------------------- 3. text in a metric column


# bicubic and lmar of SHORT, on all 3 images: bicubic x2 (30 + 32 + 20) / 3 = 27.33, x4 23.33
EVEN = {name: SHORT[name] for name in ("bicubic", "lmar")}


def _text_in_psnr(tmp_path):
    """A good results file (dataset mini) and one (dataset other) whose PSNR column holds a log line."""
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    frame(EVEN).to_csv(good, index=False)
    df = frame(EVEN, dataset="other")
    df["psnr"] = df["psnr"].astype(object)
    df.loc[3, "psnr"] = "CUDA out of memory"
    df.to_csv(bad, index=False)
    return good, bad


def test_text_in_a_metric_column_leaves_the_file_out_of_the_table_with_a_note(tmp_path, capsys):
    good, bad = _text_in_psnr(tmp_path)
    out = tmp_path / "out"
    rc, err = run(capsys, "table", good, bad, "--out-md", out / "t.md", "--out-left-out", out / "l.md")
    assert rc == 0 and error_lines(err) == [] and "Traceback" not in err, err
    notes = left_out.read(out / "l.md")
    assert len(notes) == 1
    assert f"results file {bad}: column psnr holds text where a number belongs in 1 of 12 rows" in notes[0]
    assert "'CUDA out of memory'" in notes[0] and "data row 4" in notes[0]
    md = (out / "t.md").read_text()
    assert "other" not in md.split("## Overview")[1] and "| bicubic | 27.33 / 0.2733 | 23.33 / 0.2333 |" in md
    # without a record: the same note, and exit status 3
    rc, err = run(capsys, "table", good, bad, "--out-md", out / "t2.md")
    assert rc == 3 and error_lines(err) == [] and "Traceback" not in err, err


def test_text_in_the_only_results_file_is_one_error_line_and_no_output(tmp_path, capsys):
    _, bad = _text_in_psnr(tmp_path)
    out = tmp_path / "out"
    rc, err = run(capsys, "table", bad, "--out-md", out / "t.md", "--out-csv", out / "t.csv",
                  "--out-left-out", out / "l.md")
    assert rc == 2 and "Traceback" not in err, err
    [line] = error_lines(err)
    assert str(bad) in line and "column psnr" in line and "'CUDA out of memory'" in line
    assert not out.exists() or list(out.iterdir()) == []


def test_gather_leaves_a_file_with_text_in_a_metric_column_out_with_a_note(tmp_path, capsys):
    good, bad = _text_in_psnr(tmp_path)
    out = tmp_path / "out"
    rc, err = run(capsys, "gather", good, bad, "--out", out / "r.parquet", "--out-csv", out / "r.csv",
                  "--out-left-out", out / "g.md")
    assert rc == 0 and error_lines(err) == [] and "Traceback" not in err, err
    [note] = left_out.read(out / "g.md")
    assert f"results file {bad}: column psnr" in note and "'CUDA out of memory'" in note
    store = pd.read_parquet(out / "r.parquet")
    assert set(store["dataset"]) == {"mini"} and len(store) == 12
    # the table step carries the note: exit status 3
    rc, err = run(capsys, "table", out / "r.parquet", "--left-out", out / "g.md", "--out-md", out / "t.md")
    assert rc == 3 and "Traceback" not in err, err


def test_gather_without_a_record_stops_with_one_error_line_and_writes_nothing(tmp_path, capsys):
    good, bad = _text_in_psnr(tmp_path)
    out = tmp_path / "out"
    rc, err = run(capsys, "gather", good, bad, "--out", out / "r.parquet", "--out-csv", out / "r.csv")
    assert rc == 2 and "Traceback" not in err, err
    [line] = error_lines(err)
    assert str(bad) in line and "column psnr" in line and "'CUDA out of memory'" in line
    assert not out.exists() or list(out.iterdir()) == []


def test_gather_of_a_column_parquet_cannot_hold_is_one_error_line_and_writes_nothing(tmp_path, capsys):
    # enhance_ms is not a column the tables average; numbers in one file, text in the other
    good, other = tmp_path / "good.csv", tmp_path / "other.csv"
    frame(SHORT).assign(enhance_ms=3.0).to_csv(good, index=False)
    frame(SHORT, dataset="other").assign(enhance_ms="slow").to_csv(other, index=False)
    out = tmp_path / "out"
    rc, err = run(capsys, "gather", good, other, "--out", out / "r.parquet", "--out-csv", out / "r.csv",
                  "--out-left-out", out / "g.md")
    assert rc == 2 and "Traceback" not in err, err
    [line] = error_lines(err)
    assert "enhance_ms" in line and "cannot write the results store" in line
    assert not out.exists() or list(out.iterdir()) == []


# ---------------------------------------------------------------- 4. infinite PSNR

# At x1.8 (so that the claims check compares them too), bicubic on a, b, c: 30, 32, 34 (mean 32.00). lmar: 31, 33 and, on c, an output identical to its
# ground truth: PSNR inf, SSIM 1. Its PSNR mean is over a and b: (31 + 33) / 2 = 32.00, "2 of 3"; the
# gain lmar - bicubic is +1 on a and b: +1.00 (2 of 3). SSIM stays: lmar (0.31 + 0.33 + 1) / 3 = 0.5467,
# gain (0.01 + 0.01 + 0.66) / 3 = +0.2267, its interval [+0.01, +0.66] (three draws all c: chance 1/27 > 2.5%).
EXACT = {"bicubic": {"x1.8": {(0, "a"): 30.0, (0, "b"): 32.0, (0, "c"): 34.0}},
         "lmar": {"x1.8": {(0, "a"): 31.0, (0, "b"): 33.0, (0, "c"): math.inf}}}


def _exact() -> pd.DataFrame:
    df = frame(EXACT)
    df.loc[df["psnr"] == math.inf, ["ssim", "time_s"]] = [1.0, 0.35]
    return df


def test_an_infinite_psnr_is_kept_out_of_every_mean_with_a_note(tmp_path):
    path = tmp_path / "r.csv"
    _exact().to_csv(path, index=False)  # written as "inf", read back as inf
    _, notes = write_table([path], tmp_path / "t.md", gain=("lmar", "bicubic"), out_stats=tmp_path / "s.csv")
    md = (tmp_path / "t.md").read_text()
    assert notes == [("PSNR is inf in 1 of 6 rows (an output equal to its ground truth): mini / unet, lmar at x1.8 "
                      "on c (seed 0). Left out of every PSNR mean, gain, rank and comparison (their cells count "
                      "the rows left); check those images' input and ground truth")]
    assert f"**Left out:** {notes[0]}." in md
    assert cells(md, "lmar") == ["32.00 (2 of 3) / 0.5467"]
    assert cells(md, "bicubic") == ["32.00 / 0.3200"]
    # SSIM over the 3 images (0.01, 0.01, 0.66): 0.2267 +- t(0.975, 2 df) 4.3027 x sd 0.37528 / sqrt(3) = +-0.9323
    assert cells(md, "**lmar - bicubic**") == ["+1.00 [+1.00, +1.00] † (2 of 3) / +0.2267 [-0.7056, +1.1589] within noise"]
    detailed = md.split("## Every metric")[1].split("## Claims")[0]
    lmar_psnr = cells(detailed, "lmar")[0]
    assert lmar_psnr.startswith("32.00 [") and lmar_psnr.endswith("(2 of 3)")
    assert not any("inf" in line for line in md.splitlines() if line.startswith("|"))
    stats = pd.read_csv(tmp_path / "s.csv")
    paired = stats[(stats.kind == "paired") & (stats.metric == "psnr")].iloc[0]
    assert (paired["mean_diff"], paired["n_images"], paired["n_dropped"]) == (1.0, 2, 1)
    assert claim(md, "lmar - bicubic") == "+1.00 dB [+1.00, +1.00], n = 2 images x 1 seed"


def test_finite_scores_names_every_row_and_keeps_the_rows():
    df = pd.concat([_exact(), _exact().assign(seed=1)], ignore_index=True)
    notes: list[str] = []
    out = finite_scores(df, notes)
    assert len(out) == len(df) and out["psnr"].isna().sum() == 2 and not out["psnr"].abs().eq(math.inf).any()
    assert out["ssim"].equals(df["ssim"]) and df["psnr"].abs().eq(math.inf).sum() == 2  # the input is untouched
    assert len(notes) == 1 and "PSNR is inf in 2 of 12 rows" in notes[0]
    assert "lmar at x1.8 on c (seed 0), c (seed 1)" in notes[0]
    assert finite_scores(df.iloc[:3], notes) is not None and len(notes) == 1  # finite rows: no note


def test_the_plots_leave_an_infinite_psnr_out(tmp_path, monkeypatch):
    from lmar.report import plots

    seen = {}

    def spy(name):
        real = getattr(plots, name)

        def wrapped(df, *args):
            seen[name] = df
            return real(df, *args)
        return wrapped

    for name in ("psnr_figure", "gain_heatmap", "quality_latency"):
        monkeypatch.setattr(plots, name, spy(name))
    path = tmp_path / "r.parquet"
    _exact().to_parquet(path, index=False)
    plots.write_plots(path, tmp_path / "p.png", tmp_path / "g.png", tmp_path / "l.png")
    for name, df in seen.items():
        assert not df["psnr"].abs().eq(math.inf).any(), name
        assert df["psnr"].isna().sum() == 1, name
    assert len(seen) == 3 and (tmp_path / "p.pdf").stat().st_size > 0
