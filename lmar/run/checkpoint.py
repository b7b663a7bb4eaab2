"""Checkpoints: a module's weights plus the spec that rebuilds it and facts about its training.

A checkpoint is data: it is read with ``weights_only=True`` (no code is unpickled), and the spec
it carries may name only registered parts or code the user trusts (``allow``, see
:mod:`lmar.core.registry`); its params are checked like a config's. A part converted from the
authors' released weights is written as one too (:func:`import_released`, with the converters of
:mod:`lmar.parts.lmar.released`).
"""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Collection
from pathlib import Path

import torch

from lmar.core.atomic import atomic_path
from lmar.core.errors import LmarError
from lmar.core.registry import BACKBONES, RESAMPLERS
from lmar.parts.lmar.released import FILES, URL, check_released_params, read_released, released_file


def save(path: str | Path, kind: str, spec: dict, module: torch.nn.Module, meta: dict) -> None:
    """Write the checkpoint; ``meta`` also records the class's ``spec_version`` (1 unless it sets one)."""
    state = {k: v.detach().cpu() for k, v in module.state_dict().items()}
    meta = {**meta, "spec_version": getattr(type(module), "spec_version", 1)}
    with atomic_path(path) as tmp:
        torch.save({"kind": kind, "spec": spec, "state_dict": state, "meta": meta}, tmp)


def why_unreadable(exc: BaseException) -> str:
    """Why ``torch.load(weights_only=True)`` refused a file, in one line; never torch's advice to
    load it with ``weights_only=False`` (for a file from elsewhere, that advice runs its code)."""
    if isinstance(exc, pickle.UnpicklingError):
        return ("it is not a file of tensors, numbers and plain containers (what this project writes); a file "
                "holding other Python objects would run code if fully unpickled, so it is refused")
    first = (str(exc).strip().splitlines() or [""])[0][:120]
    return f"it is not a checkpoint this project writes ({type(exc).__name__}: {first})"


def load(path: str | Path, kind: str) -> dict:
    path = Path(path)
    if path.is_dir():
        raise LmarError(f"{kind} checkpoint {path} is a folder; give the checkpoint file (a .pt the workflow wrote)")
    if not path.is_file():
        raise LmarError(f"{kind} checkpoint not found: {path}. Train it first (the workflow does this).")
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:4] != b"PK\x03\x04" and head[:1] != b"\x80":  # torch.save's zip file, or its older pickle stream
        raise LmarError(f"cannot read {kind} checkpoint {path}: it is not a PyTorch file (it starts with {head!r}); "
                        "give the checkpoint file (a .pt the workflow wrote)")
    try:
        with warnings.catch_warnings():  # torch's notes on pickle protocols: the error says what matters
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise LmarError(f"cannot read {kind} checkpoint {path}: {why_unreadable(exc)}. "
                        "If it is yours, delete it and train again.") from None
    if not isinstance(ckpt, dict) or ckpt.get("kind") != kind:
        found = ckpt.get("kind") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise LmarError(f"{path} is not a {kind} checkpoint (it holds {found!r})")
    return ckpt


def _load_state(net: torch.nn.Module, ckpt: dict, path) -> None:
    try:
        net.load_state_dict(ckpt["state_dict"])
    except (RuntimeError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise LmarError(
            f"checkpoint {path} does not fit {ckpt.get('kind')} spec {ckpt.get('spec')} as configured ({first}). "
            "Use the spec it was trained with, or train it again."
        ) from None


def _check_version(ckpt: dict, path, allow: Collection[str]) -> None:
    """Refuse a checkpoint made by another version of its spec's class (the same name, another network)."""
    spec = ckpt.get("spec")
    if not isinstance(spec, dict):
        return  # building it names what is wrong
    cls = BACKBONES.get(spec.get("type"), f"backbone checkpoint {path}: spec.type", allow)
    meta = ckpt.get("meta")
    made = meta.get("spec_version", 1) if isinstance(meta, dict) else 1
    now = getattr(cls, "spec_version", 1)
    if made != now:
        age = "an older" if isinstance(made, int) and made < now else "another version of"
        raise LmarError(
            f"checkpoint {path} was made by {age} {spec.get('type')} (a different network); "
            "retrain it (delete the file and rerun the workflow)"
        )


def _check_memory(kind: str, spec, where: str, allow) -> None:
    """Refuse a spec whose part's parameters are over LMAR_MAX_PART_BYTES, sized on the meta device
    before anything is allocated (:func:`lmar.run.job_resources.check_part_memory`)."""
    from lmar.run.job_resources import (
        check_part_memory,  # lmar.run.job_resources imports lmar.run.train, which imports us
    )

    check_part_memory(kind, spec, where, allow)


def load_backbone(path: str | Path, device: torch.device, allow: Collection[str] = ()):
    """The frozen backbone (eval mode, no gradients) and its checkpoint; ``allow``: modules its
    spec may name besides registered backbones."""
    ckpt = load(path, "backbone")
    _check_version(ckpt, path, allow)
    _check_memory("backbone", ckpt.get("spec"), f"backbone checkpoint {path}: spec", allow)
    net = BACKBONES.build(ckpt.get("spec"), f"backbone checkpoint {path}: spec", allow)
    _load_state(net, ckpt, path)
    return net.to(device).eval().requires_grad_(False), ckpt


def build_resampler(spec: dict, ckpt_path: str | Path | None, device: torch.device, where: str = "resampler",
                    allow: Collection[str] | None = None):
    """A resampler from its spec (``allow=None``: a trusted spec, e.g. the config's; else the
    modules an untrusted one may name); a trainable one also needs its trained checkpoint."""
    _check_memory("resampler", spec, where, allow)
    net = RESAMPLERS.build(spec, where, allow)
    meta: dict = {}
    if net.trainable:
        if not ckpt_path:
            raise LmarError(f"resampler {spec.get('type')!r} ({where}) is trainable: give its trained checkpoint")
        ckpt = load(ckpt_path, "resampler")
        _load_state(net, {**ckpt, "spec": spec}, ckpt_path)
        meta = ckpt.get("meta", {})
    return net.to(device).eval(), meta


def import_released(kind: str, spec: dict, path: str | Path, out: str | Path, where: str) -> dict:
    """Our checkpoint of ``kind`` ("backbone" or "resampler") for the config entry ``spec``, with
    the authors' released weights from ``path`` instead of training: the part's ``released``
    attribute names the file and its ``released_state(content)`` converts it (strictly loaded)."""
    registry = BACKBONES if kind == "backbone" else RESAMPLERS
    cls = registry.get(spec.get("type"), f"{where}.type")
    file_name = released_file(cls, f"{where}.weights")
    check_released_params(cls, spec.get("params") or {}, f"{where}.params")
    content = read_released(path, cls.released)
    net = registry.build(spec, where)
    try:
        net.load_state_dict(cls.released_state(content), strict=True)
    except RuntimeError as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        raise LmarError(f"{where}: the released {file_name} does not fit params {spec.get('params') or {}} ({first}); "
                        "use the released model's params") from None
    sha = FILES[cls.released][1]
    meta = {"weights": f"authors' {file_name} (sha256 {sha[:12]})", "source": URL + file_name, "train": {}}
    save(out, kind, {"type": spec["type"], "params": spec.get("params") or {}}, net, meta)
    return meta
