"""Evaluation targets: a downscaling factor (``2`` -> round(H/2) x round(W/2)), a fixed size, or
a fraction of each side.

Fixed sizes reproduce the authors' protocol, e.g. ``{name: x1.8, size: [1200, 1600]}`` for
their 1600x1200 target of a 3840x2160 input (note: that one changes the aspect ratio). A fraction
carries the same protocol to inputs of any size: ``{name: x1.8, fraction: [0.5556, 0.4167]}`` is
round(H * 0.5556) x round(W * 0.4167).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lmar.core.errors import LmarError
from lmar.core.paths import path_component

FULL = "full"  # the label of the no-resampling row


def target_size(hw: tuple[int, int], scale: float) -> tuple[int, int]:
    """The (h, w) a downscale by ``scale`` gives for an (H, W) image (rounded, at least 1)."""
    scale = parse_scale(scale)
    return max(1, round(hw[0] / scale)), max(1, round(hw[1] / scale))


def parse_scale(scale) -> float:
    try:
        value = float(scale)
    except (TypeError, ValueError):
        raise LmarError(f"scale must be a number >= 1 (a downscaling factor such as 2 or 1.8), got {scale!r}") from None
    if not value >= 1.0 or value == float("inf"):
        raise LmarError(f"scale must be a number >= 1 (a downscaling factor such as 2 or 1.8), got {scale!r}")
    return value


@dataclass(frozen=True)
class Target:
    label: str
    scale: float | None = None
    size: tuple[int, int] | None = None
    fraction: tuple[float, float] | None = None
    where: str = field(default="", compare=False)  # the config key that gives it, e.g. "evaluation.sizes[0]"

    def resolve(self, hw: tuple[int, int]) -> tuple[int, int]:
        if self.size is not None:
            return self.size
        if self.fraction is not None:
            return max(1, round(hw[0] * self.fraction[0])), max(1, round(hw[1] * self.fraction[1]))
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
        targets.append(Target(f"x{scale:g}", scale=scale, where=f"evaluation.scales[{i}]"))
    for i, entry in enumerate(evaluation.get("sizes", [])):
        where = f"config key evaluation.sizes[{i}]"
        if not isinstance(entry, dict) or ("size" in entry) == ("fraction" in entry):
            raise LmarError(f"{where} must be {{name: ..., size: [h, w]}} or {{name: ..., fraction: [fh, fw]}}, "
                            f"got {entry!r}")
        if "fraction" in entry:
            try:
                fh, fw = (float(v) for v in entry["fraction"])
            except (TypeError, ValueError):
                raise LmarError(f"{where}.fraction must be [fh, fw], got {entry['fraction']!r}") from None
            if not (0 < fh <= 1 and 0 < fw <= 1):
                raise LmarError(f"{where}.fraction: each side's fraction must be in (0, 1], got {fh:g}, {fw:g}")
            label = path_component(entry.get("name") or f"{fh:g}x{fw:g}", f"{where}.name")
            targets.append(Target(label, fraction=(fh, fw), where=f"evaluation.sizes[{i}]"))
            continue
        try:
            h, w = (int(v) for v in entry["size"])
        except (TypeError, ValueError):
            raise LmarError(f"{where} must be {{name: ..., size: [h, w]}}, got {entry!r}") from None
        label = path_component(entry.get("name") or f"{h}x{w}", f"{where}.name")
        if h < 1 or w < 1:
            raise LmarError(f"{where}: size must be positive, got {h}x{w}")
        targets.append(Target(label, size=(h, w), where=f"evaluation.sizes[{i}]"))
    if not targets:
        raise LmarError("config key evaluation: give at least one entry in 'scales' or 'sizes'")
    labels = [t.label for t in targets]
    if len(set(labels)) != len(labels):
        raise LmarError(f"config key evaluation: target labels must be unique, got {labels}")
    return targets


def figure_target(targets: list[Target], hw: tuple[int, int]) -> Target:
    """The target the report's crops figure shows for an input of ``hw``: the one nearest x2 by height."""
    return min(targets, key=lambda t: abs(t.effective_scale(hw) - 2.0))
