"""The results table: rows per resampler, columns per target, the gain row, from synthetic CSVs."""

from __future__ import annotations

import pandas as pd
import pytest

from helpers import result_rows

from lmar.cli import main
from lmar.core.errors import LmarError
from lmar.report.overview import markdown_table, summary
from lmar.report.write import write_table


@pytest.fixture
def results(tmp_path):
    paths = []
    for name in ("bicubic", "lmar", "full_resolution"):
        path = tmp_path / f"{name}.csv"
        pd.DataFrame(result_rows(name)).to_csv(path, index=False)
        paths.append(path)
    return paths


def table_rows(text: str) -> dict[str, list[str]]:
    """Markdown table lines of the overview (the compact PSNR / SSIM tables, before the detailed
    ones) -> {first cell: other cells} (header included, separator skipped)."""
    out = {}
    for line in text.split("## Every metric")[0].splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            out[cells[0]] = cells[1:]
    return out


# The gain rows over the 2 test images: Student's t with 1 df (t = 12.706) is wider than the bootstrap's:
# x2 lmar - bicubic 1.0, 2.0 -> 1.5 +- 12.706 x 0.7071 / sqrt(2) = [-4.85, +7.85], SSIM 0.02, 0.04 -> 0.03 +- 0.1271;
# x3 -1.0, -0.5 -> -0.75 +- 3.18 = [-3.93, +2.43]; SSIM -0.01 on both images: no spread, [-0.01, -0.01] †.
def test_rows_per_resampler_columns_per_target_and_gain(results, tmp_path):
    df, _ = write_table(results, tmp_path / "t.md", tmp_path / "t.csv", ("lmar", "bicubic"), "Tiny")
    text = (tmp_path / "t.md").read_text()
    assert text.startswith("# Tiny\n")
    assert "### mini / unet: PSNR (dB) / SSIM, mean over 2 test images" in text
    t = table_rows(text)
    assert t["resampler"] == ["x2", "x3"]
    assert t["bicubic"] == ["21.00 / 0.8100", "19.00 / 0.7000"]
    assert t["lmar"] == ["22.50 / 0.8400", "18.25 / 0.6900"]
    assert t["full_resolution (no resampling)"] == ["30.50 / 0.9600"] * 2
    assert t["**lmar - bicubic**"] == ["+1.50 [-4.85, +7.85] within noise / +0.0300 [-0.0971, +0.1571] within noise", "-0.75 [-3.93, +2.43] within noise / -0.0100 [-0.0100, -0.0100] †"]
    assert len(t) == 5
    combined = pd.read_csv(tmp_path / "t.csv")
    assert len(df) == len(combined) == 10
    assert sorted(combined.resampler.unique()) == ["bicubic", "full_resolution", "lmar"]
    assert "code abc1234, device cpu:test, seed 0" in text
    assert "Resize loss used to train lmar: l1" in text
    assert "train bicubic" not in text


def test_gain_in_the_other_direction_flips_signs(results):
    df = pd.concat([pd.read_csv(p) for p in results])
    t = table_rows(markdown_table(df, ("bicubic", "lmar")))
    assert t["**bicubic - lmar**"] == ["-1.50 [-7.85, +4.85] within noise / -0.0300 [-0.1571, +0.0971] within noise",
                                    "+0.75 [-2.43, +3.93] within noise / +0.0100 [+0.0100, +0.0100] †"]


def test_no_gain_row_without_both_resamplers(results):
    df = pd.concat([pd.read_csv(p) for p in results[:1] + results[2:]])  # no lmar
    t = table_rows(markdown_table(df, ("lmar", "bicubic")))
    assert not any(k.startswith("**") for k in t)
    assert not any(k.startswith("**") for k in table_rows(markdown_table(pd.concat([pd.read_csv(p) for p in results]),
                                                                         None)))


def test_target_missing_for_one_resampler_shows_a_dash(results):
    df = pd.concat([pd.read_csv(p) for p in results])
    extra = pd.DataFrame([{**r, "target": "x4", "scale": 4.0, "psnr": 17.0, "ssim": 0.6}
                          for r in result_rows("lmar") if r["target"] == "x2"])
    t = table_rows(markdown_table(pd.concat([df, extra]), ("lmar", "bicubic")))
    assert t["resampler"] == ["x2", "x3", "x4"]
    assert t["bicubic"][2] == "-" and t["lmar"][2] == "17.00 / 0.6000"
    assert t["**lmar - bicubic**"] == ["+1.50 [-4.85, +7.85] within noise / +0.0300 [-0.0971, +0.1571] within noise", "-0.75 [-3.93, +2.43] within noise / -0.0100 [-0.0100, -0.0100] †", "-"]


def test_one_table_per_dataset_and_backbone(results, tmp_path):
    other = tmp_path / "other.csv"
    pd.DataFrame(result_rows("bicubic", backbone="unet_wide")).to_csv(other, index=False)
    write_table([*results, other], tmp_path / "t.md", tmp_path / "t.csv")
    text = (tmp_path / "t.md").read_text().split("## Every metric")[0]
    assert text.count("### ") == 2 and "### mini / unet_wide" in text
    second = text.split("### mini / unet_wide")[1]
    t = table_rows(second)
    assert t == {"resampler": ["x2", "x3"], "bicubic": ["21.00 / 0.8100", "19.00 / 0.7000"]}


def test_summary_means_per_target(results):
    df = pd.concat([pd.read_csv(p) for p in results])
    s = summary(df).set_index(["resampler", "target"])
    assert s.loc[("lmar", "x3"), "psnr"] == pytest.approx(18.25)
    assert s.loc[("lmar", "x3"), "n"] == 2
    assert s.loc[("full_resolution", "full"), "scale"] == 1.0


def test_table_verb(capsys, results, tmp_path):
    rc = main(["table", *map(str, results), "--out-md", str(tmp_path / "o.md"), "--out-csv", str(tmp_path / "o.csv"),
               "--gain", "lmar", "bicubic", "--title", "CLI"])
    assert rc == 0, capsys.readouterr().err
    t = table_rows((tmp_path / "o.md").read_text())
    assert t["**lmar - bicubic**"] == ["+1.50 [-4.85, +7.85] within noise / +0.0300 [-0.0971, +0.1571] within noise", "-0.75 [-3.93, +2.43] within noise / -0.0100 [-0.0100, -0.0100] †"]


def test_results_missing_a_column_are_refused(tmp_path):
    bad = tmp_path / "bad.csv"
    pd.DataFrame(result_rows("bicubic")).drop(columns=["target"]).to_csv(bad, index=False)
    with pytest.raises(LmarError, match="lacks column") as exc:
        write_table([bad], tmp_path / "t.md", tmp_path / "t.csv")
    assert str(bad) in str(exc.value) and "target" in str(exc.value)
    assert not (tmp_path / "t.md").exists() and not (tmp_path / "t.csv").exists()
    with pytest.raises(LmarError, match="no results"):
        write_table([], tmp_path / "t.md", tmp_path / "t.csv")


def test_rows_of_several_seeds_are_counted_as_images_times_seeds():
    seed0 = pd.DataFrame(result_rows("bicubic"))
    seed1 = seed0.assign(seed=1, psnr=seed0["psnr"] + 1.0)
    text = markdown_table(pd.concat([seed0, seed1]), gain=None)
    assert "mean over 2 test images x 2 seeds" in text
    # x2: images a, b at seeds 0 and 1: (20 + 22 + 21 + 23) / 4 = 21.50
    assert "| bicubic | 21.50 / 0.8100 |" in text


def test_the_plot_keeps_two_targets_at_one_factor_apart():
    """x1.8 (1200x1600) and x1.8-aspect (1200x2133) both have factor 1.8: two points, not one mean."""
    import matplotlib.pyplot as plt

    from lmar.report.plots import psnr_figure

    rows = [{"dataset": "d", "backbone": "b", "resampler": "bicubic", "target": t, "scale": sc, "image": im,
             "psnr": p + k, "ssim": 0.5}
            for t, sc, p in (("x1.5", 1.5, 30.0), ("x1.8", 1.8, 20.0), ("x1.8-aspect", 1.8, 26.0), ("x2", 2.0, 24.0))
            for k, im in enumerate(("i1", "i2"))]
    grid = psnr_figure(pd.DataFrame(rows))
    ax = grid.axes[1][0]  # the mean PSNR row (the top row: paired differences to a baseline)
    line = max(ax.get_lines(), key=lambda ln: len(ln.get_ydata()))
    # one point per target, in order of factor (ties in the order given), each the mean of its 2 images
    assert list(line.get_ydata()) == [30.5, 20.5, 26.5, 24.5]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x1.5", "x1.8", "x1.8-aspect", "x2"]
    plt.close("all")


def test_a_gain_pair_naming_a_resampler_not_in_the_run_says_so(results, caplog):
    df = pd.concat([pd.read_csv(p) for p in results])
    text = markdown_table(df, ("lmar", "nearest"))
    assert "No lmar - nearest row here: nearest did not run with these backbone and seeds (config key report.gain)" \
        in text
    assert "gain pair lmar - nearest: nearest not in the table" in caplog.text
