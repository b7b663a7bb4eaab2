"""The CLI's argument parser stays light: ``lmar --help`` imports no torch."""

from __future__ import annotations

import subprocess
import sys

from helpers import ROOT


def test_parser_imports_no_torch():
    code = "import sys, lmar.cli; lmar.cli.build_parser(); print('torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "False"


def test_cli_precisions_are_the_runtime_ones():
    from lmar import cli
    from lmar.core import runtime

    assert cli.PRECISIONS == runtime.PRECISIONS


def test_every_verb_the_workflow_calls_is_in_the_table_and_every_verb_is_called_or_documented():
    """The rules, the Makefile and the GPU scripts call verbs of ``lmar.cli.VERBS`` only; a verb no
    rule calls is one a user types, shown in the README."""
    import re

    from lmar import cli

    root = ROOT
    files = [root / "Snakefile", root / "Makefile", *sorted((root / "workflow").rglob("*.smk")),
             *sorted((root / "workflow" / "scripts").glob("*.sh"))]
    called = {m for f in files for m in re.findall(r"-m lmar ([a-z][a-z-]*)", f.read_text())}
    assert called and called <= set(cli.VERBS), sorted(called - set(cli.VERBS))
    readme = (root / "README.md").read_text()
    for name in set(cli.VERBS) - called:
        assert f"lmar {name}" in readme, f"verb {name} is neither called by the workflow nor shown in the README"


def test_each_verb_is_one_function_that_the_parser_and_run_share(monkeypatch):
    from lmar import cli

    seen = []
    monkeypatch.setitem(cli.VERBS, "list", cli.Verb("list", "h", (), lambda args: seen.append(args.verb) or 7))
    assert cli.main(["list"]) == 7 and seen == ["list"]
    sub = next(a for a in cli.build_parser()._actions if a.dest == "verb")
    assert list(sub.choices) == list(cli.VERBS)
