"""Evaluation targets: a downscaling factor (``2`` -> round(H/2) x round(W/2)) or a fixed size.

Fixed sizes reproduce the authors' protocol, e.g. ``{name: x1.8, size: [1200, 1600]}`` for
their 1600x1200 target of a 3840x2160 input (note: that one changes the aspect ratio).
"""

from __future__ import annotations

from dataclasses import dataclass

from lmar.errors import LmarError
from lmar.interpolation import parse_scale, target_size
from lmar.paths import path_component

FULL = "full"  # the label of the no-resampling row


@dataclass(frozen=True)
class Target:
    label: str
    scale: float | None = None
    size: tuple[int, int] | None = None

    def resolve(self, hw: tuple[int, int]) -> tuple[int, int]:
        if self.size is not None:
            return self.size
        return target_size(hw, self.scale)

    def effective_scale(self, hw: tuple[int, int]) -> float:
        """The factor by height (the table's x-axis)."""
        return round(hw[0] / self.resolve(hw)[0], 4)


def parse_targets(evaluation: dict) -> list[Target]:
    targets = []
    for i, s in enumerate(evaluation.get("scales", [])):
        try:
            scale = parse_scale(s)
        except LmarError as exc:
            raise LmarError(f"config key evaluation.scales[{i}]: {exc}") from None
        targets.append(Target(f"x{scale:g}", scale=scale))
    for i, entry in enumerate(evaluation.get("sizes", [])):
        try:
            h, w = (int(v) for v in entry["size"])
            label = entry.get("name") or f"{h}x{w}"
        except (KeyError, TypeError, ValueError):
            raise LmarError(f"config key evaluation.sizes[{i}] must be {{name: ..., size: [h, w]}}, got {entry!r}") from None
        path_component(label, f"config key evaluation.sizes[{i}].name")
        if h < 1 or w < 1:
            raise LmarError(f"config key evaluation.sizes[{i}]: size must be positive, got {h}x{w}")
        targets.append(Target(label, size=(h, w)))
    if not targets:
        raise LmarError("config key evaluation: give at least one entry in 'scales' or 'sizes'")
    labels = [t.label for t in targets]
    if len(set(labels)) != len(labels):
        raise LmarError(f"config key evaluation: target labels must be unique, got {labels}")
    return targets
