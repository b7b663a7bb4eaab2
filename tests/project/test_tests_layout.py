"""The tests' own layout: a folder per room of lmar/ (``lmar.ROOMS``) plus ``workflow/`` (the
Snakemake DAG) and ``project/`` (the docs, the layout); file names unique across folders. Code the
tests share besides fixtures is in ``tests/helpers/`` only: no test module imports from ``conftest``
(fixtures, which pytest finds by itself), from another test module or from another module beside
them, inside functions too, so that a test file can be moved, renamed or deleted without breaking
another."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

from helpers import ROOT

import lmar

TESTS = ROOT / "tests"
FOLDERS = (*lmar.ROOMS, "workflow", "project")


def local_modules(tests: Path) -> set[str]:
    """The names a test could import from the tests' own folder: its modules and packages."""
    return {p.stem for p in tests.glob("*.py")} | {p.name for p in tests.iterdir() if p.is_dir()}


def shared_imports(path: Path, local: set[str]) -> list[tuple[str, int]]:
    """(module, line) of each import in ``path``, anywhere in its body, of a test-local module other
    than ``helpers``: ``conftest``, a test module (``test_*``, ``tests.*``), a relative import or
    another module of ``local``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.ImportFrom):
            names = [f".{node.module or ''}"]
        else:
            continue
        for name in names:
            head = name.split(".")[0]
            if head == "helpers":
                continue
            if head in ("conftest", "tests", "") or head.startswith("test_") or head in local:
                found.append((name, node.lineno))
    return found


def test_test_modules_share_code_through_helpers_only():
    local = local_modules(TESTS)
    offences = [f"{p.relative_to(ROOT)}:{line} imports {name}" for p in sorted(TESTS.rglob("*.py"))
                if "helpers" not in p.relative_to(TESTS).parts[:1]
                for name, line in shared_imports(p, local)]
    assert not offences, "import it from tests/helpers/ instead:\n" + "\n".join(offences)


def test_the_checker_finds_each_kind_of_shared_import(tmp_path):
    bad = tmp_path / "test_bad.py"
    bad.write_text("import os\nfrom helpers import ROOT\nfrom helpers.local_http import LocalServer\n"
                   "from conftest import CPU\n\n\ndef f():\n    from test_workflow import snakemake\n"
                   "    import tests.helpers\n    from . import x\n    import local_thing\n")
    assert shared_imports(bad, {"local_thing", "helpers", "core"}) == [
        ("conftest", 4), ("test_workflow", 8), ("tests.helpers", 9), (".", 10), ("local_thing", 11)]


def test_every_test_file_is_in_the_folder_of_a_room_or_workflow_or_project():
    files = sorted(TESTS.rglob("test_*.py"))
    misplaced = [str(p.relative_to(TESTS)) for p in files
                 if p.parent.parent != TESTS or p.parent.name not in FOLDERS]
    assert not misplaced, f"move each into one of tests/{{{','.join(FOLDERS)}}}/: {misplaced}"
    assert {p.parent.name for p in files} == set(FOLDERS)  # every room has its tests
    repeated = [name for name, n in Counter(p.name for p in files).items() if n > 1]
    assert not repeated, f"test file names must be unique across folders (pytest imports them by name): {repeated}"
