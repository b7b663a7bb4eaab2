"""The gain heatmap: the gain pair's paired PSNR gain per backbone and target, from synthetic results."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest

from lmar.report.plots import gain_heatmap

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def cells(ax) -> dict[tuple[int, int], tuple[str, tuple]]:
    """{(row, column): (printed text, RGBA fill)} of a heatmap panel, read from what was drawn: each
    text at its cell's centre, each cell's fill from the one mesh that paints it (not transparent)."""
    out = {}
    n_rows, n_cols = len(ax.get_yticks()), len(ax.get_xticks())
    for text in ax.texts:
        x, y = text.get_position()
        row, col = int(y), int(x)
        fills = [tuple(np.round(mesh.get_facecolors()[row * n_cols + col], 4)) for mesh in ax.collections
                 if mesh.get_facecolors()[row * n_cols + col][3] > 0]
        assert len(fills) == 1, (text.get_text(), fills)  # one fill per cell, not a grey over a colour
        out[row, col] = (text.get_text(), fills[0])
    assert len(out) <= n_rows * n_cols
    return out


def texts(ax) -> list[str]:
    """The printed cells, row by row."""
    return [text for _, (text, _) in sorted(cells(ax).items())]


def is_grey(rgba) -> bool:
    return rgba[0] == rgba[1] == rgba[2]


def rows_of(gains: dict, **extra) -> pd.DataFrame:
    """{(backbone, target): per-image lmar - bicubic} -> results rows (bicubic 20 dB on every image)."""
    rows = []
    for (backbone, t), per_image in gains.items():
        for name in ("lmar", "bicubic"):
            for k, diff in enumerate(per_image):
                row = {"dataset": "d", "backbone": backbone, "resampler": name, "target": t, "scale": float(t[1:]),
                       "image": f"i{k}", "seed": 0, "psnr": 20.0 + (diff if name == "lmar" else 0.0)}
                row.update({key: fn(backbone, name) for key, fn in extra.items()})
                rows.append(row)
    return pd.DataFrame(rows)


def test_the_gain_heatmap_shows_the_paired_mean_gain_per_backbone_and_target():
    rows = []
    for backbone, gain in (("unet", 1.0), ("naf", -0.5)):
        for name, offset in (("lmar", gain), ("bicubic", 0.0)):
            for t, sc in (("x2", 2.0), ("x4", 4.0)):
                for k, im in enumerate(("i1", "i2")):
                    rows.append({"dataset": "d", "backbone": backbone, "resampler": name, "target": t, "scale": sc,
                                 "image": im, "seed": 0, "psnr": 20.0 + k + offset * (sc / 2)})
    ax = gain_heatmap(pd.DataFrame(rows), ("lmar", "bicubic")).axes[0]
    # by hand: gain = offset x scale / 2: unet +1.00 at x2, +2.00 at x4; naf -0.50, -1.00; the backbones in
    # the order of the rows, as in the tables (not by name); both images differ by the same amount, so
    # every interval is that one point, which excludes 0: a dagger on each
    assert texts(ax) == ["+1.00\u2020", "+2.00\u2020", "-0.50\u2020", "-1.00\u2020"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["unet", "naf"]  # no column says what was kept: no star
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x2", "x4"]


def test_the_gain_heatmap_marks_noise_and_a_resampler_that_kept_its_initial_weights():
    # lmar - bicubic per image: unet +1 and -1 at x2 (mean 0, the interval holds 0: no dagger), +1.9 and +2.1
    # at x4 (mean +2; with 2 images the interval is Student's t, 2 +- 12.706 x 0.1414 / sqrt(2) = [0.73, 3.27]:
    # a dagger); naf +0.5 on both at both targets. On unet lmar kept its initial weights (kept epoch -1), on naf
    # its epoch 3.
    gains = {("unet", "x2"): (1.0, -1.0), ("unet", "x4"): (1.9, 2.1), ("naf", "x2"): (0.5, 0.5), ("naf", "x4"): (0.5, 0.5)}
    kept = {"resampler_kept_epoch": lambda backbone, name: (-1 if backbone == "unet" else 3) if name == "lmar" else None}
    ax = gain_heatmap(rows_of(gains, **kept), ("lmar", "bicubic")).axes[0]
    assert texts(ax) == ["+0.00", "+2.00\u2020", "+0.50\u2020", "+0.50\u2020"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["unet *", "naf"]
    assert "* lmar kept its initial weights" in ax.get_title() and "\u2020 paired 95% interval excludes 0" in ax.get_title()


def test_a_gain_within_noise_is_grey_and_does_not_set_the_colour_scale():
    """unet x2: +4 and -2 dB, mean +1 whose interval holds 0 (Student's t, 1 +- 12.706 x 4.243 / sqrt 2); naf x2:
    +0.5 on both images, significant. Coloured by its mean, the noise cell would be the darkest blue and the
    finding pale; drawn as a reader needs it, the noise cell is grey and the scale spans the finding:
    +0.5 dB is RdBu's end (the scale's least span, 0.25 dB, is below it)."""
    from matplotlib import colormaps

    ax = gain_heatmap(rows_of({("unet", "x2"): (4.0, -2.0), ("naf", "x2"): (0.5, 0.5)}), ("lmar", "bicubic")).axes[0]
    drawn = cells(ax)
    assert drawn[0, 0][0] == "+1.00" and is_grey(drawn[0, 0][1])
    assert drawn[1, 0][0] == "+0.50\u2020"
    assert drawn[1, 0][1] == tuple(np.round(colormaps["RdBu"](1.0), 4))
    assert "grey: holds 0" in ax.get_title()


def test_a_significant_loss_is_red_and_a_gain_blue_on_one_scale():
    """unet -0.5 and naf +0.25 on both images, each significant: the scale spans +-0.5, the loss at RdBu's red
    end, the gain halfway to its blue end (0.75 of the map), neither grey."""
    from matplotlib import colormaps

    ax = gain_heatmap(rows_of({("unet", "x2"): (-0.5, -0.5), ("naf", "x2"): (0.25, 0.25)}), ("lmar", "bicubic")).axes[0]
    drawn = cells(ax)
    assert drawn[0, 0][1] == tuple(np.round(colormaps["RdBu"](0.0), 4))
    assert drawn[1, 0][1] == tuple(np.round(colormaps["RdBu"](0.75), 4))
    assert not any(is_grey(fill) for _, fill in drawn.values())


def test_the_gain_heatmap_stars_a_backbone_where_the_resampler_kept_its_initial_weights_at_some_seeds():
    """Three seeds: on unet lmar kept its initial weights at seed 0 only, on naf at every seed, on vit at
    none. Each row's mean mixes the seeds, so unet is starred too, its seeds named in the title."""
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
        "\u2020 paired 95% interval excludes 0; grey: holds 0 * lmar kept its initial weights (unet: seed 0 of 3)")


def test_the_gain_heatmap_prints_a_small_significant_gain_with_the_decimals_that_show_it():
    """lmar - bicubic +0.006, +0.008, +0.010, +0.012 dB over 4 images: +0.009 [+0.005, +0.013] (Student's t,
    3.1824 x 0.002582 / 2), a dagger; at two decimals the cell would read "+0.01" like a noise cell."""
    ax = gain_heatmap(rows_of({("unet", "x2"): (0.006, 0.008, 0.010, 0.012)}), ("lmar", "bicubic")).axes[0]
    assert texts(ax) == ["+0.009\u2020"]
