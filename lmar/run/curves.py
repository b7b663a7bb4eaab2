"""Training curves: one CSV row per epoch, written beside the checkpoint.

A trainer (:mod:`lmar.run.train`) records, for each epoch, the learning rate the optimiser used during
that epoch, the epoch's wall time and the mean of each loss part it logs; after training the rows
are written all-or-nothing (:func:`lmar.core.atomic.atomic_path`) to :func:`curve_path` of the checkpoint::

    .../backbone.pt         ->  .../backbone.curve.csv          epoch,lr,seconds,l1
    .../resampler_lmar.pt   ->  .../resampler_lmar.curve.csv    epoch,lr,seconds,total,feature,edge,resize

The loss columns follow the order in which the parts first appear; a part absent from an epoch (a
term switched off then, e.g. LMAR's resize term with a zero weight after epoch 0) is an empty cell.
The held-out score ``val_psnr`` (where the trainer validates) and ``kept`` come last. A trainer with
early stopping (a trainable resampler with ``train.val_pairs``) also scores its initial weights: that
is the first row, epoch :data:`START` (-1), with ``val_psnr`` alone (no learning rate, time or loss:
nothing was trained), and ``kept`` is 1 in the row whose weights were saved (-1: the initialisation)
and 0 in the others.
A checkpoint converted from released weights was not trained here: its curve has the header
``epoch,lr,seconds`` and no rows (written by the CLI's ``--released`` path).

TensorBoard, optional and off by default: when the environment variable ``LMAR_TENSORBOARD``
names a folder and ``torch.utils.tensorboard`` imports, the same scalars are also written as
TensorBoard events under ``$LMAR_TENSORBOARD/<run>`` (``lr``, ``seconds``, ``loss/<part>``, the
step being the epoch). The CSV does not depend on it.

Convergence (:func:`convergence`, stored per evaluation row by :func:`backbone_convergence` as
``backbone_converged``: yes, no or unknown, and ``backbone_convergence``: why; the tables state it,
:mod:`lmar.report.verdicts`). A backbone has converged when the mean validation PSNR (curve column
``val_psnr``) over the last fifth of its epochs is within :data:`CONVERGED_DB` dB (inclusive) of the
mean over the fifth before, with at least :data:`MIN_EPOCHS` validated epochs; a fifth is ``n // 5``
epochs of the ``n`` with a value. A trained backbone whose curve has no validation column cannot be
shown converged ("no"), nor one whose curve is missing; one converted from the authors' release was
not trained here ("unknown").
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Self

import pandas as pd

from lmar.core.atomic import atomic_path
from lmar.core.errors import LmarError

log = logging.getLogger(__name__)

BASE_COLUMNS = ("epoch", "lr", "seconds")
VAL_PSNR = "val_psnr"  # the held-out PSNR after an epoch (or of the initial weights, epoch START)
KEPT = "kept"  # early stopping's choice: 1 in the row whose weights were saved, else 0
LAST_COLUMNS = (VAL_PSNR, KEPT)  # after the loss parts, in this order, where present
START = -1  # the epoch of the row that scores the initial weights, before any training
TOTAL = "total"  # a resampler's loss column that sums its weighted parts (a backbone's one loss is "l1")
TENSORBOARD_ENV = "LMAR_TENSORBOARD"


def curve_path(ckpt: str | os.PathLike) -> Path:
    """The curve CSV beside checkpoint ``ckpt``: its last suffix replaced by ``.curve.csv``."""
    ckpt = Path(ckpt)
    return ckpt.with_name(f"{ckpt.stem}.curve.csv")


def columns(rows: Iterable[Mapping]) -> list[str]:
    """``epoch, lr, seconds``, every other key of ``rows`` in order of first appearance, then those of
    :data:`LAST_COLUMNS` that ``rows`` hold."""
    rows = list(rows)
    cols = list(BASE_COLUMNS)
    for row in rows:
        cols += [k for k in row if k not in cols and k not in LAST_COLUMNS]
    return cols + [k for k in LAST_COLUMNS if any(k in row for row in rows)]


def write_curve(rows: list[Mapping], path: str | os.PathLike) -> Path:
    """``rows`` as CSV at ``path``, all-or-nothing; no rows gives the header ``epoch,lr,seconds`` alone."""
    path = Path(path)
    cols = columns(rows)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:  # closed before the move
        w = csv.DictWriter(f, fieldnames=cols, restval="", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return path


def _tensorboard_writer(run: str | None):
    """A SummaryWriter under ``$LMAR_TENSORBOARD/<run>``, or None (unset, no run name, or no TensorBoard)."""
    root = os.environ.get(TENSORBOARD_ENV)
    if not root or not run:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:
        log.warning("%s is set but TensorBoard is unavailable (%s): writing the CSV curve only", TENSORBOARD_ENV, exc)
        return None
    folder = Path(root) / run
    blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise LmarError(f"{TENSORBOARD_ENV}={root}: {blocker} is a file, not a folder; point {TENSORBOARD_ENV} at a "
                        "folder (or unset it)")
    try:
        return SummaryWriter(log_dir=str(folder))
    except OSError as exc:
        raise LmarError(f"{TENSORBOARD_ENV}={root}: cannot write TensorBoard events to {folder} "
                        f"({exc.strerror or exc}); point it at a folder you can write (or unset it)") from None


class CurveRecorder:
    """Collects one row per epoch (:meth:`add`); :meth:`write` puts them in the CSV.

    ``run``: the TensorBoard run name (used only when ``LMAR_TENSORBOARD`` is set). Use as a context
    manager, or call :meth:`close`, so that TensorBoard events are flushed.
    """

    def __init__(self, run: str | None = None):
        self.rows: list[dict] = []
        self._tb = _tensorboard_writer(run)

    def add(self, epoch: int, lr: float, seconds: float, losses: Mapping[str, float]) -> dict:
        """Record epoch ``epoch``: the learning rate used in it, its wall time, the mean of each loss part."""
        clash = set(losses) & set(BASE_COLUMNS)
        if clash:
            raise ValueError(f"loss part names {sorted(clash)} clash with the curve's columns {BASE_COLUMNS}")
        row = {"epoch": int(epoch), "lr": float(lr), "seconds": float(seconds),
               **{k: float(v) for k, v in losses.items()}}
        self.rows.append(row)
        if self._tb is not None:
            self._tb.add_scalar("lr", row["lr"], row["epoch"])
            self._tb.add_scalar("seconds", row["seconds"], row["epoch"])
            for k in losses:
                self._tb.add_scalar(f"loss/{k}", row[k], row["epoch"])
        return row

    def add_start(self, scores: Mapping[str, float]) -> dict:
        """Record the held-out ``scores`` of the initial weights as the first row, epoch :data:`START`
        (no learning rate, time or loss: nothing was trained)."""
        row = {"epoch": START, **{k: float(v) for k, v in scores.items()}}
        self.rows.insert(0, row)
        if self._tb is not None:
            for k in scores:
                self._tb.add_scalar(f"loss/{k}", row[k], START)
        return row

    def write(self, path: str | os.PathLike) -> Path:
        return write_curve(self.rows, path)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


CONVERGED_DB = 0.1  # the last fifth's mean validation PSNR within this of the fifth before: converged
MIN_EPOCHS = 10  # fewer validated epochs than this cannot show convergence
RELEASED = "authors'"  # how backbone_weights begins for weights converted from the authors' release


def convergence(curve: pd.DataFrame) -> tuple[str, str]:
    """("yes" | "no" | "unknown", why) for a backbone's training curve, by the criterion of the module
    doc. A curve with a header and no epochs is that of weights converted from a release: "unknown"."""
    if curve.empty:
        return "unknown", "no training epochs recorded: converted from released weights, not trained here"
    if "val_psnr" not in curve:
        return "no", "no validation curve"
    if "epoch" in curve:  # the initial weights' row (epoch START) is not a trained epoch
        curve = curve[pd.to_numeric(curve["epoch"], errors="coerce") != START].sort_values("epoch", kind="stable")
    values = pd.to_numeric(curve["val_psnr"], errors="coerce").dropna().to_numpy(dtype=float)
    if len(values) < MIN_EPOCHS:
        return "no", f"{len(values)} validated epochs, fewer than the {MIN_EPOCHS} that can show convergence"
    k = len(values) // 5
    last, before = values[-k:].mean(), values[-2 * k:-k].mean()
    change = last - before
    # within 0.1 dB inclusive, as printed to 9 decimals: 20.1 - 20.0 is 0.10000000000000142 in floats
    if round(abs(change), 9) <= CONVERGED_DB:
        return "yes", (f"validation PSNR {change:+.2f} dB from the fifth of its epochs before the last "
                       f"({before:.2f} to {last:.2f} dB)")
    moving = "rising" if change > 0 else "falling"
    return "no", (f"validation PSNR still {moving}: {change:+.2f} dB from the fifth of its epochs before the "
                  f"last ({before:.2f} to {last:.2f} dB), more than {CONVERGED_DB}")


def backbone_convergence(ckpt: str | os.PathLike, weights: str = "trained") -> dict:
    """The columns ``backbone_converged`` and ``backbone_convergence`` of an evaluation row, from the
    curve beside backbone checkpoint ``ckpt`` (:func:`lmar.run.curves.curve_path`) and where its weights
    came from (``backbone_weights``): "unknown" for the authors' release; "no" where the curve is
    missing or cannot be read (not an error: the evaluation stands, its verdict says why)."""
    if str(weights).startswith(RELEASED):
        verdict = ("unknown", "the authors' released weights, not trained here")
    else:
        path = curve_path(ckpt)
        try:
            verdict = convergence(pd.read_csv(path))
        except FileNotFoundError:
            verdict = ("no", "curve missing")
        except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
            verdict = ("no", "curve unreadable")
    return {"backbone_converged": verdict[0], "backbone_convergence": verdict[1]}
