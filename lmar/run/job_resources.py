"""What a job asks a scheduler for: memory (``mem_mb``) and wall time (``runtime``, minutes), sized
from the config rather than fixed, so that a cluster profile can place the paper's 4K jobs and the
embedded default's small ones alike.

These are estimates, deliberately generous, made before any data exists: the dataset's frame size
and pair counts come from :meth:`lmar.data.base.Dataset.plan_shape` (a published dataset's counts,
the embedded dataset's own size; 4K frames otherwise); training costs from the ``train`` block
(epochs, batch, size or crop, repeats); evaluation from the test pairs and the number of target
sizes. The rates below are per megapixel of network input per sample, with a margin over what
was measured here (a U-Net at width 8 trained at about 6 s per megapixel-sample on 2 CPU cores).
Each retry (Snakemake's ``attempt``, with ``--retries``) asks for that multiple of both. A job
that needs more than estimated is overridden from the command line or a profile:
``--set-resources evaluate:mem_mb=64000``.

The memory one part (a backbone or a resampler) needs is also bounded, before anything is allocated
(:func:`check_part_memory`): the part is built on PyTorch's meta device (shapes only), its parameters
and buffers counted, and a forward run on a meta input at each planned size, whose peak of live tensors
is counted too. A config whose part is over LMAR_MAX_PART_BYTES (bytes, default 64 GiB) at its planned
sizes is refused at plan time (:func:`check_config_memory`, from :func:`lmar.run.config.check_parts`); a
checkpoint's spec is sized likewise before the part is built from it (its parameters).
"""

from __future__ import annotations

import math
import time
import weakref
from collections.abc import Collection
from dataclasses import dataclass

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from lmar.core.errors import LmarError
from lmar.core.runtime import positive_env
from lmar.data.loader import PREFETCH, PRELOAD_MAX  # pairs each loader worker decodes ahead; pairs kept in memory

BASE_MB = 3000  # Python, PyTorch, pyiqa and a CUDA context
TRAIN_BYTES_PER_PIXEL = 4096  # a training sample's activations and gradients, per input pixel
EVAL_BYTES_PER_PIXEL = 1024  # inference activations, per pixel of the backbone's input
IMAGE_BYTES_PER_PIXEL = 200  # full-resolution copies an evaluation holds (input, gt, output, map)
SECONDS_PER_MP = {"cpu": {"train": 12.0, "eval": 4.0}, "gpu": {"train": 0.1, "eval": 0.05}}
MIN_MINUTES = 10


def _minutes(seconds: float, attempt: int) -> int:
    return attempt * max(MIN_MINUTES, math.ceil(2 * seconds / 60) + 5)


def _mb(nbytes: float, attempt: int) -> int:
    return attempt * math.ceil(1.5 * (BASE_MB + nbytes / 2**20))


def prepare(shape, attempt: int = 1) -> dict:
    """Building or checking a dataset: every pair decoded once (about 1 s per 4K pair), two at a time."""
    H, W, n_train, n_test = shape
    seconds = (n_train + n_test) * H * W / 1e6 * 0.12
    return {"mem_mb": _mb(2 * H * W * 3 * 4 * 2, attempt), "runtime": _minutes(seconds, attempt)}


def pretrain(train: dict, shape, gpu: bool, attempt: int = 1) -> dict:
    """A backbone's pretraining: whole training images resized to ``train.size``, or random
    ``train.crop`` squares of them, in batches."""
    H, W, n_train, _ = shape
    crop = train.get("crop")
    h, w = (crop, crop) if crop else train.get("size", (H, W))
    batch, epochs = int(train.get("batch_size", 1)), int(train.get("epochs", 1))
    kept = H * W if crop else h * w  # pairs are kept at full resolution when cropped, else at the training size
    preload = n_train * kept * 3 * 4 * 2 if n_train <= PRELOAD_MAX else batch * H * W * 3 * 4 * 2
    seconds = epochs * n_train * h * w / 1e6 * SECONDS_PER_MP["gpu" if gpu else "cpu"]["train"]
    return {"mem_mb": _mb(preload + batch * h * w * TRAIN_BYTES_PER_PIXEL, attempt),
            "runtime": _minutes(seconds, attempt)}


def train_resampler(train: dict, shape, gpu: bool, attempt: int = 1) -> dict:
    """A resampler's training: ``repeats`` random crops of each full-resolution training pair per
    epoch, through the resampler and the frozen backbone (both in the backward pass)."""
    H, W, n_train, _ = shape
    crop = int(train.get("crop", min(H, W)))
    epochs, repeats = int(train.get("epochs", 1)), int(train.get("repeats", 1))
    preload = n_train * H * W * 3 * 4 * 2 if n_train <= PRELOAD_MAX else H * W * 3 * 4 * 2
    seconds = 2 * epochs * n_train * repeats * crop * crop / 1e6 * SECONDS_PER_MP["gpu" if gpu else "cpu"]["train"]
    return {"mem_mb": _mb(preload + 2 * crop * crop * TRAIN_BYTES_PER_PIXEL, attempt),
            "runtime": _minutes(seconds, attempt)}


def evaluate(n_targets: int, shape, gpu: bool, full_resolution: bool = False, attempt: int = 1,
             workers: int = 1) -> dict:
    """DEU on every test pair at ``n_targets`` sizes (the full-resolution row: one, the backbone at
    full resolution), and the metrics at full resolution; ``workers`` loader processes each holding
    PREFETCH decoded pairs (at most 16 bits per channel) ahead."""
    H, W, _, n_test = shape
    backbone_pixels = H * W  # at most: the full-resolution row, or the largest target (x1.5: 44%)
    seconds = n_test * max(1, n_targets) * H * W / 1e6 * SECONDS_PER_MP["gpu" if gpu else "cpu"]["eval"]
    nbytes = H * W * IMAGE_BYTES_PER_PIXEL + backbone_pixels * EVAL_BYTES_PER_PIXEL * (1 if full_resolution else 0.5)
    nbytes += workers * PREFETCH * 2 * H * W * 3 * 2
    return {"mem_mb": _mb(nbytes, attempt), "runtime": _minutes(seconds, attempt)}


RESUMABLE = ("pretrain", "train")  # job kinds that save their state and resume from it on a retry
LIMIT_KEYS = {"runtime": "max_runtime", "mem_mb": "max_mem_mb"}  # resource -> the config key that caps it


def capped(kind: str, resources: dict, first: dict, limits: dict) -> tuple[dict, list[str]]:
    """``resources`` (this attempt's) with each one over its configured maximum (``limits``: config keys
    max_runtime, max_mem_mb; None for no cap) lowered to it, so that no retry asks for more than the
    partition gives; and a note for each resource whose FIRST attempt's estimate (``first``) is already
    over its cap: a job of ``kind`` that will probably be cut off (a training job resumes from its saved
    state on the next attempt; any other starts over)."""
    out, notes = dict(resources), []
    for key, limit_key in LIMIT_KEYS.items():
        limit = limits.get(limit_key)
        if limit is None or key not in out:
            continue
        out[key] = min(out[key], int(limit))
        if first[key] > limit:
            if key == "runtime" and kind in RESUMABLE:
                attempts = math.ceil(first[key] / limit)
                notes.append(f"{kind} jobs are estimated at {first[key]} min, over {limit_key} {limit}: each attempt asks "
                             f"{limit} min and resumes from the last saved state; allow about {attempts} attempts "
                             f"(--retries {attempts - 1})")
            else:
                unit = "min" if key == "runtime" else "MB"
                notes.append(f"{kind} jobs are estimated at {first[key]} {unit} of {key}, over {limit_key} {limit}: "
                             f"they may be killed at the cap, and a retry asks no more; raise {limit_key} or run them "
                             f"where more is allowed (--set-resources)")
    return out, notes


# ---------------------------------------------------------------- the memory a part needs, bounded

MAX_PART_BYTES_ENV = "LMAR_MAX_PART_BYTES"
# 64 GiB: over ten times the paper's largest part at its largest planned size (the authors' U-Net on a
# 3840x2160 frame, about 5.5 GiB), and less than one 80 GB accelerator holds
DEFAULT_MAX_PART_BYTES = 64 * 2**30
STOPPED = "meta forward, stopped once over the limit"  # PartMemory.how: the peak is then a lower bound
META_SECONDS = 5.0  # a forward on the meta device that takes longer is cut short: the per-pixel rate stands in


def max_part_bytes() -> int:
    """The most memory (bytes) one part may need at its planned sizes, from LMAR_MAX_PART_BYTES (default
    64 GiB when unset or empty, read at each call)."""
    return positive_env(MAX_PART_BYTES_ENV, "bytes", DEFAULT_MAX_PART_BYTES)


@dataclass(frozen=True)
class PartMemory:
    """What a part needs: its parameters and buffers, and at ``planned`` (a description of the input, or
    "" for none) the input plus the peak of the tensors its forward keeps alive at once (``how``: "meta
    forward"; STOPPED, a lower bound, once past the limit; or "rate" where the forward could not run on
    the meta device)."""

    params: int
    activations: int = 0
    planned: str = ""
    how: str = ""

    @property
    def total(self) -> int:
        return self.params + self.activations


class _Stop(Exception):
    """Raised inside a meta forward to end it: over the limit, or over its time."""


class _PeakBytes(TorchDispatchMode):
    """The peak bytes of tensor storage alive at once among the tensors created by the ops run inside
    (on the meta device: shapes only, nothing allocated). A storage counts from its first tensor until
    its last one is freed (views share it). Past ``stop_at`` bytes or ``seconds``, every further op raises
    :class:`_Stop` (and ``stopped`` says why), so that a part catching the first still ends."""

    def __init__(self, stop_at: int, seconds: float):
        super().__init__()
        self.stop_at, self.deadline = stop_at, time.monotonic() + seconds
        self.live: dict[int, list[int]] = {}  # storage -> [bytes, tensors using it]
        self.now = self.peak = 0
        self.stopped = ""

    def _free(self, key: int) -> None:
        entry = self.live.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            del self.live[key]
            self.now -= entry[0]

    def _track(self, t: torch.Tensor) -> None:
        storage = t.untyped_storage()
        key = storage._cdata
        if key in self.live:
            self.live[key][1] += 1
        else:
            self.live[key] = [storage.nbytes(), 1]
            self.now += storage.nbytes()
            self.peak = max(self.peak, self.now)
        weakref.finalize(t, self._free, key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if not self.stopped and self.peak > self.stop_at:
            self.stopped = "limit"
        if not self.stopped and time.monotonic() > self.deadline:
            self.stopped = "time"
        if self.stopped:
            raise _Stop(self.stopped)
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self._track(t)
        return out


def _registry(kind: str):
    from lmar.core.registry import BACKBONES, RESAMPLERS

    return {"backbone": BACKBONES, "resampler": RESAMPLERS}[kind]


def _gib(nbytes: int) -> str:
    return f"{nbytes / 2**30:.3g} GiB"


def _meta_part(kind: str, spec: dict, where: str, allow: Collection[str] | None):
    """The part built on PyTorch's meta device (shapes only; the trust rule as for a real build); None
    when it cannot be built there: a wrong spec (the real build names what is wrong, in its own words)
    or a constructor that cannot run on meta (a user's part: it is then unsized). A shape too large even
    to count is an LmarError."""
    try:
        with torch.device("meta"):
            return _registry(kind).build(spec, where, allow)
    except RuntimeError as exc:
        if "overflow" not in str(exc).lower():
            return None
        raise LmarError(f"{where}.params: the {kind} would need more than 2**63 bytes ({str(exc)[:120]}), over "
                        f"the limit of {_gib(max_part_bytes())}; use smaller params") from None
    except Exception:  # noqa: BLE001 - see the docstring: left to the real build
        return None


def _forward_peak(net, kind: str, x: torch.Tensor, target, grad: bool, stop_at: int) -> tuple[int, str]:
    """(peak bytes of the forward on the meta input ``x``, "meta forward"; STOPPED once past ``stop_at``),
    or (the peak until then, "rate") when the forward cannot run on the meta device or takes longer than
    META_SECONDS."""
    mode = _PeakBytes(stop_at, META_SECONDS)
    try:
        with torch.set_grad_enabled(grad), mode:
            net(x) if kind == "backbone" else net(x, target)
    except Exception:  # noqa: BLE001 - a part's op without a meta kernel, or stopped: told apart below
        if mode.stopped != "limit":
            return mode.peak, "rate"  # the peak until it stopped: the rate may only raise it
    return mode.peak, STOPPED if mode.stopped else "meta forward"


def part_memory(kind: str, spec: dict, where: str, allow: Collection[str] | None = None,
                batch_hw: tuple[int, int, int] | None = None, target: tuple[int, int] | None = None,
                grad: bool = False) -> PartMemory | None:
    """:func:`_part_memory`, remembered for the same arguments and limit (a plan sizes the same part
    for each dataset and target; a test process plans the same config many times)."""
    key = (kind, repr(spec), where, None if allow is None else tuple(allow), batch_hw, target, grad, max_part_bytes())
    if key not in _REMEMBERED:
        if len(_REMEMBERED) > 256:
            _REMEMBERED.clear()
        _REMEMBERED[key] = _part_memory(kind, spec, where, allow, batch_hw, target, grad)
    return _REMEMBERED[key]


_REMEMBERED: dict[tuple, PartMemory | None] = {}


def _part_memory(kind: str, spec: dict, where: str, allow: Collection[str] | None = None,
                 batch_hw: tuple[int, int, int] | None = None, target: tuple[int, int] | None = None,
                 grad: bool = False) -> PartMemory | None:
    """The memory a ``kind`` ("backbone" or "resampler") part of ``spec`` needs, estimated on the meta
    device: its parameters and buffers; with ``batch_hw`` = (batch, H, W), also its input and the peak
    of a forward on it (a resampler's to ``target``; with ``grad``, what training keeps for the backward
    pass, and the gradients and Adam's two moments of the parameters). Where the forward cannot run on
    meta, EVAL_BYTES_PER_PIXEL (TRAIN_BYTES_PER_PIXEL with ``grad``) per input and output pixel stands in.
    None when the part cannot be built on meta."""
    net = _meta_part(kind, spec, where, allow)
    if net is None:
        return None
    params = sum(t.numel() * t.element_size() for t in (*net.parameters(), *net.buffers()))
    if grad:
        params *= 4  # the weights, their gradients and Adam's two moments
    if batch_hw is None:
        return PartMemory(params)
    batch, H, W = batch_hw
    x = torch.empty(batch, 3, H, W, device="meta")
    planned = f"a {batch}x3x{H}x{W} input" + (f" for {target[0]}x{target[1]}" if target else "")
    peak, how = _forward_peak(net, kind, x, target, grad, max_part_bytes())
    if how == "rate":
        out_pixels = batch * (target[0] * target[1] if target else H * W)
        peak = max(peak, (TRAIN_BYTES_PER_PIXEL if grad else EVAL_BYTES_PER_PIXEL) * (batch * H * W + out_pixels))
    return PartMemory(params, x.numel() * x.element_size() + peak, planned, how)


def check_part_memory(kind: str, spec: dict, where: str, allow: Collection[str] | None = None,
                      batch_hw: tuple[int, int, int] | None = None, target: tuple[int, int] | None = None,
                      grad: bool = False, why: str = "") -> PartMemory | None:
    """:func:`part_memory`, refused over LMAR_MAX_PART_BYTES: one LmarError naming ``where`` (and ``why``,
    e.g. the config key of the planned size), the estimate and the limit. Nothing real is allocated."""
    got = part_memory(kind, spec, where, allow, batch_hw, target, grad)
    limit = max_part_bytes()
    if got is not None and got.total > limit:
        at = f", {_gib(got.activations)} for {got.planned} ({got.how})" if got.planned else ""
        raise LmarError(
            f"{where}{' ' + why if why else ''}: the {kind} needs {'at least' if got.how == STOPPED else 'about'} "
            f"{_gib(got.total)} ({_gib(got.params)} of "
            f"parameters{' and training state' if grad else ''}{at}), over the limit of {_gib(limit)} "
            f"({limit} bytes); use smaller params or sizes, or if this is meant, set {MAX_PART_BYTES_ENV} (bytes) higher"
        )
    return got


def _largest_target(targets: list, hw: tuple[int, int]) -> tuple[tuple[int, int], str]:
    """The largest of ``targets`` (by pixels) for ``hw`` frames, and the config key that gives it."""
    target = max(targets, key=lambda t: math.prod(t.resolve(hw)))
    return target.resolve(hw), (f"config key {target.where}" if target.where else f"target {target.label}")


def _is_identity(spec: dict, where: str) -> bool:
    return bool(getattr(_registry("resampler").get(spec.get("type"), f"{where}.type"), "is_identity", False))


def _training(kind: str, spec: dict, where: str) -> dict | None:
    """The part's ``train`` block with its recipe's defaults (:mod:`lmar.parts.recipes`), or None when it is
    not trained (released weights, or nothing to train)."""
    from lmar.core.params import bind_recipe

    recipe = getattr(_registry(kind).get(spec.get("type"), f"{where}.type"), "train_recipe", None)
    if "weights" in spec or recipe is None or (kind == "resampler" and "train" not in spec):
        return None
    return bind_recipe(recipe, spec.get("train") or {}, f"{where}.train")


def check_config_memory(config: dict, targets: list | None = None) -> None:
    """At plan time: every backbone and resampler of ``config`` at the sizes planned for each dataset
    (:meth:`lmar.data.base.Dataset.plan_shape`): a backbone at the largest size it runs at in the
    evaluation and at its training size and batch; a resampler from the frame to the largest target and
    (trained) from its training crop to the largest training target. Over LMAR_MAX_PART_BYTES: one
    LmarError naming the config keys. ``targets``: the evaluation's, parsed (:func:`lmar.run.targets.parse_targets`;
    parsed here when not given)."""
    from lmar.core.registry import DATASETS
    from lmar.run.targets import parse_targets

    if targets is None:
        targets = parse_targets(config.get("evaluation") or {"scales": [2]})

    for dname, dspec in (config.get("datasets") or {}).items():
        H, W = DATASETS.build(dspec, f"config key datasets.{dname}").plan_shape()[:2]
        on = f"on datasets.{dname} ({H}x{W} frames)"
        (th, tw), tkey = _largest_target(targets, (H, W))
        (h, w), key = (th, tw), tkey  # where the backbones run: the largest target, or the full frame
        if any(_is_identity(s, f"config key resamplers.{n}") for n, s in (config.get("resamplers") or {}).items()):
            (h, w), key = max(((th, tw), tkey), ((H, W), "the full frame (the full-resolution row)"),
                              key=lambda s: s[0][0] * s[0][1])
        for name, spec in (config.get("backbones") or {}).items():
            where = f"config key backbones.{name}"
            check_part_memory("backbone", spec, where, batch_hw=(1, h, w), why=f"at {key} {on}")
            train = _training("backbone", spec, where)
            if train is not None:
                check_part_memory("backbone", spec, where, batch_hw=(train["batch_size"], *train["size"]),
                                  grad=True, why=f"training ({where}.train.size, batch_size)")
        for name, spec in (config.get("resamplers") or {}).items():
            where = f"config key resamplers.{name}"
            if _is_identity(spec, where):
                continue
            check_part_memory("resampler", spec, where, batch_hw=(1, H, W), target=(th, tw), why=f"for {tkey} {on}")
            train = _training("resampler", spec, where)
            if train is not None and "crop" in train:
                crop = min(int(train["crop"]), H, W)
                side = min(int(train.get("target_max", crop)), crop)
                check_part_memory("resampler", spec, where, batch_hw=(1, crop, crop), target=(side, side),
                                  grad=True, why=f"training ({where}.train.crop)")
