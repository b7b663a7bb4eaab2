"""The scale figure (psnr_vs_scale): each resampler's PAIRED PSNR difference to the gain baseline at
each target, the targets placed at their downscaling factor on a log2 axis; below, the mean PSNR
without per-image bands and the full-resolution ceiling labelled off the data. Every expected number
here is worked out by hand from the scores written below."""

from __future__ import annotations

import itertools

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection

from lmar.report.plots import psnr_figure
from lmar.run.targets import FULL

# (target, factor) in the order the store lists them: not the order of their factors
TARGETS = [("x3", 3.0), ("x1.5", 1.5), ("x2", 2.0)]
BASE = {("a", 0): 20.0, ("a", 1): 21.0, ("b", 0): 14.0, ("b", 1): 15.0}  # lanczos3's scores, any target
# lmar minus lanczos3 per (image, seed); the paired mean is (1.0 + 0.5 - 0.25 + 0.75) / 4 = 0.5
LMAR_GAIN = {("a", 0): 1.0, ("a", 1): 0.5, ("b", 0): -0.25, ("b", 1): 0.75}
BICUBIC_GAIN = {("a", 0): -0.5, ("a", 1): -0.5, ("b", 0): -1.0, ("b", 1): 0.0}  # mean -0.5
CEILING = 25.0  # full_resolution on every image and seed


def row(resampler: str, target: str, scale: float, image: str, seed: int, psnr: float, backbone: str = "unet") -> dict:
    return {"dataset": "mini", "backbone": backbone, "resampler": resampler, "target": target, "scale": scale,
            "image": image, "seed": seed, "psnr": psnr, "ssim": 0.5, "time_s": 0.1}


def store(targets=TARGETS, ceiling: float = CEILING, lmar_shift=None) -> pd.DataFrame:
    """lanczos3, bicubic, lmar at every target over images a, b and seeds 0, 1, and full_resolution;
    lmar's score at a target is moved by ``lmar_shift[target]`` dB if given (the same for every unit)."""
    rows = []
    for target, scale in targets:
        drop = scale / 10  # a target's own level: the paired difference does not depend on it
        shift = (lmar_shift or {}).get(target, 0.0)
        for (image, seed), base in BASE.items():
            rows.append(row("lanczos3", target, scale, image, seed, base - drop))
            rows.append(row("bicubic", target, scale, image, seed, base - drop + BICUBIC_GAIN[image, seed]))
            rows.append(row("lmar", target, scale, image, seed, base - drop + LMAR_GAIN[image, seed] + shift))
    rows += [row("full_resolution", FULL, 1.0, image, seed, ceiling) for image, seed in BASE]
    return pd.DataFrame(rows)


def drawn(ax, label: str) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of the line labelled ``label`` in ``ax``."""
    lines = [line for line in ax.lines if line.get_label() == label]
    assert len(lines) == 1, [line.get_label() for line in ax.lines]
    return np.asarray(lines[0].get_xdata(), dtype=float), np.asarray(lines[0].get_ydata(), dtype=float)


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_the_difference_row_plots_the_paired_mean_per_target_in_factor_order():
    grid = psnr_figure(store(), "lanczos3")
    diff = grid.axes[0][0]
    x, y = drawn(diff, "lmar")
    assert list(np.diff(x) > 0) == [True, True]  # x1.5, x2, x3 from left to right
    assert y == pytest.approx([0.5, 0.5, 0.5], abs=1e-12)
    assert drawn(diff, "bicubic")[1] == pytest.approx([-0.5, -0.5, -0.5], abs=1e-12)


def test_each_target_has_its_own_paired_mean():
    grid = psnr_figure(store(lmar_shift={"x1.5": 1.0, "x3": -2.0}), "lanczos3")
    _, y = drawn(grid.axes[0][0], "lmar")
    assert y == pytest.approx([0.5 + 1.0, 0.5, 0.5 - 2.0], abs=1e-12)  # x1.5, x2, x3


def test_the_intervals_bracket_the_mean_and_are_reproducible():
    # lmar's differences per image, averaged over the two seeds: a 0.75, b 0.25. With 2 images the interval is
    # Student's t (wider than the bootstrap's): 0.5 +- t(0.975, 1 df) 12.7062 x sd 0.353553 / sqrt(2) = 0.5 +- 3.1765
    ints = []
    for _ in range(2):
        diff = psnr_figure(store(), "lanczos3").axes[0][0]
        x, _ = drawn(diff, "lmar")
        segments = [seg for coll in diff.collections for seg in coll.get_segments()
                    if np.allclose(seg[:, 0], seg[0, 0]) and np.isclose(seg[0, 0], x).any()]
        ints.append(sorted((seg[0, 0], min(seg[:, 1]), max(seg[:, 1])) for seg in segments))
        plt.close("all")
    assert ints[0] == ints[1] and len(ints[0]) == 3
    for _, low, high in ints[0]:
        assert (low, high) == pytest.approx((0.5 - 3.1765, 0.5 + 3.1765), abs=1e-3)


def test_the_baseline_is_the_zero_line_not_a_point():
    diff = psnr_figure(store(), "lanczos3").axes[0][0]
    assert "lanczos3" not in [line.get_label() for line in diff.lines]
    zero = [line for line in diff.lines if list(line.get_ydata()) == [0, 0] and list(line.get_xdata()) == [0, 1]]
    assert len(zero) == 1  # a horizontal line across the axes at y = 0
    assert "lanczos3" in diff.get_ylabel()


def test_targets_sit_at_their_factor_on_a_log2_axis_named_for_the_targets():
    absolute = psnr_figure(store(), "lanczos3").axes[1][0]
    x, y = drawn(absolute, "lanczos3")
    assert x == pytest.approx([1.5, 2.0, 3.0])
    assert y == pytest.approx([17.5 - 0.15, 17.5 - 0.2, 17.5 - 0.3])  # mean of BASE less the target's drop
    assert absolute.get_xscale() == "log" and absolute.xaxis.get_transform().base == 2
    assert list(absolute.get_xticks()) == pytest.approx([1.5, 2.0, 3.0])
    assert [t.get_text() for t in absolute.get_xticklabels()] == ["x1.5", "x2", "x3"]


def test_two_targets_at_one_factor_stay_two_points_around_it():
    targets = [("x2", 2.0), ("x2-aspect", 2.0), ("x3", 3.0)]
    absolute = psnr_figure(store(targets), "lanczos3").axes[1][0]
    x, _ = drawn(absolute, "lmar")
    assert len(x) == 3 and x[0] < x[1] < x[2]
    assert np.log2(x[:2]).mean() == pytest.approx(1.0)  # spread symmetrically about factor 2 ...
    assert 0.02 < np.log2(x[1] / x[0]) < 0.3 and x[2] == pytest.approx(3.0)  # ... by a little
    assert [t.get_text() for t in absolute.get_xticklabels()] == ["x2", "x2-aspect", "x3"]


def test_the_absolute_row_has_no_per_image_band():
    grid = psnr_figure(store(), "lanczos3")
    for ax in grid.axes[1]:
        assert not [c for c in ax.collections if isinstance(c, PolyCollection)]
        low, high = ax.get_ylim()
        assert high - low < 15  # means (17 to 18 dB) and the ceiling (25 dB), not images' 14 to 21 dB spread


def test_an_unpaired_row_does_not_enter_the_difference():
    df = store()
    # image c: lmar alone has it (left out of the block); lanczos3's (b, seed 1) at x2 is missing
    extra = pd.DataFrame([row("lmar", t, s, "c", seed, 40.0) for t, s in TARGETS for seed in (0, 1)])
    df = pd.concat([df, extra], ignore_index=True)
    df.loc[(df["resampler"] == "lanczos3") & (df["target"] == "x2") & (df["image"] == "b") & (df["seed"] == 1),
           "psnr"] = np.nan
    _, y = drawn(psnr_figure(df, "lanczos3").axes[0][0], "lmar")
    # at x2 image b leaves the comparison (missing at one seed: the seeds x images matrix must be whole,
    # as in the table's statistics): (1.0 + 0.5) / 2 over image a; elsewhere the four pairs of a and b
    assert y == pytest.approx([0.5, 0.75, 0.5], abs=1e-12)


def _data_points(ax) -> np.ndarray:
    """Display coordinates of every point and of points along every segment of the data lines."""
    out = []
    for line in ax.lines:
        xy = np.column_stack([line.get_xdata(), line.get_ydata()]).astype(float)
        if line.get_linestyle() == "--":
            continue  # the ceiling itself
        xy = line.get_transform().transform(xy)
        out.append(xy)
        for a, b in itertools.pairwise(xy):
            out.append(a + np.linspace(0, 1, 50)[:, None] * (b - a))
    return np.concatenate(out)


@pytest.mark.parametrize("shift", [{}, {"x3": 7.5}, {"x3": 7.5, "x1.5": 7.5}])
def test_the_ceiling_is_a_labelled_dashed_line_whose_label_covers_no_data(shift):
    # shifted, lmar's mean at x3 (and x1.5) sits just above the ceiling: where a label would go by default
    grid = psnr_figure(store(lmar_shift=shift), "lanczos3")
    absolute = grid.axes[1][0]
    dashed = [line for line in absolute.lines if line.get_linestyle() == "--"]
    assert len(dashed) == 1 and list(dashed[0].get_ydata()) == [CEILING, CEILING]
    grid.figure.canvas.draw()
    renderer = grid.figure.canvas.get_renderer()
    labels = [t for t in absolute.texts if "full_resolution (no resampling)" in t.get_text()]
    if not labels:  # no room beside the line: the title names it instead
        assert "full_resolution (no resampling)" in absolute.get_title()
        return
    assert len(labels) == 1 and "25.00 dB" in labels[0].get_text()
    box = labels[0].get_window_extent(renderer)
    points = _data_points(absolute)
    assert not box.count_contains(points)
    frame = absolute.get_window_extent(renderer)
    assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1


def test_one_column_per_table_block():
    df = pd.concat([store(), store().assign(backbone="nafnet")], ignore_index=True)
    grid = psnr_figure(df, "lanczos3")
    assert grid.axes.shape == (2, 2)
    assert ["unet" in grid.axes[0][0].get_title(), "nafnet" in grid.axes[0][1].get_title()] == [True, True]


def test_a_block_without_the_baseline_says_so():
    df = store()
    diff = psnr_figure(df[df["resampler"] != "lanczos3"], "lanczos3").axes[0][0]
    assert not diff.lines and "lanczos3" in " ".join(t.get_text() for t in diff.texts)


def test_target_names_never_overlap_as_drawn():
    # x2 and x2-aspect sit a few points apart: side by side their names would run into each other
    targets = [("x1.5", 1.5), ("x2", 2.0), ("x2-aspect", 2.0), ("x3", 3.0)]
    grid = psnr_figure(store(targets), "lanczos3")
    grid.figure.canvas.draw()
    renderer = grid.figure.canvas.get_renderer()
    for ax in grid.axes.flat:
        boxes = sorted((t.get_window_extent(renderer) for t in ax.get_xticklabels()), key=lambda b: b.x0)
        assert len(boxes) == 4
        assert all(a.x1 <= b.x0 for a, b in itertools.pairwise(boxes)), [(b.x0, b.x1) for b in boxes]


def test_a_block_with_only_the_full_resolution_row_draws_its_ceiling_alone():
    df = store()
    absolute = psnr_figure(df[df["resampler"] == "full_resolution"], "lanczos3").axes[1][0]
    assert [list(line.get_ydata()) for line in absolute.lines] == [[CEILING, CEILING]]


def test_the_intervals_are_those_of_table_stats_csv():
    """The figure's caption says its intervals are table_stats.csv's: the same bootstrap, same draws."""
    from lmar.report.tables import render

    rng = np.random.default_rng(0)
    rows = []
    for i in range(12):  # enough pairs that intervals from other draws would differ
        base = 20 + rng.normal()
        rows += [row("lanczos3", "x2", 2.0, f"i{i}", 0, base), row("lmar", "x2", 2.0, f"i{i}", 0, base + rng.normal())]
    df = pd.DataFrame(rows)
    stats = render(df, ["psnr"], learned=("lmar",))[2]
    want = stats[(stats["kind"] == "paired") & (stats["a"] == "lmar") & (stats["b"] == "lanczos3")].iloc[0]
    diff = psnr_figure(df, "lanczos3").axes[0][0]
    x, _ = drawn(diff, "lmar")
    segments = [seg for coll in diff.collections for seg in coll.get_segments()
                if np.allclose(seg[:, 0], seg[0, 0]) and np.isclose(seg[0, 0], x).any()]
    assert len(segments) == 1
    assert (min(segments[0][:, 1]), max(segments[0][:, 1])) == pytest.approx((want["ci_low"], want["ci_high"]), abs=1e-12)


def test_a_panel_names_the_resamplers_that_kept_their_initial_weights():
    # lmar kept its initial weights on unet at both seeds, on nafnet only at seed 0 (its seed 1 kept
    # epoch 2): unet's panel names it, nafnet's with that seed; the interpolations carry no kept epoch
    df = pd.concat([store(), store().assign(backbone="nafnet")], ignore_index=True)
    df["resampler_kept_epoch"] = np.nan
    lmar = df["resampler"] == "lmar"
    df.loc[lmar, "resampler_kept_epoch"] = -1
    df.loc[lmar & (df["backbone"] == "nafnet") & (df["seed"] == 1), "resampler_kept_epoch"] = 2
    grid = psnr_figure(df, "lanczos3")
    unet, nafnet = grid.axes[0][0].get_title(), grid.axes[0][1].get_title()
    assert unet.endswith("\nkept their initial weights: lmar")
    assert nafnet.replace("\u00a0", " ").endswith("\nkept their initial weights: lmar (seed 0 of 2)")
