"""Fixtures of the tests that recompute the README's figures from the record it names: a test module
sets SENTENCE (a pattern whose one group is the record's path) and WHAT (the record, in words)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import readme_record


@pytest.fixture(scope="module")
def named(request) -> tuple[str, Path]:
    return readme_record(request.module.SENTENCE, request.module.WHAT)


@pytest.fixture(scope="module")
def text(named) -> str:
    """The README, its runs of white space made one space."""
    return named[0]


@pytest.fixture(scope="module")
def record(named) -> Path:
    """The folder under docs/measured/ that the README's SENTENCE names."""
    return named[1]
