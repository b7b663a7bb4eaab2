"""The qualitative figures say what they show: the run cell (dataset, backbone, seed) in each title,
each crop panel's PSNR on the whole image under it, and LMAR's map difference on a diverging colour
map centred at 0 rather than a magnified absolute value."""

from __future__ import annotations

import re

import matplotlib

from helpers import LMAR_SPEC, load_png

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from PIL import Image

from lmar.report.figures import cell_label, crops_figure, lmar_figure, write_figures

IMAGE = "coffee"


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def hand_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """10 log10(1 / MSE) over every pixel and channel of two images in [0, 1]."""
    return float(10 * np.log10(1.0 / np.mean((a - b) ** 2)))


def noisy_copy(src, dst, sigma: float, seed: int):
    """``src`` with Gaussian noise of ``sigma`` (8-bit levels), saved as an 8-bit PNG at ``dst``."""
    rng = np.random.default_rng(seed)
    im = np.asarray(Image.open(src).convert("RGB"), dtype=np.float64)
    out = np.clip(np.rint(im + rng.normal(0, sigma, im.shape)), 0, 255).astype(np.uint8)
    dst.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(out).save(dst)
    return dst


@pytest.fixture
def outputs(mini_data, tmp_path):
    """Outputs of the cell mini/unet/seed3 as the workflow lays them out: <resampler>/<target>/<image>.png."""
    folder = tmp_path / "results" / "E" / "outputs" / "mini" / "unet" / "seed3"
    gt = mini_data / "test" / "gt" / f"{IMAGE}.png"
    noisy_copy(gt, folder / "bicubic" / "x2" / f"{IMAGE}.png", 6.0, 0)
    noisy_copy(gt, folder / "lmar" / "x2" / f"{IMAGE}.png", 2.0, 1)
    noisy_copy(gt, folder / "full_resolution" / "full" / f"{IMAGE}.png", 1.0, 2)
    return folder


def printed_psnr(ax) -> float | None:
    """The PSNR a panel prints under it, or None where it says it is the reference."""
    texts = " ".join(t.get_text() for t in ax.texts)
    found = re.search(r"PSNR (-?[0-9.]+) dB", texts)
    if found is None:
        assert "reference" in texts, texts
        return None
    return float(found.group(1))


def test_the_cell_is_read_from_the_outputs_folder():
    assert cell_label("results/E/outputs/mini/unet/seed3") == "dataset mini, backbone unet, seed 3"
    assert cell_label("somewhere/else") == "outputs somewhere/else"


def test_each_crop_panel_prints_its_whole_image_psnr_and_the_title_names_the_cell(mini_data, outputs):
    names = ["bicubic", "lmar", "full_resolution"]
    fig = crops_figure(mini_data, outputs, IMAGE, "x2", names)
    title = fig._suptitle.get_text()
    assert "backbone unet" in title and "dataset mini" in title and "seed 3" in title and "whole image" in title
    gt = load_png(mini_data / "test" / "gt" / f"{IMAGE}.png")
    files = [mini_data / "test" / "input" / f"{IMAGE}.png", None, outputs / "bicubic" / "x2" / f"{IMAGE}.png",
             outputs / "lmar" / "x2" / f"{IMAGE}.png", outputs / "full_resolution" / "full" / f"{IMAGE}.png"]
    assert len(fig.axes) == len(files)
    for ax, path in zip(fig.axes, files):
        shown = printed_psnr(ax)
        if path is None:
            assert shown is None and ax.get_title() == "ground truth"
            continue
        # printed to 0.01 dB: the metric's value rounds to the hand one within half of that (and float32)
        assert shown == pytest.approx(hand_psnr(load_png(path), gt), abs=0.0051), ax.get_title()
    # the noisier output scores lower: the numbers are each panel's own
    assert printed_psnr(fig.axes[2]) < printed_psnr(fig.axes[3]) < printed_psnr(fig.axes[4])


def test_the_map_difference_is_signed_on_a_diverging_map_centred_at_zero(mini_data, lmar_ckpt):
    from lmar.data.images import read_image
    from lmar.run.checkpoint import build_resampler

    fig = lmar_figure(mini_data, IMAGE, lmar_ckpt, (24, 36), "dataset mini, backbone unet, seed 0")
    assert "backbone unet" in fig._suptitle.get_text()
    shown = fig.axes[4].get_images()[0]
    low, high = shown.get_clim()
    assert shown.get_cmap().name == "RdBu_r" and low == -high and high > 0
    net, _ = build_resampler({"type": "lmar", "params": LMAR_SPEC["params"]}, lmar_ckpt, torch.device("cpu"))
    x = read_image(mini_data / "test" / "input" / f"{IMAGE}.png")[None]
    with torch.no_grad():
        want = (net(x, (24, 36)) - net.R(x, (24, 36)))[0].mean(dim=0).numpy()
    assert np.allclose(shown.get_array(), want, atol=1e-6)
    assert high == pytest.approx(np.abs(want).max(), rel=1e-5)  # the whole range, both signs
    assert len(fig.axes) == 6  # five panels and the difference's colour bar


def test_both_figures_written_by_the_workflow_verb_name_the_cell(mini_data, outputs, lmar_ckpt, monkeypatch):
    import lmar.report.plot_style

    saved = {}
    monkeypatch.setattr(lmar.report.plot_style, "save_figure",
                        lambda fig, out: saved.__setitem__(out.name, fig._suptitle.get_text()))
    write_figures(mini_data, outputs, {"scales": [2]}, ["bicubic", "lmar", "full_resolution"],
                  outputs / "crops.png", lmar_ckpt, outputs / "lmar_map.png", IMAGE)
    assert set(saved) == {"crops.png", "lmar_map.png"}
    for title in saved.values():
        assert "dataset mini, backbone unet, seed 3" in title


def test_an_output_of_another_size_is_one_clear_error(mini_data, outputs):
    from lmar.core.errors import LmarError

    small = Image.open(outputs / "lmar" / "x2" / f"{IMAGE}.png").resize((36, 24))
    small.save(outputs / "lmar" / "x2" / f"{IMAGE}.png")
    with pytest.raises(LmarError, match=r"the lmar image of coffee is \(24, 36\) but its ground truth is \(48, 72\)"):
        crops_figure(mini_data, outputs, IMAGE, "x2", ["bicubic", "lmar"])
