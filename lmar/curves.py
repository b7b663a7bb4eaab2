"""Training curves: one CSV row per epoch, written beside the checkpoint.

A trainer (:mod:`lmar.train`) records, for each epoch, the learning rate the optimiser used during
that epoch, the epoch's wall time and the mean of each loss part it logs; after training the rows
are written all-or-nothing (:func:`lmar.atomic.atomic_path`) to :func:`curve_path` of the checkpoint::

    .../backbone.pt         ->  .../backbone.curve.csv          epoch,lr,seconds,l1
    .../resampler_lmar.pt   ->  .../resampler_lmar.curve.csv    epoch,lr,seconds,total,feature,edge,resize

The loss columns follow the order in which the parts first appear; a part absent from an epoch (a
term switched off then, e.g. LMAR's resize term with a zero weight after epoch 0) is an empty cell.
A checkpoint converted from released weights was not trained here: its curve has the header
``epoch,lr,seconds`` and no rows (written by the CLI's ``--released`` path).

TensorBoard, optional and off by default: when the environment variable ``LMAR_TENSORBOARD``
names a folder and ``torch.utils.tensorboard`` imports, the same scalars are also written as
TensorBoard events under ``$LMAR_TENSORBOARD/<run>`` (``lr``, ``seconds``, ``loss/<part>``, the
step being the epoch). The CSV does not depend on it.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Self

from lmar.atomic import atomic_path
from lmar.errors import LmarError

log = logging.getLogger(__name__)

BASE_COLUMNS = ("epoch", "lr", "seconds")
TENSORBOARD_ENV = "LMAR_TENSORBOARD"


def curve_path(ckpt: str | os.PathLike) -> Path:
    """The curve CSV beside checkpoint ``ckpt``: its last suffix replaced by ``.curve.csv``."""
    ckpt = Path(ckpt)
    return ckpt.with_name(f"{ckpt.stem}.curve.csv")


def columns(rows: Iterable[Mapping]) -> list[str]:
    """``epoch, lr, seconds`` then every other key of ``rows`` in order of first appearance."""
    cols = list(BASE_COLUMNS)
    for row in rows:
        cols += [k for k in row if k not in cols]
    return cols


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
