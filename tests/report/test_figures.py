"""The qualitative figures: zoomed crops of the outputs as saved, and LMAR's map for one input."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from helpers import LMAR_SPEC, load_png

from lmar.core.errors import LmarError
from lmar.report.figures import _crop_box, crops_figure, lmar_figure


def test_the_crops_are_the_saved_outputs_cut_in_the_middle(mini_data, tmp_path):
    out = tmp_path / "outputs"
    gt = load_png(mini_data / "test" / "gt" / "coffee.png")  # 48x72
    for name, target in (("bicubic", "x2"), ("full_resolution", "full")):
        (out / name / target).mkdir(parents=True)
        (out / name / target / "coffee.png").write_bytes((mini_data / "test" / "gt" / "coffee.png").read_bytes())
    fig = crops_figure(mini_data, out, "coffee", "x2", ["bicubic", "full_resolution"])
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["input", "ground truth", "bicubic", "full_resolution (no resampling)"]
    # a third of the shorter side (48 -> 16), centred: rows 16..32, columns 28..44
    assert _crop_box((48, 72), None) == (16, 28, 16)
    shown = fig.axes[3].get_images()[0].get_array()
    assert np.allclose(shown, gt[16:32, 28:44], atol=1e-6)
    plt.close("all")
    with pytest.raises(LmarError, match="no outputs of lmar at x2"):
        crops_figure(mini_data, out, "coffee", "x2", ["lmar"])


def test_the_lmar_figure_shows_what_the_resampler_computes(mini_data, lmar_ckpt):
    from lmar.data.images import read_image
    from lmar.run.checkpoint import build_resampler

    fig = lmar_figure(mini_data, "coffee", lmar_ckpt, (24, 36))
    assert [ax.get_title() for ax in fig.axes][3] == "x_lr (to the backbone)"
    net, _ = build_resampler({"type": "lmar", "params": LMAR_SPEC["params"]}, lmar_ckpt, torch.device("cpu"))
    with torch.no_grad():
        want = net(read_image(mini_data / "test" / "input" / "coffee.png")[None], (24, 36))[0]
    shown = fig.axes[3].get_images()[0].get_array()
    assert np.allclose(shown, np.clip(want.permute(1, 2, 0).numpy(), 0, 1), atol=1e-6)
    # the stretched map and the change say how large they really are
    with torch.no_grad():
        x = read_image(mini_data / "test" / "input" / "coffee.png")[None]
        comp = net.compensatory_map(x, (24, 36), net.R(x, (24, 36)))
        change = (want - net.R(x, (24, 36))[0]).mean(dim=0).abs().max().item()
    assert fig.axes[2].get_title().endswith(f"(its values {comp.min().item():.2g} to {comp.max().item():.2g})")
    assert f"(at most {change:.2g}; one 8-bit level is 0.0039)" in fig.axes[4].get_title()
    plt.close("all")


def test_the_lmar_figure_says_which_weights_early_stopping_kept(mini_data, lmar_ckpt, tmp_path):
    from lmar.run.checkpoint import build_resampler, load, save

    spec = {"type": "lmar", "params": LMAR_SPEC["params"]}
    net, meta = build_resampler(spec, lmar_ckpt, torch.device("cpu"))
    for kept, words in ((-1, "\nLMAR kept its initial weights: no epoch of its training beat them"),
                        (2, "weights of epoch 2 of its training curve"), (None, None)):
        path = tmp_path / f"kept{kept}.pt"
        save(path, "resampler", spec, net, {**meta, "kept_epoch": kept} if kept is not None
             else {k: v for k, v in meta.items() if k != "kept_epoch"})
        assert load(path, "resampler")["meta"].get("kept_epoch") == kept
        title = lmar_figure(mini_data, "coffee", path, (24, 36))._suptitle.get_text()
        assert title.startswith("LMAR on coffee at 24x36")
        if words is None:
            assert "\n" not in title  # nothing recorded: nothing said
        else:
            assert words in title
        plt.close("all")


def test_a_crop_of_a_resampler_that_kept_its_initial_weights_says_so(mini_data, tmp_path):
    import pandas as pd

    from helpers import result_rows

    from lmar.report.figures import untrained_resamplers

    # the cell's results CSVs as the evaluations write them: lmar kept its initial weights (-1) at
    # every row, learned_resizer its epoch 3, bicubic has no kept epoch at all
    metrics = []
    for name, kept in (("lmar", -1), ("learned_resizer", 3), ("bicubic", None)):
        rows = pd.DataFrame(result_rows(name, only="bicubic"))
        if kept is not None:
            rows["resampler_kept_epoch"] = kept
        metrics.append(tmp_path / f"{name}.csv")
        rows.to_csv(metrics[-1], index=False)
    assert untrained_resamplers(metrics) == {"lmar"}
    assert untrained_resamplers([]) == set()
    # a file the tables would leave out (a log line, not a CSV) does not stop the figure
    (tmp_path / "broken.csv").write_text("CUDA out of memory\n")
    assert untrained_resamplers([*metrics, tmp_path / "broken.csv"]) == {"lmar"}
    assert untrained_resamplers([tmp_path / "broken.csv"]) == set()

    out = tmp_path / "outputs"
    for name in ("bicubic", "lmar"):
        (out / name / "x2").mkdir(parents=True)
        (out / name / "x2" / "coffee.png").write_bytes((mini_data / "test" / "gt" / "coffee.png").read_bytes())
    fig = crops_figure(mini_data, out, "coffee", "x2", ["bicubic", "lmar"], untrained={"lmar"})
    assert [ax.get_title() for ax in fig.axes][2:] == ["bicubic", "lmar\n(kept its initial weights)"]
    plt.close("all")


@pytest.mark.parametrize("panels, grid", [(1, (1, 1)), (8, (1, 8)), (9, (2, 5)), (17, (3, 6)), (18, (3, 6))])
def test_the_crops_wrap_past_eight_panels_into_rows_as_even_as_can_be(panels, grid):
    from lmar.report.figures import crop_grid

    assert crop_grid(panels) == grid


def test_an_ablation_studys_crops_read_in_rows_left_to_right(mini_data, tmp_path):
    out = tmp_path / "outputs"
    names = [f"variant-{i}" for i in range(16)]  # with input and ground truth: 18 panels, 3 rows of 6
    for name in names:
        (out / name / "x2").mkdir(parents=True)
        (out / name / "x2" / "coffee.png").write_bytes((mini_data / "test" / "gt" / "coffee.png").read_bytes())
    fig = crops_figure(mini_data, out, "coffee", "x2", names)
    fig.canvas.draw()
    assert [ax.get_title() for ax in fig.axes] == ["input", "ground truth", *names]  # no empty panel left
    boxes = [ax.get_position() for ax in fig.axes]
    rows = [sorted({round(b.y0, 6) for b in boxes[i:i + 6]}) for i in (0, 6, 12)]
    assert all(len(r) == 1 for r in rows) and rows[0][0] > rows[1][0] > rows[2][0]  # each row level, top first
    assert [round(b.x0, 6) for b in boxes[6:12]] == [round(b.x0, 6) for b in boxes[:6]]  # columns align
    plt.close("all")
    few = crops_figure(mini_data, out, "coffee", "x2", names[:6])  # 8 panels: one row, as the default's
    assert len({round(ax.get_position().y0, 6) for ax in few.axes}) == 1 and len(few.axes) == 8
    plt.close("all")
