"""Figures made from images rather than from the results store: a qualitative grid of zoomed crops
(input, ground truth, each resampler's enhanced output, exactly as scored), and what LMAR does to
one input (its plain resize, its compensatory map, the small image it hands the backbone)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from lmar import checkpoint
from lmar.data.images import read_image
from lmar.errors import LmarError
from lmar.targets import FULL


def _crop_box(hw: tuple[int, int], side: int | None) -> tuple[int, int, int]:
    """(top, left, side) of a centred square crop; ``side`` defaults to a third of the shorter side."""
    h, w = hw
    side = min(side or max(8, min(h, w) // 3), h, w)
    return (h - side) // 2, (w - side) // 2, side


def _show(ax, image: torch.Tensor, title: str) -> None:
    ax.imshow(np.clip(image.permute(1, 2, 0).numpy(), 0, 1), interpolation="nearest")
    ax.set_title(title, fontsize=8)
    ax.set_axis_off()


def crops_figure(data: Path, outputs: Path, image: str, target: str, resamplers, side: int | None = None):
    """One row of zoomed crops of test image ``image``: input, ground truth, then each resampler's
    output at ``target`` (the full-resolution row at its own target) from ``outputs/<resampler>/``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = read_image(Path(data) / "test" / "input" / f"{image}.png")
    gt = read_image(Path(data) / "test" / "gt" / f"{image}.png")
    top, left, s = _crop_box(tuple(gt.shape[-2:]), side)
    panels = [("input", x), ("ground truth", gt)]
    for name in resamplers:
        folder = Path(outputs) / name
        chosen = target if (folder / target).is_dir() else FULL if (folder / FULL).is_dir() else None
        if chosen is None:
            raise LmarError(f"no outputs of {name} at {target} under {folder}; run its evaluation first")
        panels.append((f"{name}" + ("" if chosen == target else " (no resampling)"),
                       read_image(folder / chosen / f"{image}.png")))
    fig, axes = plt.subplots(1, len(panels), figsize=(2.0 * len(panels), 2.3), squeeze=False)
    for ax, (title, im) in zip(axes[0], panels):
        _show(ax, im[:, top : top + s, left : left + s], title)
    fig.suptitle(f"{image}, {target}: centre crop {s}x{s} of {gt.shape[-2]}x{gt.shape[-1]}", fontsize=9)
    fig.tight_layout()
    return fig


def lmar_figure(data: Path, image: str, resampler_ckpt: Path, size: tuple[int, int]):
    """LMAR on test image ``image`` at ``size``: the input, R(x) (its plain resize), the compensatory
    map C (each channel scaled to [0, 1]), the small image x_lr it gives the backbone, and
    |x_lr - R(x)| x 10 (what the embedding adds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ckpt = checkpoint.load(resampler_ckpt, "resampler")
    net, _ = checkpoint.build_resampler(ckpt.get("spec"), resampler_ckpt, torch.device("cpu"),
                                        f"resampler checkpoint {resampler_ckpt}: spec", allow=())
    if not hasattr(net, "compensatory_map"):
        raise LmarError(f"{resampler_ckpt} is not an LMAR checkpoint (type {ckpt.get('spec', {}).get('type')!r})")
    x = read_image(Path(data) / "test" / "input" / f"{image}.png")[None]
    with torch.no_grad():
        x0 = net.R(x, size)
        comp = net.compensatory_map(x, size, x0)
        small = net(x, size)
    lo, hi = comp.amin(dim=(2, 3), keepdim=True), comp.amax(dim=(2, 3), keepdim=True)
    panels = [("input", x[0]), (f"R(x), {size[0]}x{size[1]}", x0[0]),
              ("compensatory map C (scaled)", ((comp - lo) / (hi - lo).clamp_min(1e-12))[0]),
              ("x_lr (to the backbone)", small[0]), ("|x_lr - R(x)| x 10", (10 * (small - x0).abs())[0])]
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 2.4), squeeze=False)
    for ax, (title, im) in zip(axes[0], panels):
        _show(ax, im, title)
    fig.tight_layout()
    return fig


def write_figures(data: Path, outputs: Path, evaluation: dict, resamplers, out_crops: Path,
                  lmar_ckpt: Path | None = None, out_lmar: Path | None = None, image: str | None = None) -> None:
    """Both figures, PNG and PDF each, for test image ``image`` (default: the first by name) at the
    evaluation's target nearest x2."""
    from lmar.plots import _save
    from lmar.targets import figure_target, parse_targets

    names = sorted(p.stem for p in (Path(data) / "test" / "gt").glob("*.png"))
    if not names:
        raise LmarError(f"no test images under {Path(data) / 'test' / 'gt'}")
    image = image or names[0]
    targets = parse_targets(evaluation)
    hw = tuple(read_image(Path(data) / "test" / "input" / f"{image}.png").shape[-2:])
    target = figure_target(targets, hw)
    _save(crops_figure(data, outputs, image, target.label, resamplers), out_crops)
    if out_lmar is not None:
        _save(lmar_figure(data, image, lmar_ckpt, target.resolve(hw)) if lmar_ckpt else _note("no LMAR entry in this run"),
              out_lmar)


def _note(text: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(4, 1))
    fig.text(0.5, 0.5, text, ha="center", va="center")
    return fig
