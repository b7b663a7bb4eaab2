"""The metric table: every fact about each image-quality metric, in one place.

Per metric (the name a config's ``evaluation.metrics`` and the results' columns use): its pyiqa
metric and the options it is created with (:class:`lmar.run.metrics.Scorer`), the weight files it
needs (:mod:`lmar.parts.weights`; the workflow seeds them for a required metric), its direction
(whether a higher value is better: ranks, arrows and paired comparisons, :mod:`lmar.report.stats`),
its label and unit in the tables and plots, and the decimals it is printed with. The config schema's
metric lists are this table's names (tests/core/test_metric_table.py). Adding a metric is one entry here
(and one in the schema's lists).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from lmar.core.errors import LmarError


@dataclass(frozen=True)
class Metric:
    pyiqa: str  # pyiqa's name of the metric
    options: Mapping = field(default_factory=dict)  # pyiqa.create_metric's options
    weights: tuple[str, ...] = ()  # weight files it needs (lmar.parts.weights.NAMES)
    higher_is_better: bool = True
    label: str = ""  # heading in the tables and plots, with the unit
    unit: str = ""  # after a printed difference ("+0.52 dB")
    digits: int = 4  # decimals printed


METRICS: Mapping[str, Metric] = MappingProxyType({
    "psnr": Metric("psnr", label="PSNR (dB)", unit="dB", digits=2),
    # the authors' SSIM: pyiqa's ssimc (on RGB), downsampled as theirs
    "ssim": Metric("ssimc", MappingProxyType({"downsample": True}), label="SSIM", digits=4),
    "lpips": Metric("lpips", weights=("alexnet", "lpips_alex"), higher_is_better=False, label="LPIPS", digits=4),
})


def metric(name: str, where: str = "metric") -> Metric:
    """The entry of metric ``name``; an unknown name is an error naming it and the known ones."""
    try:
        return METRICS[name]
    except KeyError:
        raise LmarError(f"unknown {where} {name!r}; known metrics: {', '.join(METRICS)}") from None


def weights_needed(names: Iterable[str]) -> list[str]:
    """The weight files the metrics ``names`` need, sorted, each once."""
    return sorted({w for name in names for w in metric(name).weights})
