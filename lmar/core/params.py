"""Parts own their parameters: a declaration, and the check that binds a config entry to it.

A part (backbone, resampler, dataset) declares its parameters by its constructor's signature:
names, defaults and type hints, with ranges and choices in the hints::

    def __init__(self, hidden: PositiveInt = 128, fused: Literal["auto", "never", "always"] = "auto"): ...

A training recipe is a dataclass declared the same way (:mod:`lmar.parts.recipes`). :func:`bind_params`
and :func:`bind_recipe` check a config entry against the declaration (unknown keys, types, ranges,
choices, required keys) and raise one :class:`LmarError` naming the config key, so that
``snakemake -n`` refuses a bad entry before any job runs. A parameter whose hint is not given is
accepted as it is (a user's own part may skip the hints); ``**kwargs`` accepts any key.

A parameter that names code to import (``"module:Class"``) is hinted :data:`ImportName`: the
trust rule of :mod:`lmar.core.registry` applies to it as to a part's ``type``.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import math
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints

from lmar.core.errors import LmarError


@dataclass(frozen=True)
class Range:
    """Bounds of a number; ``open_min``/``open_max`` exclude the bound itself."""

    min: float | None = None
    max: float | None = None
    open_min: bool = False
    open_max: bool = False

    def __str__(self) -> str:
        parts = []
        if self.min is not None:
            parts.append(f"{'>' if self.open_min else '>='} {self.min:g}")
        if self.max is not None:
            parts.append(f"{'<' if self.open_max else '<='} {self.max:g}")
        return " and ".join(parts)

    def ok(self, v) -> bool:
        if self.min is not None and (v <= self.min if self.open_min else v < self.min):
            return False
        return not (self.max is not None and (v >= self.max if self.open_max else v > self.max))


@dataclass(frozen=True)
class Check:
    """Any other condition on a value: ``test(value)`` is true when it holds."""

    test: Callable[[Any], bool]
    description: str

    def __str__(self) -> str:
        return self.description

    def ok(self, v) -> bool:
        return bool(self.test(v))


@dataclass(frozen=True)
class _ImportMarker:
    def __str__(self) -> str:
        return "of the form 'module:Class'"

    def ok(self, v) -> bool:
        mod, sep, attr = v.partition(":")
        return bool(sep) and all(p.isidentifier() for p in mod.split(".")) and attr.isidentifier()


IMPORT = _ImportMarker()
PositiveInt = Annotated[int, Range(1)]
NonNegativeInt = Annotated[int, Range(0)]
PositiveFloat = Annotated[float, Range(0, open_min=True)]
NonNegativeFloat = Annotated[float, Range(0)]
ImportName = Annotated[str, IMPORT]  # "module:Class": imported only from a trusted source
_META = (Range, Check, _ImportMarker)


def describe(hint) -> str:
    """What a value of type ``hint`` looks like, for error messages."""
    origin, args = get_origin(hint), get_args(hint)
    if origin is Annotated:
        base, *meta = args
        extra = [str(m) for m in meta if isinstance(m, _META)]
        return " ".join([describe(base), *extra])
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (Union, types.UnionType):
        return " or ".join(describe(a) for a in args)
    if hint is type(None):
        return "null"
    if origin in (list, tuple, Sequence) or hint in (list, tuple):
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(set(args)) == 1:
                return f"a list of {len(args)} items, each {describe(args[0])}"
            return "a list [" + ", ".join(describe(a) for a in args) + "]"
        return f"a list, each item {describe(args[0])}," if args else "a list"
    if origin is dict or hint is dict:
        return "a mapping"
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))


def conforms(hint, v) -> bool:
    """Whether ``v`` (a value parsed from YAML/JSON) is of type ``hint``."""
    if hint is Any or hint is inspect.Parameter.empty:
        return True
    origin, args = get_origin(hint), get_args(hint)
    if origin is Annotated:
        base, *meta = args
        return conforms(base, v) and all(m.ok(v) for m in meta if isinstance(m, _META))
    if origin is Literal:
        return any(v == a and type(v) is type(a) for a in args)  # True is not 1
    if origin in (Union, types.UnionType):
        return any(conforms(a, v) for a in args)
    if hint is type(None):
        return v is None
    if hint is bool:
        return isinstance(v, bool)
    if hint is int:
        return isinstance(v, int) and not isinstance(v, bool)
    if hint is float:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    if hint is str:
        return isinstance(v, str)
    if origin in (list, tuple, Sequence) or hint in (list, tuple):
        if not isinstance(v, (list, tuple)):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(v) == len(args) and all(conforms(a, x) for a, x in zip(args, v))
        return all(conforms(args[0], x) for x in v) if args else True
    if origin is dict or hint is dict:
        return isinstance(v, dict) and (not args or all(conforms(args[1], x) for x in v.values()))
    return isinstance(v, hint) if isinstance(hint, type) else True


@dataclass(frozen=True)
class Declared:
    name: str
    hint: Any
    default: Any  # inspect.Parameter.empty when required


def _hints(obj) -> dict:
    try:
        return get_type_hints(obj, include_extras=True)
    except Exception:  # a user's part with hints that do not resolve: names and defaults still bind
        return {}


def declaration(obj) -> tuple[dict[str, Declared], bool]:
    """``({name: Declared}, accepts_any_key)`` of a dataclass's fields or a callable's signature
    (a class: its constructor's)."""
    empty = inspect.Parameter.empty
    if dataclasses.is_dataclass(obj):
        hints = _hints(obj)
        out = {}
        for f in dataclasses.fields(obj):
            default = f.default if f.default is not dataclasses.MISSING else empty
            if f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            out[f.name] = Declared(f.name, hints.get(f.name, empty), default)
        return out, False
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return {}, True
    hints = _hints(obj.__init__ if isinstance(obj, type) else obj)
    out, any_key = {}, False
    for p in sig.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            any_key = True
        elif p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            out[p.name] = Declared(p.name, hints.get(p.name, empty), p.default)
    return out, any_key


def _closest(key: str, known) -> str:
    near = difflib.get_close_matches(key, list(known), n=1)
    return f"; did you mean {near[0]!r}?" if near else ""


def bind(obj, given: dict | None, where: str) -> dict:
    """``given`` checked against ``obj``'s declaration; returns every declared value (defaults
    filled in) plus any extra keys a ``**kwargs`` accepts. ``where`` names the config key."""
    given = {} if given is None else given
    if not isinstance(given, dict):
        raise LmarError(f"{where} must be a mapping of names to values, got {given!r}")
    decl, any_key = declaration(obj)
    for key in given:
        if key not in decl and not any_key:
            known = ", ".join(sorted(decl)) or "none"
            raise LmarError(f"{where}: unknown key {key!r}{_closest(key, decl)} Known keys: {known}")
    values = {}
    for name, d in decl.items():
        if name in given:
            if not conforms(d.hint, given[name]):
                raise LmarError(f"{where}.{name} must be {describe(d.hint)}, got {given[name]!r}")
            values[name] = given[name]
        elif d.default is inspect.Parameter.empty:
            raise LmarError(f"{where}.{name} is required ({describe(d.hint)})")
        else:
            values[name] = d.default
    return {**values, **{k: v for k, v in given.items() if k not in decl}}


def bind_params(cls, given: dict | None, where: str) -> dict:
    """A part's ``params`` checked against its constructor; returns only the keys given (the
    constructor keeps its own defaults)."""
    bound = bind(cls, given, where)
    return {k: bound[k] for k in (given or {})}


def bind_recipe(recipe, given: dict | None, where: str) -> dict:
    """A ``train`` block checked against a recipe dataclass, defaults filled in; the recipe's
    ``__post_init__`` may check relations between keys (raising ValueError)."""
    values = bind(recipe, given, where)
    try:
        return dataclasses.asdict(recipe(**values))
    except (ValueError, TypeError) as exc:
        raise LmarError(f"{where}: {exc}") from None


def import_names(cls, params: dict) -> dict[str, str]:
    """``{key: "module:Class"}`` for each parameter of ``cls`` hinted :data:`ImportName`."""
    decl, _ = declaration(cls)
    found = {}
    for key, value in params.items():
        hint = decl[key].hint if key in decl else None
        if get_origin(hint) is Annotated and IMPORT in get_args(hint)[1:]:
            found[key] = value
    return found
