"""Checks of an experiment config beyond its JSON schema, run when the workflow is planned.

Every part must resolve (a registered name, or a trusted ``module:Class`` of the right base),
its ``params`` must bind to its constructor's declaration and its ``train`` block to its recipe
(:mod:`lmar.params`), and it must construct: so ``snakemake -n`` refuses a bad entry, naming its
config key, before any job runs. Config files are trusted like a Snakefile: the modules they name
are imported here.
"""

from __future__ import annotations

import torch

from lmar.errors import LmarError
from lmar.params import bind_recipe, import_names
from lmar.registry import BACKBONES, DATASETS, RESAMPLERS, Registry
from lmar.released import released_file
from lmar.targets import parse_targets

SECTIONS: tuple[tuple[str, Registry], ...] = (
    ("datasets", DATASETS), ("backbones", BACKBONES), ("resamplers", RESAMPLERS),
)


def _construct(section: str, cls: type, params: dict, where: str) -> None:
    """Build the part once, so that checks in its constructor speak at plan time too; networks are
    built on PyTorch's "meta" device (shapes only, no memory, no weights initialised)."""
    try:
        if section == "datasets":
            cls(**params)
        else:
            with torch.device("meta"):
                cls(**params)
    except LmarError as exc:
        raise LmarError(f"{where}.params: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise LmarError(f"{where}.params: {type(exc).__name__}: {exc}") from None


def _merged(parent: dict, child: dict) -> dict:
    """``child``'s keys over ``parent``'s; ``params`` and ``train`` are merged key by key."""
    out = {k: v for k, v in parent.items()}
    for key, value in child.items():
        if key == "base":
            continue
        if key in ("params", "train") and isinstance(value, dict) and isinstance(parent.get(key), dict):
            out[key] = {**parent[key], **value}
        else:
            out[key] = value
    return out


def resolve_bases(config: dict) -> dict:
    """A copy of ``config`` in which every entry with ``base: <name>`` (an entry of the same
    section) is that entry with the given keys changed: ``params`` and ``train`` key by key, other
    keys replaced. Bases may chain; an unknown base or a cycle is an LmarError naming the key."""
    out = dict(config)
    for section, _ in SECTIONS:
        entries = config.get(section) or {}
        done: dict[str, dict] = {}

        def resolve(name: str, chain: tuple[str, ...]) -> dict:
            if name in done:
                return done[name]
            spec = entries[name]
            if not isinstance(spec, dict) or "base" not in spec:
                done[name] = spec
                return spec
            base = spec["base"]
            where = f"config key {section}.{name}.base"
            if base not in entries:
                raise LmarError(f"{where}: no entry {base!r} in {section}; known: {', '.join(entries)}")
            if base in chain:
                raise LmarError(f"{where}: the bases form a cycle: {' -> '.join((*chain, name, base))}")
            done[name] = _merged(resolve(base, (*chain, name)), spec)
            return done[name]

        if entries:
            out[section] = {name: resolve(name, ()) for name in entries}
    return out


def check_entry(section: str, registry: Registry, name: str, spec) -> None:
    where = f"config key {section}.{name}"
    if not isinstance(spec, dict) or "type" not in spec:
        raise LmarError(f"{where} needs a 'type' (a registered name or module:Class)")
    cls, params = registry.resolve(spec, where)
    if "weights" in spec:
        if section == "datasets":
            raise LmarError(f"{where}.weights: a dataset has no weights")
        released_file(cls, f"{where}.weights")
        if "train" in spec:
            raise LmarError(f"{where}: 'weights' replaces training; remove the train block")
    if "train" in spec:
        recipe = getattr(cls, "train_recipe", None)
        if recipe is None:
            raise LmarError(f"{where}.train: {spec['type']!r} has nothing to train; remove the train block")
        bind_recipe(recipe, spec["train"], f"{where}.train")
    _construct(section, cls, params, where)


def check_parts(config: dict) -> None:
    """Raise LmarError naming the config key of the first unknown or misconfigured part."""
    for section, registry in SECTIONS:
        entries = config.get(section) or {}
        if not entries:
            raise LmarError(f"config key {section!r} is empty: name at least one entry")
        for name, spec in entries.items():
            check_entry(section, registry, name, spec)
    parse_targets(config.get("evaluation") or {"scales": [2]})


def trusted_modules(config: dict) -> list[str]:
    """The modules a config names (parts' ``module:Class`` types and parameters that name code):
    checkpoints made by this config's jobs may name them too."""
    found = set()
    for section, registry in SECTIONS:
        for spec in (config.get(section) or {}).values():
            names = [spec["type"]] if ":" in spec["type"] else []
            names += import_names(registry.get(spec["type"]), spec.get("params") or {}).values()
            found.update(n.partition(":")[0] for n in names)
    return sorted(found)


def released_path(config: dict, section: str, name: str) -> str | None:
    """The released file an entry's ``weights`` names: ``authors`` -> ``weights.authors_dir``/<file>,
    else the path given; None when the entry is trained."""
    spec = config[section][name]
    weights = spec.get("weights")
    if not weights:
        return None
    if weights != "authors":
        return weights
    cls = dict(SECTIONS)[section].get(spec["type"])
    return f"{config['weights']['authors_dir']}/{released_file(cls, section + '.' + name)}"


def trainable(spec: dict, where: str = "") -> bool:
    return bool(getattr(RESAMPLERS.get(spec["type"], where), "trainable", False))


def needs_download(spec: dict) -> bool:
    """A published dataset with a source (manual ones included: their step says what to do),
    unless the user points ``params.local_path`` at data they already have."""
    cls = DATASETS.get(spec["type"])
    return bool(getattr(cls, "source", None)) and not (spec.get("params") or {}).get("local_path")
