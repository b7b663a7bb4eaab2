"""Kill-safe training: a training job's state, saved every N steps or M minutes, from which a rerun
of the killed job resumes.

The state sits beside the checkpoint the job will write (``backbone.pt`` -> ``backbone.resume.pt``),
is written all-or-nothing (:mod:`lmar.atomic`) and holds everything the next step depends on: the
weights, the optimiser's and the scheduler's states, the job's random generator and PyTorch's global
one, the epoch, the steps done in it, the epoch's sample order and loss sums, the training curve so
far and the wall time spent. A resumed job therefore takes the same steps an uninterrupted one would
and, on a CPU, ends with the same weights to the bit. It is read with ``weights_only=True``, like a
checkpoint: tensors and plain containers, nothing unpickled. When the job ends, the state is removed.

A state whose ``identity`` differs from the job's (another config, seed, data or backbone) is not
resumed from: the job starts over and says so in its log.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch

from lmar.atomic import atomic_path

log = logging.getLogger(__name__)


def resume_path(ckpt: str | Path) -> Path:
    """The state file beside checkpoint ``ckpt``: its last suffix replaced by ``.resume.pt``."""
    ckpt = Path(ckpt)
    return ckpt.with_name(f"{ckpt.stem}.resume.pt")


class Saver:
    """Decides when to save (every ``every_steps`` steps and/or every ``every_minutes`` minutes; 0
    switches either off) and reads, writes and removes the state of one job."""

    def __init__(self, ckpt: str | Path, job: str, every_steps: int = 0, every_minutes: float = 0.0):
        if every_steps < 0 or every_minutes < 0:
            raise ValueError("save intervals must be >= 0")
        self.path, self.job = resume_path(ckpt), job
        self.every_steps, self.every_minutes = int(every_steps), float(every_minutes)
        self._last = time.monotonic()
        self.saves = 0

    def load(self) -> dict | None:
        """The saved state of this job, or None (no state, or one of another job: started over)."""
        if not self.path.is_file():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as exc:  # a torn or foreign file: weights_only refuses anything but tensors
            log.warning("resume state %s unreadable (%s): starting over", self.path, str(exc).splitlines()[0])
            return None
        if not isinstance(state, dict) or state.get("identity") != self.job:
            log.warning("resume state %s belongs to another config, seed, data or backbone: starting over", self.path)
            return None
        log.info("resuming from %s: epoch %d, step %d of it (%d steps in all)", self.path, state["epoch"],
                 state["step"], state["global_step"])
        return state

    def due(self, global_step: int) -> bool:
        by_steps = self.every_steps and global_step % self.every_steps == 0
        by_time = self.every_minutes and time.monotonic() - self._last >= 60 * self.every_minutes
        return bool(by_steps or by_time)

    def save(self, state: dict) -> None:
        with atomic_path(self.path) as tmp:
            torch.save({**state, "identity": self.job}, tmp)
        self._last = time.monotonic()
        self.saves += 1

    def done(self) -> None:
        self.path.unlink(missing_ok=True)


def rng_states(gen: torch.Generator) -> dict:
    return {"gen": gen.get_state(), "torch": torch.get_rng_state()}


def restore_rng(gen: torch.Generator, state: dict) -> None:
    gen.set_state(state["gen"])
    torch.set_rng_state(state["torch"])
