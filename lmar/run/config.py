"""Checks of an experiment config beyond its JSON schema, run when the workflow is planned.

Every part must resolve (a registered name, or a trusted ``module:Class`` of the right base),
its ``params`` must bind to its constructor's declaration and its ``train`` block to its recipe
(:mod:`lmar.core.params`), and it must construct: so ``snakemake -n`` refuses a bad entry, naming its
config key, before any job runs. Config files are trusted like a Snakefile: the modules they name
are imported here.
"""

from __future__ import annotations

import reprlib
from pathlib import Path

import torch
import yaml

from lmar.core.atomic import atomic_path
from lmar.core.errors import LmarError
from lmar.core.params import bind_recipe, import_names
from lmar.core.paths import path_component
from lmar.core.provenance import config_hash
from lmar.core.registry import BACKBONES, DATASETS, RESAMPLERS, Registry
from lmar.parts.lmar.released import check_released_params, released_file
from lmar.run.job_resources import check_config_memory, check_part_memory
from lmar.run.targets import Target, parse_targets

SECTIONS: tuple[tuple[str, Registry], ...] = (
    ("datasets", DATASETS), ("backbones", BACKBONES), ("resamplers", RESAMPLERS),
)


# The plan-time probe of a resampler: a small random image and a target that is neither square nor
# a simple fraction of it, so that a part ignoring the size or the aspect ratio fails here.
PROBE_INPUT = (1, 3, 24, 36)
PROBE_TARGET = (10, 15)


def _construct(section: str, cls: type, params: dict, where: str) -> None:
    """Build the part once, so that checks in its constructor speak at plan time too. Backbones are
    built on PyTorch's "meta" device (shapes only, no memory, no weights initialised); resamplers are
    small and are built for real and called once on a probe input (:func:`_probe`)."""
    try:
        if section == "backbones":
            with torch.device("meta"):
                cls(**params)
            return
        part = cls(**params)
    except LmarError as exc:
        raise LmarError(f"{where}.params: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise LmarError(f"{where}.params: {type(exc).__name__}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - a part's own constructor failing: named against its config key
        first = (str(exc).strip().splitlines() or [""])[0]
        raise LmarError(f"{where}: building {cls.__name__} failed: {type(exc).__name__}: {first}") from None
    if section == "resamplers":
        _probe(part, where)


def _probe(resampler, where: str) -> None:
    """Call ``resampler`` on a PROBE_INPUT image for PROBE_TARGET: its output contract (size, dtype,
    device; :func:`lmar.parts.resampler_base.check_output`) is checked before any job runs."""
    if resampler.is_identity:
        return
    x = torch.rand(*PROBE_INPUT, generator=torch.Generator().manual_seed(0))
    what = f"{where}: a probe call on a {'x'.join(map(str, PROBE_INPUT))} input for {PROBE_TARGET[0]}x{PROBE_TARGET[1]}"
    try:
        with torch.no_grad():
            y = resampler.eval()(x, PROBE_TARGET)
        if not bool(torch.isfinite(y).all()):
            raise LmarError("its output holds values that are not finite (NaN or inf)")
    except LmarError as exc:
        raise LmarError(f"{what}: {exc}") from None
    except Exception as exc:  # a plugin's own failure, reported with the config key that names it
        raise LmarError(f"{what} failed: {type(exc).__name__}: {exc}") from None


def _deep_merged(base: dict, changes: dict) -> dict:
    """``changes`` over ``base``: mappings merged key by key at every depth, other values replaced."""
    out = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            out[key] = _deep_merged(base[key], value)
        else:
            out[key] = value
    return out


def apply_extends(config: dict, files) -> dict:
    """``config`` (as Snakemake merged it from ``files``) over the file its ``extends:`` names, a
    path relative to the config file that holds the key; that file may extend another. A missing
    file, a file that is not a YAML mapping, or a cycle is an LmarError naming the path."""
    if "extends" not in config:
        return config
    if not isinstance(config["extends"], str) or not config["extends"]:
        raise LmarError(f"config key extends must be the path of another config file (a string), "
                        f"got {config['extends']!r}")
    holder = [Path(f) for f in files if "extends" in _read_yaml(Path(f), "config file")]
    here = holder[-1].parent if holder else Path(".")
    changes, seen = {k: v for k, v in config.items() if k != "extends"}, []
    target = config["extends"]
    while target is not None:
        if not isinstance(target, str) or not target:
            raise LmarError(f"config key extends in {seen[-1]} must be the path of another config file (a string), "
                            f"got {target!r}")
        path = (here / target).resolve()
        if path in seen:
            raise LmarError(f"config key extends: the files extend each other in a cycle: {' -> '.join(map(str, [*seen, path]))}")
        seen.append(path)
        base = _read_yaml(path, f"config key extends ({target!r})")
        changes = _deep_merged({k: v for k, v in base.items() if k != "extends"}, changes)
        target, here = base.get("extends"), path.parent
    return changes


def schema_error(config: dict, schema_file: str | Path, report: str, log: str | Path) -> str:
    """One line for a config the schema refused: the first failing key (jsonschema's best match)
    and what is wrong there; the schema's full report (which quotes the whole schema) goes to
    ``log``, named in the line."""
    import jsonschema

    schema = yaml.safe_load(Path(schema_file).read_text())
    err = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(config))
    log = Path(log)
    with atomic_path(log) as tmp:
        tmp.write_text(report)
    if err is None:  # the schema passed here: give Snakemake's own report's first line
        return f"config error: {(report.strip().splitlines() or ['?'])[0][:300]} (full report: {log})"
    key = ".".join(str(p) for p in err.absolute_path)
    what = err.message
    path = list(err.absolute_path)
    if (err.validator in ("anyOf", "oneOf") and isinstance(err.instance, dict) and len(path) == 2
            and path[0] in dict(SECTIONS) and not {"type", "base"} & set(err.instance)):
        what = "needs a 'type' (a registered name or module:Class) or a 'base' (another entry it changes)"
    elif len(what) > 300 and repr(err.instance) in what:  # keep what is wrong, shorten the value quoted
        what = what.replace(repr(err.instance), reprlib.repr(err.instance))
    if err.validator == "pattern" and isinstance(err.schema, dict) and err.schema.get("description"):
        what = f"{err.instance!r} is not allowed here: {err.schema['description']}"
    where = f"config key {key}" if key else "config"
    return f"config error: {where}: {what[:300]} (full report: {log})"


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (YAML keeps the last silently:
    a second ``resamplers:`` block would drop every entry of the first)."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                continue  # the base class names an unhashable key
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice (first on line {seen[key] + 1})", key_node.start_mark)
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


def check_config_files(files) -> None:
    """Each config file read as YAML with duplicate keys refused: an LmarError naming the file, line
    and key (Snakemake's own reading says neither, and keeps the last of two keys)."""
    for f in files:
        _read_yaml(Path(f), "config file")


def _read_yaml(path: Path, what: str) -> dict:
    try:
        data = yaml.load(path.read_text(), Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except OSError as exc:
        raise LmarError(f"{what}: cannot read {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" line {mark.line + 1}, column {mark.column + 1}:" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise LmarError(f"{what}: {path} is not valid YAML:{at} {problem}; fix it there") from None
    if not isinstance(data, dict):
        raise LmarError(f"{what}: {path} must hold a mapping of config keys")
    return data


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
        check_released_params(cls, params, f"{where}.params")
        if "train" in spec:
            raise LmarError(f"{where}: 'weights' replaces training; remove the train block")
    if "train" in spec:
        recipe = getattr(cls, "train_recipe", None)
        if recipe is None:
            raise LmarError(f"{where}.train: {spec['type']!r} has nothing to train; remove the train block")
        bind_recipe(recipe, spec["train"], f"{where}.train")
    if section != "datasets":  # its parameters sized on the meta device before it is built for real
        check_part_memory(section[:-1], spec, where)
    _construct(section, cls, params, where)


def check_parts(config: dict) -> list[Target]:
    """Raise LmarError naming the config key of the first unknown or misconfigured part, or of a
    name that cannot be a folder (the experiment's, a part's: :mod:`lmar.core.paths`). Returns the
    evaluation's targets, parsed once here for the whole plan (the workflow carries them)."""
    if "experiment" in config:  # required by the schema; a partial config (a test's, a tool's) may omit it
        path_component(config["experiment"], "config key experiment")
    for section, registry in SECTIONS:
        entries = config.get(section) or {}
        if not entries:
            raise LmarError(f"config key {section!r} is empty: name at least one entry")
        for name, spec in entries.items():
            path_component(name, f"config key {section}: the entry name {name!r}", part=True)
            check_entry(section, registry, name, spec)
            check_only(config, section, name, spec)
    targets = parse_targets(config.get("evaluation") or {"scales": [2]})
    check_config_memory(config, targets)  # every part at its planned sizes, under LMAR_MAX_PART_BYTES
    check_targets_fit(config, targets)
    return targets


def check_targets_fit(config: dict, targets: list[Target]) -> None:
    """For a dataset whose frame size is known at plan time (``exact_shape``, e.g. ``mini``): every
    target at least the smallest input of every backbone, and not larger than the frame (what
    each evaluation job would refuse, after the resamplers trained)."""
    from lmar.run.pipeline import check_target

    for dname, dspec in (config.get("datasets") or {}).items():
        dataset = DATASETS.build(dspec, f"config key datasets.{dname}")
        if not getattr(dataset, "exact_shape", False):
            continue
        hw = tuple(dataset.plan_shape()[:2])
        for bname, bspec in (config.get("backbones") or {}).items():
            cls, params = BACKBONES.resolve(bspec, f"config key backbones.{bname}")
            with torch.device("meta"):
                backbone = cls(**params)
            for t in targets:
                what = f"config key {t.where or 'evaluation'} ({t.label}) on datasets.{dname}, backbones.{bname}"
                check_target(t.resolve(hw), hw, backbone, what, by_scale=t.scale is not None)


def row_labels(config: dict, dataset: str, backbone: str, resampler: str, seed: int | str) -> dict:
    """The labels that every row of one evaluation carries, made here only (the evaluate rule passes
    them to ``lmar evaluate --labels``, which adds the seed it runs with): the config's names of its
    dataset, backbone and resampler, the dataset's type, and the hash of every config slice the
    evaluation depends on (those three entries, ``only:`` left out, the evaluation block and the seed)."""
    return {
        "dataset": dataset, "dataset_type": config["datasets"][dataset]["type"], "backbone": backbone,
        "resampler": resampler,
        "config_hash": config_hash({
            "dataset": config["datasets"][dataset],
            "backbone": config["backbones"][backbone],
            "resampler": {k: v for k, v in config["resamplers"][resampler].items() if k != "only"},
            "evaluation": config["evaluation"],
            "seed": int(seed),
        }),
    }


def seeds(config: dict) -> list[int]:
    """The run's seeds: ``seeds: [...]``, else the single ``seed``."""
    return list(config.get("seeds") or [config.get("seed", 0)])


# What a resampler's `only:` may restrict, and where each choice's names come from.
ONLY_AXES = ("datasets", "backbones", "seeds")


def _axis(config: dict, axis: str) -> list:
    return seeds(config) if axis == "seeds" else list(config.get(axis) or {})


def check_only(config: dict, section: str, name: str, spec: dict) -> None:
    """A resampler's ``only: {datasets, backbones, seeds}`` must name entries of the run."""
    only = spec.get("only") if isinstance(spec, dict) else None
    if only is None:
        return
    where = f"config key {section}.{name}.only"
    if section != "resamplers":
        raise LmarError(f"{where}: only resamplers can be restricted; remove it")
    for axis, chosen in only.items():
        if axis not in ONLY_AXES:
            raise LmarError(f"{where}: unknown key {axis!r}; known: {', '.join(ONLY_AXES)}")
        known = _axis(config, axis)
        unknown = [c for c in chosen if c not in known]
        if unknown:
            raise LmarError(f"{where}.{axis}: {unknown} not in this run's {axis} ({', '.join(map(str, known))})")


def grid(config: dict) -> list[tuple[str, str, int, str]]:
    """Every evaluation of the run as (dataset, backbone, seed, resampler): each resampler on every
    dataset, backbone and seed, or on those its ``only:`` lists."""
    out = []
    for name, spec in config["resamplers"].items():
        only = spec.get("only") or {}
        chosen = {axis: only.get(axis, _axis(config, axis)) for axis in ONLY_AXES}
        out += [(d, b, s, name) for d in _axis(config, "datasets") if d in chosen["datasets"]
                for b in _axis(config, "backbones") if b in chosen["backbones"]
                for s in seeds(config) if s in chosen["seeds"]]
    return out


def trusted_modules(config: dict) -> list[str]:
    """The code a config names (parts' ``module:Class`` types and parameters that name code), each
    ``module:Class`` exactly: checkpoints made by this config's jobs may name them too, and nothing
    else of their modules."""
    found = set()
    for section, registry in SECTIONS:
        for spec in (config.get(section) or {}).values():
            names = [spec["type"]] if ":" in spec["type"] else []
            names += import_names(registry.get(spec["type"]), spec.get("params") or {}).values()
            found.update(names)
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
