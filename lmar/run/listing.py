"""What ``lmar list`` prints: every registered part with where it comes from and what it is, and
every dataset with its source, layout and pair counts (from the classes' own declarations)."""

from __future__ import annotations

import inspect
import re
import sys


def _first_sentence(doc: str | None, width: int = 100) -> str:
    """The first sentence of a docstring's first paragraph, on one line (rST ````code```` as `code`,
    no final full stop); one longer than ``width`` is cut to what precedes its first ": ", if any."""
    para = " ".join((doc or "").strip().split("\n\n")[0].split())
    m = re.match(r"(.+?[.!?])(?:\s|$)", para)
    sentence = (m.group(1) if m else para).replace("``", "`").rstrip(".")
    return sentence.split(": ", 1)[0] if len(sentence) > width else sentence


def _part_summary(cls: type) -> str:
    """A backbone's or resampler's line in ``lmar list``: the module it comes from and the first
    sentence of that module's docstring (of the class's when the module has none)."""
    module_doc = getattr(sys.modules.get(cls.__module__), "__doc__", None)
    doc = _first_sentence(module_doc) or _first_sentence(inspect.getdoc(cls))
    return f"{cls.__module__}: {doc}" if doc else cls.__module__


def _layout_text(layout: dict) -> str:
    """A dataset's published folders for our train/input, train/gt, test/input, test/gt: as
    ``{train,test}/{low,high}`` when they factor so (in our order), else one by one."""
    from lmar.data.published import OUR_LAYOUT

    parts = [str(layout.get(k, "?")).split("/") for k in OUR_LAYOUT]
    if all(len(p) == 2 for p in parts):
        (tr_in, i), (tr_gt, g), (te_in, i2), (te_gt, g2) = parts
        if tr_in == tr_gt and te_in == te_gt and i == i2 and g == g2:
            return f"{{{tr_in},{te_in}}}/{{{i},{g}}} as our {{train,test}}/{{input,gt}}"
    return ", ".join(f"{layout.get(k, '?')} as our {k}" for k in OUR_LAYOUT)


def _source_text(cls: type) -> str:
    """Where a dataset comes from: its published source, else built locally (or your own folder)."""
    source = getattr(cls, "source", None) or {}
    if not isinstance(source, dict):  # a plugin's own notion of a source: shown as it is
        return str(source)
    kind = source.get("kind")
    if kind == "url":
        return source["url"]
    if kind in ("gdrive_file", "gdrive_folder"):
        file = f" ({source['file']})" if source.get("file") else ""
        return f"Google Drive {kind.split('_')[1]} {source['id']}{file}"
    if kind == "manual":
        return f"by hand, from {source.get('where', 'its publisher')}"
    if "local_path" in inspect.signature(cls).parameters:
        return "your own data (params.local_path)"
    return "built locally"


def _dataset_summary(cls: type) -> str:
    """A dataset's line in ``lmar list``: what it is, its source, its layout and its pair counts."""
    what = getattr(cls, "title", "") or _part_summary(cls)
    layout = getattr(cls, "layout", None)
    layout = _layout_text(layout) if layout else "ours, {train,test}/{input,gt}"
    expected = getattr(cls, "expected", None)
    if expected is None:
        pairs = "set by its params"
    elif not isinstance(expected, dict):
        pairs = str(expected)
    elif expected:
        pairs = " / ".join(f"{expected[s]} {s}" for s in ("train", "test") if s in expected)
    else:
        pairs = "not declared (params.expected)"
    return f"{what}; source: {_source_text(cls)}; layout: {layout}; pairs: {pairs}"


def list_parts() -> list[str]:
    """What ``lmar list`` prints: per registry its names, then one line per part (see the summaries)."""
    from lmar.core.registry import BACKBONES, DATASETS, RESAMPLERS

    lines = []
    for reg in (BACKBONES, RESAMPLERS, DATASETS):
        names = reg.names()
        lines.append(f"{reg.kind}s: {', '.join(names)}")
        width = max(map(len, names), default=0)
        for name in names:
            cls = reg.get(name)
            summary = _dataset_summary(cls) if reg is DATASETS else _part_summary(cls)
            lines.append(f"  {name:<{width}}  {summary}")
    return lines
