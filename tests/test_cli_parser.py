"""The CLI's argument parser stays light: ``lmar --help`` imports no torch."""

from __future__ import annotations

import subprocess
import sys


def test_parser_imports_no_torch():
    code = "import sys, lmar.cli; lmar.cli.build_parser(); print('torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "False"


def test_cli_precisions_are_the_runtime_ones():
    from lmar import cli
    from lmar.core import runtime

    assert cli.PRECISIONS == runtime.PRECISIONS
