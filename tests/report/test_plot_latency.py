"""The quality-against-latency figure (lmar.report.plot_latency): no two target labels overlap even where
points lie nearly on top of each other, every point is named (by a label or in a key), and the title
says on which device, under what load and when the times were taken; a panel of more resamplers
than labels fit is drawn one target a panel, with no labels, rings for points timed under load and
the full-resolution reference in the title."""

from __future__ import annotations

import re
from itertools import combinations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from lmar.core.errors import LmarError
from lmar.report.plot_latency import quality_latency

TARGETS = (("x1.5", 1.5), ("x2", 2.0), ("x3", 3.0), ("x4", 4.0))


def crowded(resamplers: int = 5, step: float = 0.02, recorded: bool = True) -> pd.DataFrame:
    """Per target, every resampler within a few hundredths of a dB and a few microseconds of the
    others (as bicubic, lanczos3 and area are): the points lie nearly on top of each other. Resampler
    k was timed under a load of 1 + k on 2 CPUs with 1 own thread, k minutes after 23:40."""
    rows = []
    for k in range(resamplers):
        for j, (target, scale) in enumerate(TARGETS):
            for image in ("a", "b"):
                row = {"dataset": "mini", "backbone": "unet", "resampler": f"r{k}", "target": target, "scale": scale,
                       "target_h": 10, "target_w": 10, "image": image, "seed": 0, "psnr": 30.0 - j + k * step,
                       "time_s": 0.010 + 0.001 * j + k * step * 1e-3, "device": "cpu:x86_64x2"}
                if recorded:
                    row.update(load_1m=1.0 + k, cpus=2, threads=1, timed_at=f"2026-12-04T23:4{k}:30.000+00:00")
                rows.append(row)
    return pd.DataFrame(rows)


def labels(grid) -> list:
    """Every label of the figure's panels (the texts in its axes), drawn."""
    grid.figure.canvas.draw()
    return [t for ax in grid.axes.flat for t in ax.texts if t.get_text()]


def overlapping(texts) -> list[tuple[str, str]]:
    renderer = texts[0].figure.canvas.get_renderer() if texts else None
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
    return [(a, b) for (a, box_a), (b, box_b) in combinations(boxes, 2) if box_a.overlaps(box_b)]


@pytest.mark.parametrize("resamplers, step", [(5, 0.02), (8, 0.001)])
def test_no_two_labels_overlap_where_points_crowd(resamplers, step):
    grid = quality_latency(crowded(resamplers, step))
    texts = labels(grid)
    assert texts and overlapping(texts) == []
    plt.close("all")


@pytest.mark.parametrize("resamplers, step", [(5, 0.02), (8, 0.001)])
def test_labels_stay_inside_their_panel_and_off_every_marker(resamplers, step):
    grid = quality_latency(crowded(resamplers, step))
    grid.figure.canvas.draw()
    renderer = grid.figure.canvas.get_renderer()
    radius = (60 ** 0.5) / 2 * grid.figure.dpi / 72  # a marker of area 60 pt^2 (seaborn's s=60)
    for ax in grid.axes.flat:
        frame = ax.get_window_extent(renderer)
        centres = ax.transData.transform([p for c in ax.collections for p in c.get_offsets()])
        key = [t for t in ax.texts if ":" in t.get_text()]
        for text in [t for t in ax.texts if t.get_text() and t not in key]:
            box = text.get_window_extent(renderer)
            assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1, text
            # the box's nearest point to each marker's centre lies outside the marker's square
            near = [(min(max(x, box.x0), box.x1), min(max(y, box.y0), box.y1), x, y) for x, y in centres]
            assert all(max(abs(a - x), abs(b - y)) >= radius for a, b, x, y in near), text
    plt.close("all")


@pytest.mark.parametrize("resamplers, step", [(5, 0.02), (8, 0.001)])
def test_every_point_is_named_by_a_label_or_in_the_key(resamplers, step):
    grid = quality_latency(crowded(resamplers, step))
    texts = [t.get_text() for t in labels(grid)]
    key = [t for t in texts if ":" in t]
    assert len(key) <= 1
    named = [t for t in key[0].splitlines()] if key else []
    numbers = [t for t in texts if t.isdigit()]
    targets = [t for t in texts if t.split(" ")[0] in dict(TARGETS)]
    # every point once: as its target's label, or as a number in the plot named in the key
    assert len(targets) + len(named) == resamplers * len(TARGETS), (targets, named)
    assert sorted(numbers) == sorted(line.split(":")[0] for line in named if "(no room for a label)" not in line)
    assert len(set(named)) == len(named)
    plt.close("all")


def test_the_points_are_the_means_over_images():
    df = crowded(2)
    grid = quality_latency(df)
    points = {tuple(round(float(v), 6) for v in p) for c in grid.axes.flat[0].collections for p in c.get_offsets()}
    # by hand: r1 at x2 is 29.02 dB at 11.02 ms on both images
    assert (11.02, 29.02) in points and len(points) == 2 * len(TARGETS)
    plt.close("all")


def test_the_title_says_device_load_and_when():
    grid = quality_latency(crowded(5))
    title = grid.figure.get_suptitle()
    assert "cpu:x86_64x2" in title
    assert "load 1.00-5.00 on 2 CPUs, 1 own thread" in title  # loads 1 + k for k in 0..4
    assert "2026-12-04 23:44 UTC" in title  # the newest timed_at (23:44:30)
    assert "‡ timed under load" in title
    plt.close("all")


def test_a_point_timed_under_load_is_marked_and_the_boundary_is_not():
    grid = quality_latency(crowded(3))  # loads 1, 2, 3 with 1 thread on 2 CPUs: 3 - 1 = 2 is not above 2
    assert not any("‡" in t for t in [t.get_text() for t in labels(grid)])
    assert "‡" not in grid.figure.get_suptitle()
    grid = quality_latency(crowded(5))  # r3 (load 4) and r4 (load 5) are
    marked = [t for t in labels(grid) if "‡" in t.get_text()]
    assert len(marked) == 2 * len(TARGETS), [t.get_text() for t in marked]
    plt.close("all")


def test_a_store_without_the_load_columns_says_load_not_recorded(tmp_path):
    grid = quality_latency(crowded(5, recorded=False))
    title = grid.figure.get_suptitle()
    assert "load not recorded" in title and "cpu:x86_64x2" in title and "UTC" not in title
    assert overlapping(labels(grid)) == []
    grid.figure.savefig(tmp_path / "l.png")
    plt.close("all")


def test_a_timed_at_that_is_not_a_time_is_one_clear_error():
    with pytest.raises(LmarError, match="timed_at holds 'yesterday'"):
        quality_latency(crowded(2).assign(timed_at="yesterday"))
    plt.close("all")


def test_a_panel_whose_times_span_ten_times_or_more_gets_a_log_time_axis():
    near = crowded(3)  # 10 to 13 ms: linear
    assert quality_latency(near).axes.flat[0].get_xscale() == "linear"
    far = near.assign(time_s=near["time_s"].where(near["target"] != "x4", 0.2))  # 10 to 200 ms
    grid = quality_latency(far)
    ax = grid.axes.flat[0]
    assert ax.get_xscale() == "log" and "log scale" in ax.get_xlabel()
    assert overlapping(labels(grid)) == []
    plt.close("all")


def test_a_log_time_axis_labels_plain_numbers_that_do_not_overlap():
    """45 to 500 ms: within about a decade matplotlib's default labels every minor tick in scientific
    notation ("4x10^1" beside "6x10^1"), side by side; here the drawn tick labels are plain numbers and apart."""
    d = crowded(3)
    d = d.assign(time_s=d["time_s"] * 4 + d["target"].map({"x1.5": 0.45, "x2": 0.1, "x3": 0.0, "x4": 0.0}))
    grid = quality_latency(d)
    ax = grid.axes.flat[0]
    assert ax.get_xscale() == "log"
    grid.figure.canvas.draw()
    left, right = ax.get_xlim()
    ticks = [t for t in ax.get_xticklabels(minor=False) + ax.get_xticklabels(minor=True)
             if t.get_text() and left <= t.get_position()[0] <= right]
    assert len(ticks) >= 2, [t.get_text() for t in ticks]
    assert all(re.fullmatch(r"[0-9.]+", t.get_text()) for t in ticks), [t.get_text() for t in ticks]
    assert overlapping(ticks) == [], [t.get_text() for t in ticks]
    plt.close("all")


def test_a_panel_names_the_resamplers_that_kept_their_initial_weights():
    # r1 kept its initial weights (kept epoch -1 on every row), r2 its epoch 2, r0 is an interpolation
    # (no kept epoch): the title names r1 alone, as the scale figure's does; a panel without one says nothing
    df = crowded(3)
    df["resampler_kept_epoch"] = df["resampler"].map({"r1": -1, "r2": 2})
    other = df.assign(backbone="nafnet", resampler_kept_epoch=df["resampler"].map({"r1": 0, "r2": 2}))
    grid = quality_latency(pd.concat([df, other], ignore_index=True))
    titles = [ax.get_title() for ax in grid.axes.flat]
    assert titles == ["mini / unet\nkept their initial weights: r1", "mini / nafnet"]
    plt.close("all")


# ---------------------------------------------------------------- more resamplers than labels fit: one target a panel

def with_full_resolution(df: pd.DataFrame, psnr: float = 31.0, time_s: float = 0.05, load: float = 1.0) -> pd.DataFrame:
    """``df`` (one panel) and a full-resolution row per image: ``psnr`` dB in ``time_s`` seconds."""
    full = df[df["resampler"] == "r0"].drop_duplicates("image").assign(
        resampler="full_resolution", target="full", scale=1.0, psnr=psnr, time_s=time_s, load_1m=load)
    return pd.concat([df, full], ignore_index=True)


def points(ax, rings: bool = False) -> set:
    """The (ms, dB) of ``ax``'s markers (rounded to 1e-6), or of its rings (markers with no face)."""
    return {tuple(round(float(v), 6) for v in p) for c in ax.collections
            if (len(c.get_facecolors()) == 0) == rings for p in c.get_offsets()}


def test_a_panel_of_more_resamplers_than_labels_fit_is_drawn_one_target_a_panel():
    grid = quality_latency(with_full_resolution(crowded(9, 0.01)))
    assert grid.axes.shape == (1, len(TARGETS))
    assert [ax.get_title() for ax in grid.axes.flat] == [f"mini / unet, {t}" for t, _ in TARGETS]
    for j, ax in enumerate(grid.axes.flat):
        # by hand from crowded(): resampler k at target j scores 30 - j + 0.01 k dB in 10 + j + 0.01 k ms; the
        # full-resolution point is not drawn (its 31 dB would stretch the PSNR axis), every other point once
        assert points(ax) == {(round(10 + j + 0.01 * k, 6), round(30 - j + 0.01 * k, 6)) for k in range(9)}
        assert [t.get_text() for t in ax.texts] == []  # the title names the target: no labels, no key
        assert ax.get_xscale() == "log"
    assert "full_resolution (no resampling) 31.00 dB at 50 ms" in grid.figure.get_suptitle()
    grid = quality_latency(with_full_resolution(crowded(9, 0.01), time_s=28.94))  # a 4K image on a CPU
    assert "31.00 dB at 28,940 ms" in grid.figure.get_suptitle()
    assert grid.figure.get_supxlabel() == "end-to-end time per image (ms, log scale)"
    plt.close("all")


def test_eight_resamplers_are_still_one_labelled_panel():
    grid = quality_latency(with_full_resolution(crowded(7, 0.01)))  # 7 and full resolution: 8
    assert grid.axes.shape == (1, 1) and any(t.get_text() == "full" for t in grid.axes.flat[0].texts)
    plt.close("all")


def test_one_target_a_panel_rings_the_points_timed_under_load():
    # loads 1 + k with 1 own thread on 2 CPUs: r3 to r8 were timed under load (4 - 1 > 2), r0 to r2 not
    grid = quality_latency(with_full_resolution(crowded(9, 0.01), load=9.0))
    for j, ax in enumerate(grid.axes.flat):
        assert points(ax, rings=True) == {(round(10 + j + 0.01 * k, 6), round(30 - j + 0.01 * k, 6))
                                          for k in range(3, 9)}
    title = grid.figure.get_suptitle()
    assert "ringed: timed under load" in title and "‡" not in title
    assert "31.00 dB at 50 ms (timed under load)" in title
    grid = quality_latency(crowded(9, 0.01).assign(load_1m=1.0))
    assert all(points(ax, rings=True) == set() for ax in grid.axes.flat)
    assert "timed under load" not in grid.figure.get_suptitle()
    plt.close("all")


def test_one_target_a_panel_names_per_block_the_resamplers_that_kept_their_initial_weights():
    df = crowded(9, 0.01)
    df["resampler_kept_epoch"] = df["resampler"].map({"r1": -1, "r2": -1, "r5": 3})
    other = df.assign(backbone="nafnet", resampler_kept_epoch=df["resampler"].map({"r1": 0}))
    grid = quality_latency(pd.concat([df, other], ignore_index=True))
    assert grid.axes.shape == (2, len(TARGETS))
    assert [ax.get_title() for ax in grid.axes[:, 0]] == ["mini / unet, x1.5", "mini / nafnet, x1.5"]
    lines = grid.figure.get_suptitle().splitlines()
    assert "mini / unet: kept their initial weights: r1, r2" in lines
    assert not any(line.startswith("mini / nafnet") for line in lines)
    plt.close("all")


def test_a_resampler_that_kept_its_initial_weights_at_some_seeds_is_named_with_those_seeds():
    # seeds 0 and 1 of one block: r1 kept its initial weights at seed 0 only, r2 at both, r3 at neither
    df = pd.concat([crowded(9, 0.01).assign(seed=s) for s in (0, 1)], ignore_index=True)
    df["resampler_kept_epoch"] = [{"r1": -1 if s == 0 else 2, "r2": -1, "r3": 1}.get(r)
                                  for r, s in zip(df["resampler"], df["seed"])]
    lines = quality_latency(df).figure.get_suptitle().replace("\u00a0", " ").splitlines()
    assert "mini / unet: kept their initial weights: r1 (seed 0 of 2), r2" in lines
    grid = quality_latency(crowded(3).assign(seed=1).pipe(lambda d: pd.concat([d, d.assign(seed=0)])).assign(
        resampler_kept_epoch=lambda d: [-1 if (r, s) == ("r1", 0) else 0 for r, s in zip(d["resampler"], d["seed"])]))
    assert [ax.get_title() for ax in grid.axes.flat] == ["mini / unet\nkept their initial weights: r1\u00a0(seed\u00a00\u00a0of\u00a02)"]
    plt.close("all")
