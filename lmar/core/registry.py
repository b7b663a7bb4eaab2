"""Registries of parts (backbones, resamplers, datasets).

Built-in parts register themselves: a registry imports every module of its home packages
(``baselines/``, ``lmar/parts/backbones/``) and the modules of installed plugins (entry point group
``lmar.parts``) the first time it is asked for a name.

A config entry names a registered part by its ``type`` or, for a user's own part,
``module:Class``, plus ``params`` passed to its constructor (checked against its declaration,
:mod:`lmar.core.params`). A ``module:Class`` must be a class derived from the registry's base
(:class:`~lmar.parts.resampler_base.Resampler`, :class:`~lmar.parts.backbones.base.Backbone`,
:class:`~lmar.data.base.Dataset`).

What may be imported (the trust rule): config files are trusted like a Snakefile, so a
``module:Class`` they name is imported. A spec read from data (a checkpoint) is not: it may name
registered parts, classes of this project's part folders (``PART_HOMES``), or code that the user names in a
trusted place (``allow``: the classes the current config names, or ``--allow-module``); anything else
is refused before it is imported. A third-party class whose constructor loads files by default is
refused from data even where allowed (the checkpoint could not turn that load off). The same holds for parameters that name code (``ImportName``).

A spec read from data is checked at every depth of its params, not only at the top
(:func:`check_data_params`): only plain values (strings, numbers, booleans, null, lists and
mappings with string keys); no string holding "/", "\\" or ":" (no path, no URL, no code name),
except a top-level ``ImportName`` parameter, which the trust rule checks; no key that makes
third-party code load a file (``pretrained_model_path``, ``weights``, ``url`` ...). While a part
is built from such a spec, every import that any constructor asks for, at any depth (a wrapped
network inside a wrapped network), is held to the same allow-list (:func:`untrusted`).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import pkgutil
import re
import sys
from collections.abc import Callable, Collection, Iterator
from contextvars import ContextVar
from typing import Any

from lmar.core.errors import LmarError
from lmar.core.params import bind_params, import_names

PART_HOMES = ("lmar.parts", "baselines")  # where its parts live: what data may name without permission


# the allow-list of the untrusted spec being built, if any: imports asked for while it is built
# (by any constructor, at any depth) are held to it even where the caller passes no ``allow``
_BUILDING_UNTRUSTED: ContextVar[tuple[str, ...] | None] = ContextVar("lmar_building_untrusted", default=None)


@contextlib.contextmanager
def untrusted(allow: Collection[str]) -> Iterator[None]:
    """Within: every import by name follows the trust rule with ``allow``, whatever its caller says."""
    token = _BUILDING_UNTRUSTED.set(tuple(allow))
    try:
        yield
    finally:
        _BUILDING_UNTRUSTED.reset(token)


def _effective_allow(allow: Collection[str] | None) -> Collection[str] | None:
    building = _BUILDING_UNTRUSTED.get()
    if building is not None:
        allow = building if allow is None else [a for a in allow if a in building]
    return allow


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def name_allowed(name: str, allow: Collection[str] | None) -> bool:
    """Whether code ``name`` ("module:Class") may be imported: ``allow=None`` is a trusted source (a
    config). Else ``name`` must live in PART_HOMES, or be named exactly by an ``allow`` entry
    "module:Class", or lie inside an entry that names a whole module; and no part of its module
    path may begin with "_" (``lmar.__main__`` runs the CLI when imported). While an untrusted spec
    is built (:func:`untrusted`), its allow-list applies to every import."""
    allow = _effective_allow(allow)
    if allow is None:
        return True
    module = name.partition(":")[0]
    if any(part.startswith("_") for part in module.split(".")):
        return False
    return (any(_inside(module, home) for home in PART_HOMES)
            or any(name == a if ":" in a else _inside(module, a) for a in allow))


def check_import(name: str, what: str, where: str, allow: Collection[str] | None) -> tuple[str, str]:
    """``(module, attribute)`` of ``name`` = "module:attr", refused unless the trust rule allows it."""
    mod, _, attr = name.partition(":")
    if not name_allowed(name, allow):
        raise LmarError(
            f"{where} names {what} {name!r}, which is not trusted: a checkpoint is data and may name only "
            f"registered parts. If you trust it, name it in your config or pass --allow-module {name}"
        )
    return mod, attr


def import_object(name: str, what: str, where: str, allow: Collection[str] | None = None) -> Any:
    """The object ``module:attr`` after the trust check; for data (``allow`` given, or while an
    untrusted spec is built), a class from outside PART_HOMES is refused where its constructor would
    load a file by default (a parameter named like FILE_KEYS with a default other than None/False/""):
    a checkpoint cannot set such keys, so that default would be what it asks for."""
    mod_name, attr = check_import(name, what, where, allow)
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as exc:
        raise LmarError(
            f"{where}: cannot import module {mod_name!r} for {what} {name!r}: {exc}. "
            "Check the name and that the module is on PYTHONPATH."
        ) from None
    except Exception as exc:  # noqa: BLE001 - the module itself fails (a syntax error, an error at import)
        raise LmarError(f"{where}: module {mod_name!r} for {what} {name!r} fails to import: {_cause(exc)}. "
                        "Fix the module") from None
    if not hasattr(mod, attr):
        raise LmarError(f"{where}: module {mod_name!r} has no {attr!r} for {what} {name!r}")
    obj = getattr(mod, attr)
    if _effective_allow(allow) is not None and not any(_inside(mod_name, home) for home in PART_HOMES):
        loads = _loads_files_by_default(obj)
        if loads:
            raise LmarError(f"{where} names {what} {name!r}, whose constructor loads files by default ({loads}); "
                            "a checkpoint cannot say otherwise. Name it in your config, with those parameters set, "
                            "and build it from there")
    return obj


def _loads_files_by_default(obj: Any) -> str:
    """The file-loading parameters of ``obj``'s constructor with a default that asks for a load."""
    try:
        params = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return ""

    def asks(default: Any) -> bool:
        return not (default is inspect.Parameter.empty or default is None or default is False
                    or (isinstance(default, str) and not default))

    return ", ".join(f"{p.name}={p.default!r}" for p in params if FILE_KEYS.search(p.name) and asks(p.default))


# keys that make third-party constructors read a file or a URL (pyiqa, timm, torchvision ...)
FILE_KEYS = re.compile(r"pretrained|weights?$|path|url|uri$|file|ckpt|checkpoint", re.IGNORECASE)
FORBIDDEN_CHARS = ("/", "\\", ":")


def _check_data_value(value: Any, where: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _check_data_key(key, where)
            _check_data_value(item, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_data_value(item, f"{where}[{i}]")
    elif isinstance(value, str):
        bad = [c for c in FORBIDDEN_CHARS if c in value]
        if bad:
            raise LmarError(f"{where} is {value[:80]!r}: a string read from a checkpoint may not hold "
                            f"{' or '.join(repr(c) for c in bad)} (no path, URL or code name). Name the code "
                            "or file in your config instead")
    elif not (value is None or isinstance(value, (bool, int, float))):
        raise LmarError(f"{where} holds a {type(value).__name__}: a checkpoint's params may hold only "
                        "strings, numbers, booleans, null, lists and mappings")


def _check_data_key(key: Any, where: str) -> None:
    if not isinstance(key, str):
        raise LmarError(f"{where} has a key {key!r} that is not a string: this checkpoint is not one of ours")
    if FILE_KEYS.search(key):
        raise LmarError(f"{where}.{key}: a checkpoint may not give a file, weights or URL to load "
                        f"({key!r} is refused); give such files in your config instead")


def check_data_params(params: dict, where: str, code_keys: Collection[str] = ()) -> None:
    """Refuse, at any depth, what a spec read from data must not hand to a constructor (see the
    module's docstring); ``code_keys``: top-level keys hinted ``ImportName``, whose values the
    trust rule checks instead. ``where`` names the key, e.g. "backbone checkpoint b.pt: spec.params"."""
    for key, value in params.items():
        _check_data_key(key, where)
        if key not in code_keys:
            _check_data_value(value, f"{where}.{key}")


ENTRY_POINTS = "lmar.parts"  # installed plugins: each entry point names a module that registers parts


_ALL: list[Registry] = []  # every registry made (a failed import is undone in each)
BROKEN: dict[str, str] = {}  # part files skipped because they failed to import: file -> cause


def _cause(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg} (line {exc.lineno})"
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}"


def _import_part_file(module: str) -> None:
    """Import one part file; one that fails (a syntax error, a missing dependency, a name another
    file registered) is skipped with a one-line warning naming it, and what it registered before
    failing is undone, so that one broken file does not break every verb."""
    before = [(reg, dict(reg._parts)) for reg in _ALL]
    try:
        importlib.import_module(module)
    except Exception as exc:
        for reg, parts in before:
            reg._parts = parts
        spec = importlib.util.find_spec(module)
        path = spec.origin if spec is not None and spec.origin else module
        BROKEN[path] = _cause(exc)
        print(f"warning: skipped part file {path}: {BROKEN[path]}", file=sys.stderr)


def _import_home(name: str) -> None:
    """Import module ``name``; for a package, every module in its folder too (a file dropped into
    ``baselines/`` or ``lmar/parts/backbones/`` registers itself)."""
    mod = importlib.import_module(name)
    for info in pkgutil.iter_modules(getattr(mod, "__path__", [])):
        _import_part_file(f"{name}.{info.name}")


def _import_plugins() -> None:
    """Import the modules of installed plugins (entry point group ``lmar.parts``): installed code is
    trusted like the modules a config names."""
    for ep in importlib.metadata.entry_points(group=ENTRY_POINTS):
        try:
            ep.load()
        except Exception as exc:  # a broken plugin names itself instead of breaking every run
            raise LmarError(f"plugin {ep.name!r} ({ep.value}, entry point group {ENTRY_POINTS}) failed to load: "
                            f"{type(exc).__name__}: {exc}") from None


class Registry:
    def __init__(self, kind: str, home: str, base: str):
        self.kind = kind
        self.home = home  # modules or packages that register the built-in parts, imported lazily
        self.base = base  # "module:Class" that every part derives from (imported lazily)
        self._parts: dict[str, Any] = {}
        self._loaded = False
        _ALL.append(self)

    def register(self, name: str) -> Callable[[Any], Any]:
        def deco(obj: Any) -> Any:
            if name in self._parts:
                first = self._parts[name]
                raise ValueError(f"{self.kind} {name!r} is registered twice: by {first.__module__}.{first.__qualname__}"
                                 f" and by {obj.__module__}.{obj.__qualname__}; rename one")
            self._parts[name] = obj
            obj.registry_name = name
            return obj

        return deco

    def names(self) -> list[str]:
        self._load_builtin()
        return sorted(self._parts)

    def _load_builtin(self) -> None:
        """This registry's home and the project's built-in registries' homes, then the plugins: built-in
        names are taken first, so a plugin cannot take one over (it fails naming itself)."""
        if self._loaded:
            return
        for reg in (self, *BUILTIN):
            if not reg._loaded:
                reg._loaded = True
                for name in reg.home.split(","):
                    _import_home(name)
        _import_plugins()

    def base_class(self) -> type:
        mod, _, attr = self.base.partition(":")
        return getattr(importlib.import_module(mod), attr)

    def get(self, type_name: str, where: str = "", allow: Collection[str] | None = None) -> type:
        """The class registered as ``type_name`` or importable as ``module:Class`` (under the trust
        rule: ``allow=None`` for a trusted source). ``where`` names the key, e.g. "config key
        resamplers.x.type"."""
        where = where or f"{self.kind} type"
        if not isinstance(type_name, str) or not type_name:
            raise LmarError(f"{where}: a {self.kind} type must be a non-empty string, got {type_name!r}")
        if ":" not in type_name:
            self._load_builtin()
            if type_name not in self._parts:
                skipped = "; ".join(f"{path} ({cause})" for path, cause in BROKEN.items())
                raise LmarError(
                    f"{where}: unknown {self.kind} {type_name!r}. Known: {', '.join(self.names())}; "
                    "or give 'module:Class' for your own."
                    + (f" Skipped because they failed to import: {skipped}" if skipped else "")
                )
            return self._parts[type_name]
        cls = import_object(type_name, self.kind, where, allow)
        base = self.base_class()
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise LmarError(
                f"{where}: {type_name!r} is not a {self.kind} class: a {self.kind} must be a class derived from "
                f"{base.__module__}.{base.__qualname__}"
            )
        return cls

    def resolve(self, spec: dict, where: str, allow: Collection[str] | None = None) -> tuple[type, dict]:
        """``(class, params)`` of ``spec = {type, params}``, the params bound to the class's
        declaration and any code they name checked by the trust rule; nothing is built."""
        if not isinstance(spec, dict):
            raise LmarError(f"{where} must be a mapping with a 'type', got {spec!r}")
        cls = self.get(spec.get("type"), f"{where}.type", allow)
        params = bind_params(cls, spec.get("params"), f"{where}.params")
        code = import_names(cls, params)
        if allow is not None:
            check_data_params(params, f"{where}.params", code_keys=code)
        for key, name in code.items():
            check_import(name, "code", f"{where}.params.{key}", allow)
        return cls, params

    def build(self, spec: dict, where: str = "", allow: Collection[str] | None = None) -> Any:
        """Instantiate ``spec = {type: ..., params: {...}}`` (see :meth:`resolve`)."""
        where = where or self.kind
        cls, params = self.resolve(spec, where, allow)
        try:
            with untrusted(allow) if allow is not None else contextlib.nullcontext():
                return cls(**params)
        except (TypeError, ValueError) as exc:
            raise LmarError(f"bad params for {self.kind} {spec.get('type')!r} ({where}.params): {exc}") from None


BACKBONES = Registry("backbone", "lmar.parts.backbones", "lmar.parts.backbones.base:Backbone")
RESAMPLERS = Registry("resampler", "lmar.parts.lmar.resampler,baselines", "lmar.parts.resampler_base:Resampler")
DATASETS = Registry("dataset", "lmar.data.mini,lmar.data.published", "lmar.data.base:Dataset")
BUILTIN = (BACKBONES, RESAMPLERS, DATASETS)  # their homes are imported before any plugin
