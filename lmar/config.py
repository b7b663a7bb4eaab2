"""Checks of an experiment config beyond its JSON schema: every named part must resolve."""

from __future__ import annotations

from lmar.errors import LmarError
from lmar.interpolation import parse_scale
from lmar.registry import BACKBONES, DATASETS, RESAMPLERS


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
    for i, s in enumerate((config.get("evaluation") or {}).get("scales", [])):
        try:
            parse_scale(s)
        except LmarError as exc:
            raise LmarError(f"config key evaluation.scales[{i}]: {exc}") from None


def trainable(spec: dict, where: str = "") -> bool:
    return bool(getattr(RESAMPLERS.get(spec["type"], where), "trainable", False))
