"""The README's "What is trusted" names, for each claim, the test that holds it: every test it
names exists (a renamed or deleted test breaks this, not the README's word)."""

from __future__ import annotations

import ast
import re

from helpers import ROOT


def trusted_section() -> str:
    text = (ROOT / "README.md").read_text()
    return text[text.index("## What is trusted"):text.index("\n## ", text.index("## What is trusted") + 1)]


def named_tests(section: str) -> list[tuple[str, str | None]]:
    """(file, test or None) for each `test_x.py[::test_y]` and each `::test_y` (of the file named last)."""
    found, current = [], None
    for m in re.finditer(r"`(test_[a-z0-9_]+\.py)?(?:::(test_[a-z0-9_]+))?`", section):
        file, test = m.group(1), m.group(2)
        if not file and not test:
            continue
        current = file or current
        found.append((current, test))
    return found


def test_every_test_the_trust_section_names_exists():
    named = named_tests(trusted_section())
    assert len(named) >= 30, named
    for file, test in named:
        found = sorted((ROOT / "tests").rglob(file))
        assert len(found) == 1, f"README names {file}: found {found}"
        path = found[0]
        if test:
            defs = {n.name for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.FunctionDef)}
            assert test in defs, f"README names {file}::{test}, which does not exist"
