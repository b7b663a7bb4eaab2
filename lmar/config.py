"""Checks of an experiment config beyond its JSON schema: every named part must resolve."""

from __future__ import annotations

from lmar.errors import LmarError
from lmar.registry import BACKBONES, DATASETS, RESAMPLERS
from lmar.targets import parse_targets


def check_parts(config: dict) -> None:
    """Raise LmarError naming the config key of the first unknown or misconfigured part."""
    for section, registry in (("datasets", DATASETS), ("backbones", BACKBONES), ("resamplers", RESAMPLERS)):
        entries = config.get(section) or {}
        if not entries:
            raise LmarError(f"config key {section!r} is empty: name at least one entry")
        for name, spec in entries.items():
            if not isinstance(spec, dict) or "type" not in spec:
                raise LmarError(f"config key {section}.{name} needs a 'type' (a registered name or module:Class)")
            registry.get(spec["type"], f"{section}.{name}.type")
    parse_targets(config.get("evaluation") or {"scales": [2]})


def trainable(spec: dict, where: str = "") -> bool:
    return bool(getattr(RESAMPLERS.get(spec["type"], where), "trainable", False))


def needs_download(spec: dict) -> bool:
    """A published dataset with a source (manual ones included: their step says what to do),
    unless the user points ``params.local_path`` at data they already have."""
    cls = DATASETS.get(spec["type"])
    return bool(getattr(cls, "source", None)) and not (spec.get("params") or {}).get("local_path")
