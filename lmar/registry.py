"""Registries of parts (backbones, resamplers, datasets, metrics).

A config entry names a registered part by its ``type`` or, for a user's own part,
``module:Class`` (anything importable), plus ``params`` passed to its constructor.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from lmar.errors import LmarError


class Registry:
    def __init__(self, kind: str, home: str):
        self.kind = kind
        self.home = home  # module(s) that register the built-in parts, imported lazily
        self._parts: dict[str, Any] = {}

    def register(self, name: str) -> Callable[[Any], Any]:
        def deco(obj: Any) -> Any:
            if name in self._parts:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._parts[name] = obj
            obj.registry_name = name
            return obj

        return deco

    def names(self) -> list[str]:
        self._load_builtin()
        return sorted(self._parts)

    def _load_builtin(self) -> None:
        for mod in self.home.split(","):
            importlib.import_module(mod)

    def get(self, type_name: str, where: str = "") -> Any:
        """The class registered as ``type_name`` or importable as ``module:Class``."""
        where = f" (config key {where})" if where else ""
        if not isinstance(type_name, str) or not type_name:
            raise LmarError(f"{self.kind} type must be a non-empty string{where}, got {type_name!r}")
        if ":" in type_name:
            mod_name, _, attr = type_name.partition(":")
            try:
                mod = importlib.import_module(mod_name)
            except ImportError as exc:
                raise LmarError(
                    f"cannot import module {mod_name!r} for {self.kind} {type_name!r}{where}: {exc}. "
                    "Check the name and that the module is on PYTHONPATH."
                ) from exc
            if not hasattr(mod, attr):
                raise LmarError(f"module {mod_name!r} has no {attr!r} for {self.kind} {type_name!r}{where}")
            return getattr(mod, attr)
        self._load_builtin()
        if type_name not in self._parts:
            raise LmarError(
                f"unknown {self.kind} {type_name!r}{where}. Known: {', '.join(self.names())}; "
                "or give 'module:Class' for your own."
            )
        return self._parts[type_name]

    def build(self, spec: dict, where: str = "") -> Any:
        """Instantiate ``spec = {type: ..., params: {...}}``."""
        cls = self.get(spec.get("type"), where)
        params = dict(spec.get("params") or {})
        try:
            return cls(**params)
        except TypeError as exc:
            raise LmarError(f"bad params for {self.kind} {spec.get('type')!r}{where}: {exc}") from exc


BACKBONES = Registry("backbone", "lmar.backbones")
RESAMPLERS = Registry("resampler", "lmar.resampler,baselines")
DATASETS = Registry("dataset", "lmar.data.mini,lmar.data.published")
