"""The training-curves figure: a loss part equal to another at every epoch is one line named for both,
one legend for the figure that covers no curve, a log axis only with labelled ticks to read, and a
panel for released weights that says so instead of empty axes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

from lmar.core.errors import LmarError
from lmar.report.plot_curves import curves_figure, training_curves


def curve(path, columns: list[str], rows: list[list[float]]):
    """A curve CSV as lmar.run.curves writes it: ``epoch,lr,seconds`` then the loss parts."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(["epoch", "lr", "seconds", *columns])]
    lines += [",".join(map(str, [epoch, 0.001, 1.0, *values])) for epoch, values in enumerate(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@pytest.fixture
def jobs(tmp_path):
    """A backbone whose loss falls from 0.5 to 0.0125 (a factor 40), a learned resizer whose total is
    its l1 at every epoch (a factor 3), an LMAR with four parts, and weights converted, not trained."""
    root = tmp_path / "models"
    return root, [
        curve(root / "mini/unet/seed0/backbone.curve.csv", ["l1"], [[0.5], [0.2], [0.05], [0.0125]]),
        curve(root / "mini/unet/seed0/resampler_learned_resizer.curve.csv", ["total", "l1"],
              [[0.3, 0.3], [0.2, 0.2], [0.1, 0.1]]),
        curve(root / "mini/unet/seed0/resampler_lmar.curve.csv", ["total", "feature", "edge", "resize"],
              [[0.03, 0.01, 0.02, 0.5], [0.02, 0.008, 0.012, ""], [0.015, 0.006, 0.009, ""]]),
        curve(root / "mini/unet/seed1/backbone.curve.csv", [], []),
    ]


def panel(fig, title: str):
    (ax,) = [ax for ax in fig.axes if ax.get_title() == title]
    return ax


def test_a_part_equal_to_total_at_every_epoch_is_drawn_once_and_named_for_both(jobs):
    root, paths = jobs
    fig = curves_figure(paths, root)
    resizer = panel(fig, "mini/unet/seed0/resampler_learned_resizer")
    assert [line.get_label() for line in resizer.lines] == ["l1 (= total)"]  # the component, not the sum
    assert list(resizer.lines[0].get_ydata()) == [0.3, 0.2, 0.1]
    lmar = panel(fig, "mini/unet/seed0/resampler_lmar")  # four different parts: four lines
    assert [line.get_label() for line in lmar.lines] == ["total", "feature", "edge", "resize"]
    # one entry a part: l1 once, for the backbone's and the resizer's, total once, for LMAR's
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["l1 (= total where equal)", "total", "feature",
                                                                 "edge", "resize"]


def test_a_part_has_one_colour_and_marker_in_every_panel(jobs):
    root, paths = jobs
    fig = curves_figure(paths, root)
    backbone, resizer, lmar = (panel(fig, f"mini/unet/seed0/{job}")
                               for job in ("backbone", "resampler_learned_resizer", "resampler_lmar"))
    l1, resizer_l1 = backbone.lines[0], resizer.lines[0]
    assert (l1.get_color(), l1.get_marker()) == (resizer_l1.get_color(), resizer_l1.get_marker())
    drawn = {(line.get_color(), line.get_marker()) for line in [l1, *lmar.lines]}
    assert len(drawn) == 5  # l1 and LMAR's four parts: five styles


def test_parts_that_differ_at_one_epoch_stay_two_lines(tmp_path):
    path = curve(tmp_path / "resampler_learned_resizer.curve.csv", ["total", "l1"], [[0.3, 0.3], [0.2, 0.21]])
    fig = curves_figure([path], tmp_path)
    assert [line.get_label() for line in fig.axes[0].lines] == ["total", "l1"]


def test_one_legend_for_the_figure_beside_every_panel(jobs):
    root, paths = jobs
    fig = curves_figure(paths, root)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert len(fig.legends) == 1 and all(ax.get_legend() is None for ax in fig.axes)
    box = fig.legends[0].get_window_extent(renderer)
    for ax in fig.axes:  # not over any panel, so over no curve
        assert not box.overlaps(ax.get_window_extent(renderer)), ax.get_title()


def labelled_ticks(ax) -> list[str]:
    """The y tick labels that are drawn: inside the axis' limits and not empty."""
    low, high = sorted(ax.get_ylim())
    return [t.get_text() for t, v in zip(ax.get_yticklabels(), ax.get_yticks()) if low <= v <= high and t.get_text()]


def test_a_loss_over_a_decade_is_on_a_log_axis_with_labelled_ticks_else_linear(jobs):
    root, paths = jobs
    fig = curves_figure(paths, root)
    fig.canvas.draw()
    backbone = panel(fig, "mini/unet/seed0/backbone")
    assert backbone.get_yscale() == "log"
    assert len(labelled_ticks(backbone)) >= 2, labelled_ticks(backbone)
    lmar = panel(fig, "mini/unet/seed0/resampler_lmar")  # 0.006 to 0.5, gaps where a part is not logged
    assert lmar.get_yscale() == "log" and len(labelled_ticks(lmar)) >= 2, labelled_ticks(lmar)
    resizer = panel(fig, "mini/unet/seed0/resampler_learned_resizer")  # 0.1 to 0.3: under a decade
    assert resizer.get_yscale() == "linear" and len(labelled_ticks(resizer)) >= 2


def test_a_log_axis_just_over_a_decade_still_has_two_labelled_ticks(tmp_path):
    # 0.03 to 0.35: one power of ten (0.1) in range, so ticks at powers of ten alone would label one
    path = curve(tmp_path / "backbone.curve.csv", ["l1"], [[0.35], [0.1], [0.03]])
    fig = curves_figure([path], tmp_path)
    fig.canvas.draw()
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    shown = labelled_ticks(ax)
    assert len(shown) >= 2 and [float(t) for t in shown] == sorted(float(t) for t in shown), shown


def test_released_weights_say_so_without_axes(jobs):
    root, paths = jobs
    fig = curves_figure(paths, root)
    released = panel(fig, "mini/unet/seed1/backbone")
    assert not released.axison and not released.lines
    assert "released weights: not trained here" in " ".join(t.get_text().replace("\n", " ") for t in released.texts)


def test_the_png_is_written_and_a_curve_without_epochs_is_refused(jobs, tmp_path):
    root, paths = jobs
    out = tmp_path / "curves.png"
    training_curves(paths, root, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = tmp_path / "bad.curve.csv"
    bad.write_text("step,loss\n0,1\n")
    with pytest.raises(LmarError, match="bad.curve.csv has no 'epoch' column"):
        training_curves([bad], tmp_path, tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


def test_the_held_out_psnr_is_on_its_own_axis_not_among_the_losses(tmp_path):
    """A backbone curve with val_psnr (dB, rising) beside l1 (a loss, falling): the loss axis holds the
    l1 line alone (values by hand: 0.4, 0.2, 0.1), the PSNR (10, 12, 13 dB) is on a twin axis on the right."""
    path = tmp_path / "unet" / "backbone.curve.csv"
    path.parent.mkdir()
    path.write_text("epoch,lr,seconds,l1,val_psnr\n0,0.001,1.0,0.4,10.0\n1,0.001,1.0,0.2,12.0\n2,0.001,1.0,0.1,13.0\n")
    fig = curves_figure([path], tmp_path)
    loss_ax, twin = [a for a in fig.axes if a.get_lines()]
    assert [list(line.get_ydata()) for line in loss_ax.get_lines()] == [[0.4, 0.2, 0.1]]
    assert [list(line.get_ydata()) for line in twin.get_lines()] == [[10.0, 12.0, 13.0]]
    assert "PSNR" in twin.get_ylabel() and twin.yaxis.get_label_position() == "right"
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "val_psnr" not in legend and any("held-out PSNR" in t for t in legend)


def test_early_stopping_shows_the_initial_score_and_stars_the_kept_weights(tmp_path):
    """A resampler curve as early stopping writes it (the initial weights' score as epoch -1, ``kept``
    1 on the kept row): the dashed PSNR starts at -1, ticked "init"; a star sits on the kept point
    (here the initial weights: 21.7 dB beats every epoch); the loss lines start at epoch 0."""
    path = tmp_path / "unet" / "resampler_lmar.curve.csv"
    path.parent.mkdir()
    path.write_text("epoch,lr,seconds,total,val_psnr,kept\n-1,,,,21.7,1\n0,0.001,1.0,0.3,21.5,0\n"
                    "1,0.001,1.0,0.2,21.6,0\n2,0.001,1.0,0.1,21.4,0\n")
    fig = curves_figure([path], tmp_path)
    loss_ax, twin = [a for a in fig.axes if a.get_lines()]
    (loss,) = loss_ax.get_lines()
    assert loss.get_label() == "total" and list(loss.get_ydata())[1:] == [0.3, 0.2, 0.1]
    dashed, star = twin.get_lines()
    assert list(dashed.get_xdata()) == [-1, 0, 1, 2] and list(dashed.get_ydata()) == [21.7, 21.5, 21.6, 21.4]
    assert (list(star.get_xdata()), list(star.get_ydata()), star.get_marker()) == ([-1], [21.7], "*")
    fig.canvas.draw()
    ticks = {t.get_position()[0]: t.get_text() for t in loss_ax.get_xticklabels() if t.get_text()}
    assert ticks[-1] == "init" and ticks[0] == "0" and ticks[2] == "2"
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "kept" not in legend and any(t.startswith("weights kept") for t in legend)


def test_a_curve_without_early_stopping_has_no_star_and_no_init_tick(tmp_path):
    path = tmp_path / "unet" / "backbone.curve.csv"
    path.parent.mkdir()
    path.write_text("epoch,lr,seconds,l1,val_psnr\n0,0.001,1.0,0.4,10.0\n1,0.001,1.0,0.2,12.0\n")
    fig = curves_figure([path], tmp_path)
    fig.canvas.draw()
    loss_ax, twin = [a for a in fig.axes if a.get_lines()]
    assert len(twin.get_lines()) == 1
    assert "init" not in [t.get_text() for t in loss_ax.get_xticklabels()]
    assert not any(t.get_text().startswith("weights kept") for t in fig.legends[0].get_texts())


def test_epoch_labels_stay_apart_at_180_epochs(tmp_path):
    """Four panels of 180-epoch backbone curves (the wide degradation zoo's length): epoch labels at least 3
    pixels apart (half a character: "100120140" read as one number at 1 pixel)."""
    paths = [curve(tmp_path / f"b{i}" / "backbone.curve.csv", ["l1", "val_psnr"],
                   [[0.5 / (1 + e), 20.0 + e / 100] for e in range(181)]) for i in range(4)]
    fig = curves_figure(paths, tmp_path)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in [a for a in fig.axes if a.get_xlabel() == "epoch"]:
        boxes = [t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text()]
        assert len(boxes) >= 3
        gaps = [b.x0 - a.x1 for a, b in zip(boxes, boxes[1:])]
        assert min(gaps) >= 3, ([t.get_text() for t in ax.get_xticklabels()], gaps)


def test_each_training_cell_starts_a_row_of_its_own(tmp_path):
    # two cells of 3 jobs and one of 6, given in that order: rows of at most 4 panels, a cell never
    # sharing a row with another (by hand: unet row 0, nafnet row 1, the 6 ablations rows 2 and 3)
    root = tmp_path / "models"
    jobs = [(cell, name) for cell in ("mini/unet/seed0", "mini/nafnet/seed0")
            for name in ("backbone", "resampler_learned_resizer", "resampler_lmar")]
    jobs += [("mini/unet/seed1", name) for name in ("backbone", *(f"resampler_lmar_{k}" for k in range(5)))]
    paths = [curve(root / cell / f"{name}.curve.csv", ["l1"], [[0.5], [0.2]]) for cell, name in jobs]
    fig = curves_figure(paths, root)
    slots = []
    for cell, name in jobs:
        spec = panel(fig, f"{cell}/{name}").get_subplotspec()
        slots.append((spec.rowspan.start, spec.colspan.start))
    assert slots == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2),
                     (2, 0), (2, 1), (2, 2), (2, 3), (3, 0), (3, 1)]
    assert len([ax for ax in fig.axes if ax.get_title()]) == 12  # the 4 unused slots removed


def test_loss_parts_never_take_a_resamplers_marker_and_a_log_axis_says_so(jobs):
    """The parts of a loss are not methods: none is drawn with a marker that a resampler has in the other
    figures (their filled markers), and a log axis says so in its label."""
    from lmar.report.plot_style import MARKERS

    root, paths = jobs
    fig = curves_figure(paths, root)
    seen = 0
    for ax in fig.axes:
        for line in ax.lines:
            if line.get_label() and not line.get_label().startswith("_"):
                assert line.get_marker() not in MARKERS, line.get_label()
                seen += 1
        if ax.get_yscale() == "log":
            assert ax.get_ylabel().endswith(", log")
    assert seen >= 6
    assert panel(fig, "mini/unet/seed0/resampler_lmar").get_ylabel() == "loss (mean per epoch), log"
