"""Kill-safe training: a training job's state, saved every N steps or M minutes, from which a rerun
of the killed job resumes.

The state sits beside the checkpoint the job will write (``backbone.pt`` -> ``backbone.resume.pt``),
is written all-or-nothing (:mod:`lmar.core.atomic`) and holds everything the next step depends on: the
weights, the optimiser's and the scheduler's states, the job's random generator and PyTorch's global
one, the epoch, the steps done in it, the epoch's sample order and loss sums, the training curve so
far and the wall time spent. A resumed job therefore takes the same steps an uninterrupted one would
and, on a CPU, ends with the same weights to the bit. It is read with ``weights_only=True``, like a
checkpoint: tensors and plain containers, nothing unpickled. When the job ends, the state is removed.

A state is resumed from only if it is this job's: its ``identity`` (named parts, e.g. the config's
hash, the training data's content hash, the code's fingerprint, the backbone's sha256) equals the
job's, it holds every key the loop reads (:data:`KEYS`) with the right types, and its weights,
optimiser and random states fit the network and optimiser being trained, all checked before any of
them is touched. Any other state (unreadable, of another job, incomplete, of another network) is
set aside: renamed to ``<name>.set-aside-<UTC time>`` (never over another file), named in a warning
with the reason, and the job starts over.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import torch

from lmar.core.atomic import atomic_path
from lmar.core.errors import LmarError

log = logging.getLogger(__name__)

# what the training loop reads from a state, and the type each must have
KEYS: dict[str, type | tuple[type, ...]] = {
    "model": dict, "optim": dict, "sched": dict, "rng": dict, "epoch": int, "step": int, "global_step": int,
    "order": torch.Tensor, "sums": dict, "curve": list, "epoch_seconds": (int, float), "seconds": (int, float),
}


def resume_path(ckpt: str | Path) -> Path:
    """The state file beside checkpoint ``ckpt``: its last suffix replaced by ``.resume.pt``."""
    ckpt = Path(ckpt)
    return ckpt.with_name(f"{ckpt.stem}.resume.pt")


class Saver:
    """Decides when to save (every ``every_steps`` steps and/or every ``every_minutes`` minutes; 0
    switches either off) and reads, writes, sets aside and removes the state of one job.

    ``identity``: a function giving the job's identity, ``{part: hash}``; called once, when a
    state is to be read or saving is on (hashing the training data costs a read of it)."""

    def __init__(self, ckpt: str | Path, identity: Callable[[], dict[str, str]], every_steps: int = 0,
                 every_minutes: float = 0.0):
        if every_steps < 0 or every_minutes < 0:
            raise ValueError("save intervals must be >= 0")
        self.path, self._make_identity, self._identity = resume_path(ckpt), identity, None
        self.every_steps, self.every_minutes = int(every_steps), float(every_minutes)
        self._last = time.monotonic()
        self.saves = 0

    @property
    def identity(self) -> dict[str, str]:
        if self._identity is None:
            self._identity = dict(self._make_identity())
        return self._identity

    def load(self, check: Callable[[dict], str | None] = lambda state: None) -> dict | None:
        """This job's saved state, or None (no state, or one set aside: the job starts over).
        ``check(state)``: why a state of the right identity with every key cannot be resumed into
        the job's network and optimiser, or None if it can."""
        if not self.path.is_file():
            if self.every_steps or self.every_minutes:
                _ = self.identity  # taken now, at the start: what this attempt trains on
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - a torn or foreign file: weights_only refuses anything but tensors
            self.set_aside(f"it is unreadable ({(str(exc).strip().splitlines() or [''])[0]})")
            return None
        try:
            reason = self._mismatch(state) or check(state)
        except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:  # nested parts of odd shapes
            reason = f"it is malformed ({type(exc).__name__}: {exc})"
        if reason:
            self.set_aside(reason)
            return None
        log.info("resuming from %s: epoch %d, step %d of it (%d steps in all)", self.path, state["epoch"],
                 state["step"], state["global_step"])
        return state

    def _mismatch(self, state) -> str | None:
        """Why ``state`` is not a complete state of this job, or None."""
        if not isinstance(state, dict):
            return f"it holds a {type(state).__name__}, not a training state"
        theirs = state.get("identity")
        if theirs != self.identity:
            if not isinstance(theirs, dict):
                return "it belongs to another job (it has no identity of named parts: an older format)"
            differ = sorted(k for k in {*theirs, *self.identity} if theirs.get(k) != self.identity.get(k))
            return f"it belongs to another job (its {', '.join(differ)} differ{'s' if len(differ) == 1 else ''})"
        missing = [k for k in KEYS if k not in state]
        if missing:
            return f"it lacks {', '.join(missing)}"
        wrong = [f"{k} is a {type(state[k]).__name__}" for k, t in KEYS.items()
                 if not isinstance(state[k], t) or (t is int and isinstance(state[k], bool))]
        return f"its {', '.join(wrong)}" if wrong else None

    def set_aside(self, reason: str) -> Path:
        """Rename the state to ``<name>.set-aside-<UTC time>[-n]`` (no file overwritten), warn why."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        aside, n = self.path.with_name(f"{self.path.name}.set-aside-{stamp}"), 0
        while aside.exists():
            n += 1
            aside = self.path.with_name(f"{self.path.name}.set-aside-{stamp}-{n}")
        try:
            self.path.rename(aside)
        except OSError as exc:
            raise LmarError(f"resume state {self.path} cannot be used ({reason}) nor set aside ({exc.strerror}): "
                            "remove it and rerun") from None
        log.warning("resume state %s not resumed from: %s; set aside as %s, starting over", self.path, reason,
                    aside.name)
        return aside

    def due(self, global_step: int) -> bool:
        by_steps = self.every_steps and global_step % self.every_steps == 0
        by_time = self.every_minutes and time.monotonic() - self._last >= 60 * self.every_minutes
        return bool(by_steps or by_time)

    def save(self, state: dict) -> None:
        with atomic_path(self.path) as tmp:
            torch.save({**state, "identity": self.identity}, tmp)
        self._last = time.monotonic()
        self.saves += 1

    def done(self) -> None:
        self.path.unlink(missing_ok=True)


def _weights_misfit(net: torch.nn.Module, weights: dict) -> str | None:
    """Why ``net.load_state_dict(weights)`` (strict) would fail, or None: keys and shapes."""
    own = net.state_dict()
    missing, unexpected = sorted(set(own) - set(weights)), sorted(set(weights) - set(own))
    if missing or unexpected:
        return (f"its weights do not fit the network (missing: {', '.join(missing[:3]) or 'none'}; "
                f"unexpected: {', '.join(map(str, unexpected[:3])) or 'none'})")
    for k, v in own.items():
        w = weights[k]
        if not isinstance(w, torch.Tensor) or (isinstance(v, torch.Tensor) and w.shape != v.shape):
            shape = tuple(w.shape) if isinstance(w, torch.Tensor) else type(w).__name__
            return f"its weights do not fit the network ({k} is {shape}, the network's {tuple(v.shape)})"
    return None


def _optim_misfit(opt: torch.optim.Optimizer, saved: dict) -> str | None:
    """Why ``opt.load_state_dict(saved)`` would fail or give moments of the wrong shapes, or None."""
    groups, state = saved.get("param_groups"), saved.get("state")
    if not isinstance(groups, list) or not isinstance(state, dict):
        return "its optimiser state lacks param_groups or state"
    if len(groups) != len(opt.param_groups) or any(
            not isinstance(g, dict) or len(g.get("params", ())) != len(o["params"]) for g, o in zip(groups, opt.param_groups)):
        return "its optimiser state does not fit the optimiser (other parameter groups)"
    params = dict(zip((i for g in groups for i in g["params"]), (p for o in opt.param_groups for p in o["params"])))
    for i, moments in state.items():
        if i not in params or not isinstance(moments, dict):
            return f"its optimiser state names parameter {i!r}, which the optimiser has not"
        for name, t in moments.items():
            if isinstance(t, torch.Tensor) and t.dim() and t.shape != params[i].shape:
                return f"its optimiser's {name} of parameter {i} is {tuple(t.shape)}, the parameter {tuple(params[i].shape)}"
    return None


def _best_misfit(net: torch.nn.Module, state: dict) -> str | None:
    """Why the optional ``best`` of a state (early stopping's kept weights, :func:`lmar.run.train._epochs`)
    cannot be used, or None: a mapping of the weights, an epoch (-1: the initialisation) and scores."""
    if "best" not in state:
        return None
    best = state["best"]
    if not isinstance(best, dict) or not isinstance(best.get("model"), dict) or not isinstance(best.get("epoch"), int):
        return "its kept best weights are not a mapping of weights, epoch and scores"
    if not all(isinstance(best.get(k), float) for k in ("val_psnr", "val_psnr_init")):
        return "its kept best weights lack their held-out scores"
    reason = _weights_misfit(net, best["model"])
    return f"{reason} (the kept best weights)" if reason else None


def check_state(state: dict, net: torch.nn.Module, opt: torch.optim.Optimizer, gen: torch.Generator,
                n_order: int, epochs: int, steps: int) -> str | None:
    """Why ``state`` (complete, of the right identity) cannot be resumed into ``net`` and ``opt``
    training ``epochs`` epochs of ``steps`` steps over orders of ``n_order`` samples, or None."""
    reason = _weights_misfit(net, state["model"]) or _optim_misfit(opt, state["optim"]) or _best_misfit(net, state)
    if reason:
        return reason
    rng = state["rng"]
    for key, now in (("gen", gen.get_state()), ("torch", torch.get_rng_state())):
        t = rng.get(key)
        if not isinstance(t, torch.Tensor) or t.dtype != now.dtype or t.shape != now.shape:
            return f"its random state {key!r} is missing or of another generator"
    epoch, step, order = state["epoch"], state["step"], state["order"]
    if not (0 <= epoch < epochs and 0 <= step <= steps and state["global_step"] == epoch * steps + step):
        return f"its place (epoch {epoch}, step {step}) is not one of this job's {epochs} x {steps} steps"
    if order.dtype != torch.int64 or not torch.equal(order.sort().values, torch.arange(n_order)):
        return f"its sample order is not a permutation of this job's {n_order} samples"
    return None


def restore(state: dict, net: torch.nn.Module, opt: torch.optim.Optimizer, sched, gen: torch.Generator) -> None:
    """Load a checked state into the network, optimiser, scheduler and random generators."""
    net.load_state_dict(state["model"])
    opt.load_state_dict(state["optim"])
    sched.load_state_dict(state["sched"])
    restore_rng(gen, state["rng"])


def rng_states(gen: torch.Generator) -> dict:
    return {"gen": gen.get_state(), "torch": torch.get_rng_state()}


def restore_rng(gen: torch.Generator, state: dict) -> None:
    gen.set_state(state["gen"])
    torch.set_rng_state(state["torch"])
