"""The command line read from the table of verbs: :func:`build_parser`, :func:`run` (the process's
set-up, then the verb) and :func:`main` (``error: ...`` and status 2 for the user's mistakes).

Importing this module imports every verb module, in the order ``lmar --help`` lists their verbs."""

from __future__ import annotations

import argparse
import sys

# the order `lmar --help` lists the verbs in:
# isort: off
from lmar.cli import data_verbs, train_verbs, results_verbs, enhance_verbs, measure_verbs, parts_verbs  # noqa: F401
# isort: on
from lmar.cli.verb_table import VERBS
from lmar.core.errors import LmarError

DESCRIPTION = "python -m lmar <verb> (or lmar <verb>): every Snakemake rule calls one verb."


def build_parser() -> argparse.ArgumentParser:
    """The parser of every verb of :data:`VERBS`."""
    ap = argparse.ArgumentParser(prog="lmar", description=DESCRIPTION)
    sub = ap.add_subparsers(dest="verb", required=True, metavar="VERB")
    for v in VERBS.values():
        p = sub.add_parser(v.name, help=v.help)
        for names, options in v.flags:
            p.add_argument(*names, **options)
    return ap


def run(args: argparse.Namespace) -> int:
    """Run the verb ``args.verb`` after setting up the process (seed, threads); its exit status. A verb
    with neither flag (the report verbs) sets up logging only: PyTorch is imported by what needs it."""
    seed, threads = getattr(args, "seed", None), getattr(args, "threads", None)
    if seed is None and threads is None:
        from lmar.core.logs import log_to_stderr

        log_to_stderr()
    else:
        from lmar.core import runtime

        runtime.setup(seed, threads)
    status = VERBS[args.verb].run(args)
    return 0 if status is None else status


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except LmarError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
