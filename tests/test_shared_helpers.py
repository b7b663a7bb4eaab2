"""The tests share code through ``tests/helpers.py`` only: no test module imports from ``conftest``
(which holds fixtures, found by pytest) or from another test module, inside functions too, so that a
test file can be moved, renamed or deleted without breaking another."""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import ROOT


def shared_imports(path: Path) -> list[tuple[str, int]]:
    """(module, line) of each import in ``path`` of ``conftest`` or of a test module (``test_*``,
    ``tests.*``), anywhere in its body."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.ImportFrom):  # from . import x: a package of tests
            names = [f".{node.module or ''}"]
        else:
            continue
        for name in names:
            head = name.split(".")[0]
            if head in ("conftest", "tests", "") or head.startswith("test_"):
                found.append((name, node.lineno))
    return found


def test_test_modules_share_code_through_helpers_only():
    offences = [f"{p.relative_to(ROOT)}:{line} imports {name}" for p in sorted((ROOT / "tests").rglob("*.py"))
                for name, line in shared_imports(p)]
    assert not offences, "import it from tests/helpers.py instead:\n" + "\n".join(offences)


def test_the_checker_finds_each_kind_of_shared_import(tmp_path):
    bad = tmp_path / "test_bad.py"
    bad.write_text("import os\nfrom helpers import ROOT\nfrom conftest import CPU\n\n\ndef f():\n"
                   "    from test_workflow import snakemake\n    import tests.helpers\n    from . import x\n")
    assert shared_imports(bad) == [("conftest", 3), ("test_workflow", 7), ("tests.helpers", 8), (".", 9)]
