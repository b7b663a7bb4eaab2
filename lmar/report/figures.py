"""Figures made from images rather than from the results store: a qualitative grid of zoomed crops
(input, ground truth, each resampler's enhanced output, exactly as scored), and what LMAR does to
one input (its plain resize, its compensatory map, the small image it hands the backbone)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from lmar.core.errors import LmarError
from lmar.data.images import read_image
from lmar.run import checkpoint
from lmar.run.targets import FULL


def _crop_box(hw: tuple[int, int], side: int | None) -> tuple[int, int, int]:
    """(top, left, side) of a centred square crop; ``side`` defaults to a third of the shorter side."""
    h, w = hw
    side = min(side or max(8, min(h, w) // 3), h, w)
    return (h - side) // 2, (w - side) // 2, side


def _show(ax, image: torch.Tensor, title: str) -> None:
    ax.imshow(np.clip(image.permute(1, 2, 0).numpy(), 0, 1), interpolation="nearest")
    ax.set_title(title, fontsize=8)
    ax.set_axis_off()


def cell_label(outputs: Path) -> str:
    """Which run cell a figure shows, from its outputs folder ``.../<dataset>/<backbone>/seed<N>`` (as
    the workflow lays it out): "dataset mini, backbone unet, seed 0"; any other folder is named as is."""
    parts = Path(outputs).parts
    if len(parts) >= 3 and re.fullmatch(r"seed-?\d+", parts[-1]):
        return f"dataset {parts[-3]}, backbone {parts[-2]}, seed {parts[-1][4:]}"
    return f"outputs {outputs}"


def _psnr_scorer():
    """The project's PSNR (:class:`lmar.run.metrics.Scorer`, pyiqa's), on the CPU."""
    from lmar.run.metrics import Scorer

    return Scorer(["psnr"], torch.device("cpu"), required=("psnr",))


def _score_note(ax, psnr: float | None) -> None:
    """Under a panel: its PSNR against the ground truth (or that it is the reference)."""
    text = "reference" if psnr is None else f"PSNR {psnr:.2f} dB"
    ax.text(0.5, -0.04, text, transform=ax.transAxes, ha="center", va="top", fontsize=8)


CROPS_PER_ROW = 8  # the most panels in one row of the crops figure: more (an ablation study's) wrap


def crop_grid(panels: int) -> tuple[int, int]:
    """(rows, columns) of the crops figure for ``panels`` panels: one row of up to
    :data:`CROPS_PER_ROW`, else the fewest rows that hold them, filled as evenly as they can be (18
    panels: 3 rows of 6, not 8, 8 and 2)."""
    rows = -(-panels // CROPS_PER_ROW)
    return rows, -(-panels // rows)


def crops_figure(data: Path, outputs: Path, image: str, target: str, resamplers, side: int | None = None,
                 untrained=frozenset()):
    """Zoomed crops of test image ``image``: input, ground truth, then each resampler's output at
    ``target`` (the full-resolution row at its own target) from ``outputs/<resampler>/``, in rows
    of :func:`crop_grid`, read left to right and top to bottom.
    Under each panel its PSNR against the ground truth on the whole image (not the crop), computed by
    the project's metric (:mod:`lmar.run.metrics`) from the files as saved; the title names the run cell.
    A resampler of ``untrained`` (it kept its initial weights: :func:`untrained_resamplers`) is named so."""
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
        panels.append((f"{name}" + ("" if chosen == target else " (no resampling)")
                       + ("\n(kept its initial weights)" if name in untrained else ""),
                       read_image(folder / chosen / f"{image}.png")))
    score = _psnr_scorer()
    rows, cols = crop_grid(len(panels))
    fig, axes = plt.subplots(rows, cols, figsize=(2.0 * cols, 2.7 * rows), squeeze=False)
    for ax in axes.flat[len(panels):]:  # the last row's empty places
        ax.remove()
    for ax, (title, im) in zip(axes.flat, panels):
        if im.shape != gt.shape:
            raise LmarError(f"the {title} image of {image} is {tuple(im.shape[-2:])} but its ground truth is "
                            f"{tuple(gt.shape[-2:])}: not of dataset {data}; give that run's --data and --outputs")
        _show(ax, im[:, top : top + s, left : left + s], title)
        _score_note(ax, None if im is gt else score(im, gt)["psnr"])
    fig.suptitle(f"{cell_label(outputs)}: {image}, {target}, centre crop {s}x{s} of {gt.shape[-2]}x{gt.shape[-1]}"
                 "\nPSNR against the ground truth on the whole image", fontsize=9)
    fig.tight_layout()
    return fig


def lmar_figure(data: Path, image: str, resampler_ckpt: Path, size: tuple[int, int], label: str = ""):
    """LMAR on test image ``image`` at ``size``: the input, R(x) (its plain resize), the compensatory
    map C (each channel scaled to [0, 1]), the small image x_lr it gives the backbone, and the signed
    x_lr - R(x) averaged over the channels (what the embedding adds) on a diverging colour map centred
    at 0, with its colour bar. ``label`` (the run cell) heads the title."""
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
              (f"map C, each channel stretched\n(its values {comp.min().item():.2g} to {comp.max().item():.2g})",
               ((comp - lo) / (hi - lo).clamp_min(1e-12))[0]),
              ("x_lr (to the backbone)", small[0])]
    fig, axes = plt.subplots(1, len(panels) + 1, figsize=(2.6 * (len(panels) + 1) + 0.6, 2.6), squeeze=False)
    for ax, (title, im) in zip(axes[0], panels):
        _show(ax, im, title)
    change = (small - x0)[0].mean(dim=0)
    _signed(fig, axes[0][-1], change, f"x_lr - R(x), mean over RGB\n(at most {change.abs().max().item():.2g}; "
                                      f"one 8-bit level is {1 / 255:.2g})")
    fig.suptitle(f"{label + ': ' if label else ''}LMAR on {image} at {size[0]}x{size[1]}"
                 f"{_which_weights(ckpt.get('meta') or {})}", fontsize=9)
    fig.tight_layout()
    return fig


def _which_weights(meta: dict) -> str:
    """Which weights early stopping kept, as the checkpoint's meta records it (``kept_epoch``, -1 for
    the initialisation; numbered as in the training curves), for the LMAR figure's title; "" where it
    records none (no held-out pairs, or weights converted rather than trained)."""
    kept = meta.get("kept_epoch")
    if isinstance(kept, bool) or not isinstance(kept, int):
        return ""
    if kept == -1:
        return ("\nLMAR kept its initial weights: no epoch of its training beat them on the held-out pairs "
                "(early stopping), so the map shows the untrained LMAR")
    return f"\nweights of epoch {kept} of its training curve (the best on the held-out pairs)"


def _signed(fig, ax, diff: torch.Tensor, title: str) -> None:
    """A signed (H, W) map on 'RdBu_r' with limits symmetric about 0 and a colour bar: a zero stays
    white, and a small difference stays visible rather than nearly black."""
    limit = max(float(diff.abs().max()), 1e-12)
    shown = ax.imshow(diff.numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    ax.set_title(title, fontsize=8)
    ax.set_axis_off()
    bar = fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label("difference (pixel values in [0, 1])", fontsize=7)
    bar.ax.tick_params(labelsize=7)


def untrained_resamplers(metrics) -> set[str]:
    """The resamplers whose rows in the per-resampler results CSVs ``metrics`` (one cell's, as the
    evaluations write them) are of weights early stopping kept from before training, at every seed. A
    file that cannot be read is passed over, as the tables leave it out (and say so): it names no
    resampler."""
    from lmar.report.store import load_results
    from lmar.report.verdicts import kept_seeds

    try:
        rows = load_results([Path(m) for m in metrics], left_out=[])
    except LmarError:  # no file at all, or none readable
        return set()
    kept = {name: kept_seeds(rows, name) for name in rows["resampler"].unique()}
    return {name for name, (at, every) in kept.items() if at and at == every}


def write_figures(data: Path, outputs: Path, evaluation: dict, resamplers, out_crops: Path,
                  lmar_ckpt: Path | None = None, out_lmar: Path | None = None, image: str | None = None,
                  metrics=()) -> None:
    """Both figures, PNG and PDF each, for test image ``image`` (default: the first by name) at the
    evaluation's target nearest x2; ``metrics``, the cell's results CSVs, say which resamplers kept
    their initial weights."""
    from lmar.report.plot_style import save_figure
    from lmar.run.targets import figure_target, parse_targets

    names = sorted(p.stem for p in (Path(data) / "test" / "gt").glob("*.png"))
    if not names:
        raise LmarError(f"no test images under {Path(data) / 'test' / 'gt'}")
    image = image or names[0]
    targets = parse_targets(evaluation)
    hw = tuple(read_image(Path(data) / "test" / "input" / f"{image}.png").shape[-2:])
    target = figure_target(targets, hw)
    untrained = untrained_resamplers(metrics)
    save_figure(crops_figure(data, outputs, image, target.label, resamplers, untrained=untrained), out_crops)
    if out_lmar is not None:
        save_figure(lmar_figure(data, image, lmar_ckpt, target.resolve(hw), cell_label(outputs)) if lmar_ckpt
              else _note(f"{cell_label(outputs)}: no LMAR entry in this run"), out_lmar)


def _note(text: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(4, 1))
    fig.text(0.5, 0.5, text, ha="center", va="center")
    return fig
