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


def test_the_gain_heatmap_shows_the_paired_mean_gain_per_backbone_and_target():
    import matplotlib.pyplot as plt

    from lmar.report.plots import gain_heatmap

    rows = []
    for backbone, gain in (("unet", 1.0), ("naf", -0.5)):
        for name, offset in (("lmar", gain), ("bicubic", 0.0)):
            for t, sc in (("x2", 2.0), ("x4", 4.0)):
                for k, im in enumerate(("i1", "i2")):
                    rows.append({"dataset": "d", "backbone": backbone, "resampler": name, "target": t, "scale": sc,
                                 "image": im, "seed": 0, "psnr": 20.0 + k + offset * (sc / 2)})
    fig = gain_heatmap(pd.DataFrame(rows), ("lmar", "bicubic"))
    ax = fig.axes[0]
    # by hand: gain = offset x scale / 2: unet +1.00 at x2, +2.00 at x4; naf -0.50, -1.00; the backbones in
    # the order of the rows, as in the tables (not by name); both images differ by the same amount, so
    # every interval is that one point, which excludes 0: a dagger on each
    assert [t.get_text() for t in ax.texts] == ["+1.00\u2020", "+2.00\u2020", "-0.50\u2020", "-1.00\u2020"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["unet", "naf"]  # no column says what was kept: no star
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x2", "x4"]
    plt.close("all")


def test_the_gain_heatmap_marks_noise_and_a_resampler_that_kept_its_initial_weights():
    import matplotlib.pyplot as plt

    from lmar.report.plots import gain_heatmap

    rows = []
    # lmar - bicubic per image: unet +1 and -1 at x2 (mean 0, the interval holds 0: no dagger), +1.9 and +2.1
    # at x4 (mean +2; with 2 images the interval is Student's t, 2 +- 12.706 x 0.1414 / sqrt(2) = [0.73, 3.27]:
    # a dagger); naf +0.5 on both at both targets. On unet lmar kept its initial weights (kept epoch -1), on naf
    # its epoch 3.
    gains = {("unet", "x2"): (1.0, -1.0), ("unet", "x4"): (1.9, 2.1), ("naf", "x2"): (0.5, 0.5), ("naf", "x4"): (0.5, 0.5)}
    for (backbone, t), per_image in gains.items():
        for name in ("lmar", "bicubic"):
            for k, im in enumerate(("i1", "i2")):
                rows.append({"dataset": "d", "backbone": backbone, "resampler": name, "target": t,
                             "scale": float(t[1:]), "image": im, "seed": 0,
                             "psnr": 20.0 + (per_image[k] if name == "lmar" else 0.0),
                             "resampler_kept_epoch": (-1 if backbone == "unet" else 3) if name == "lmar" else None})
    fig = gain_heatmap(pd.DataFrame(rows), ("lmar", "bicubic"))
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ["+0.00", "+2.00\u2020", "+0.50\u2020", "+0.50\u2020"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["unet *", "naf"]
    assert "* lmar kept its initial weights" in ax.get_title() and "\u2020 paired 95% interval excludes 0" in ax.get_title()
    plt.close("all")


def test_the_gain_heatmap_stars_a_backbone_where_the_resampler_kept_its_initial_weights_at_some_seeds():
    """Three seeds: on unet lmar kept its initial weights at seed 0 only, on naf at every seed, on vit at
    none. Each row's mean mixes the seeds, so unet is starred too, its seeds named in the title."""
    import matplotlib.pyplot as plt

    from lmar.report.plots import gain_heatmap

    kept = {"unet": (-1, 2, 1), "naf": (-1, -1, -1), "vit": (0, 3, 1)}
    rows = [{"dataset": "d", "backbone": backbone, "resampler": name, "target": "x2", "scale": 2.0, "image": im,
             "seed": seed, "psnr": 20.0 + (0.5 if name == "lmar" else 0.0),
             "resampler_kept_epoch": epochs[seed] if name == "lmar" else None}
            for backbone, epochs in kept.items() for seed in range(3) for name in ("lmar", "bicubic")
            for im in ("i1", "i2")]
    ax = gain_heatmap(pd.DataFrame(rows), ("lmar", "bicubic")).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["unet *", "naf *", "vit"]
    title = ax.get_title().split("\n")
    assert all(len(line) <= 48 for line in title[1:]), title
    assert " ".join(title[1:]).replace("\u00a0", " ") == (
        "\u2020 paired 95% interval excludes 0 * lmar kept its initial weights (unet: seed 0 of 3)")
    plt.close("all")


def test_the_gain_heatmap_prints_a_small_significant_gain_with_the_decimals_that_show_it():
    """lmar - bicubic +0.006, +0.008, +0.010, +0.012 dB over 4 images: +0.009 [+0.005, +0.013] (Student's t,
    3.1824 x 0.002582 / 2), a dagger; at two decimals the cell would read "+0.01" like a noise cell."""
    import matplotlib.pyplot as plt

    from lmar.report.plots import gain_heatmap

    rows = []
    for k, im in enumerate(("i1", "i2", "i3", "i4")):
        for name, psnr in (("lmar", 20.0 + 0.006 + 0.002 * k), ("bicubic", 20.0)):
            rows.append({"dataset": "d", "backbone": "unet", "resampler": name, "target": "x2", "scale": 2.0,
                         "image": im, "seed": 0, "psnr": psnr})
    fig = gain_heatmap(pd.DataFrame(rows), ("lmar", "bicubic"))
    assert [t.get_text() for t in fig.axes[0].texts] == ["+0.009\u2020"]
    plt.close("all")
