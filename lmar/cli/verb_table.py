"""The table of verbs (:data:`VERBS`) and what a verb is declared with: :func:`verb` registers a
function with its name, help and flags; :func:`flag` and :func:`spec` are its arguments; the flags and
helpers several verbs share live here too. Nothing here imports torch (``lmar --help`` must not)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# lmar.core.runtime.PRECISIONS, repeated so that --help imports no torch (tested)
PRECISIONS = ("fp32", "tf32", "bf16", "fp16")


def _json(option: str):
    def parse(text: str):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise argparse.ArgumentTypeError(f"{option} must be JSON: {exc}") from None
        if not isinstance(value, dict):
            raise argparse.ArgumentTypeError(f"{option} must be a JSON object")
        return value

    return parse


def flag(*names: str, **options) -> tuple[tuple[str, ...], dict]:
    """One argument of a verb: what ``ArgumentParser.add_argument`` takes."""
    return names, options


def spec(option: str, what: str, required: bool = True) -> tuple[tuple[str, ...], dict]:
    """A config entry given as a JSON object."""
    return flag(option, type=_json(option), required=required, help=what)


# flags several verbs share
DEVICE = (flag("--device", default="auto", help="auto | cpu | cuda[:N] (default: auto)"),
          flag("--threads", type=int, default=None, help="CPU threads for PyTorch"))
SEED = (flag("--seed", type=int, default=0),)
ALLOW = (flag("--allow-module", action="append", default=[], metavar="MODULE:CLASS",
              help="a class (module:Class) that checkpoint specs may name besides registered parts, or a module "
                   "(every class in it); checkpoints are data: code they name is imported only from what is given "
                   "here; repeat for several"),)


@dataclass(frozen=True)
class Verb:
    name: str
    help: str
    flags: tuple
    run: Callable[[argparse.Namespace], int | None]  # the exit status; None is 0


VERBS: dict[str, Verb] = {}
"""Every verb, by name, in the order ``lmar --help`` lists them (the order the verb modules are
imported in, by :mod:`lmar.cli.parser`, and each module's own order)."""


def verb(name: str, help: str, *flags):
    """Register the decorated function as verb ``name`` with its ``help`` and ``flags`` (:func:`flag`,
    or a tuple of them)."""
    flat = tuple(f for item in flags for f in ((item,) if isinstance(item[-1], dict) else item))

    def register(fn: Callable[[argparse.Namespace], int | None]):
        if name in VERBS:
            raise ValueError(f"verb {name!r} is defined twice")
        VERBS[name] = Verb(name, help, flat, fn)
        return fn

    return register


def device_of(args):
    """The torch device of ``--device`` (:data:`DEVICE`)."""
    from lmar.core.runtime import resolve_device

    return resolve_device(args.device)


def shared_folder(paths) -> Path:
    """The deepest folder holding every one of ``paths`` (their labels are the rest of each path)."""
    import os

    return Path(os.path.commonpath([str(Path(p).parent) for p in paths])) if paths else Path(".")
