"""The code fingerprint of a job: the files it runs, followed through imports; what changes it."""

from __future__ import annotations

import shutil

import pytest

from lmar.core import fingerprint as fp
from lmar.core.errors import LmarError


def rel(paths) -> list[str]:
    return [p.relative_to(fp.ROOT).as_posix() for p in paths]


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """A small project of two packages (names of the real ones, which the fingerprint follows)."""
    for name, text in {
        "lmar/__init__.py": "",
        "lmar/core/errors.py": "class E(Exception): ...\n",
        "lmar/harness.py": "from lmar.core.errors import E\n\ndef run():\n    from lmar import helper\n",
        "lmar/helper.py": "import os\n",
        "lmar/typing_only.py": "",
        "lmar/part_base.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from lmar import typing_only\n",
        "baselines/__init__.py": "",
        "baselines/one.py": "from ..lmar_like import x\nfrom lmar.part_base import *\n",
        "baselines/two.py": "from lmar import part_base\n",
        # an import in each kind of statement body: a class's method, a handler, a with, a loop's else, a match case
        "lmar/deep.py": ("class C:\n    def f(self):\n        import lmar.m1\n"
                         "try:\n    pass\nexcept ImportError:\n    import lmar.m2\n"
                         "with open('x') as f:\n    import lmar.m3\n"
                         "for i in []:\n    pass\nelse:\n    from lmar import m4\n"
                         "match 1:\n    case 1:\n        from . import m5\n"),
        **{f"lmar/m{k}.py": "" for k in range(1, 6)},
    }.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    monkeypatch.setattr(fp, "ROOT", tmp_path)
    fp._imports_of.cache_clear()
    yield tmp_path
    fp._imports_of.cache_clear()


def test_imports_are_followed_at_any_depth_but_not_under_type_checking(tree):
    assert rel(fp.module_files(["lmar.harness"])) == ["lmar/__init__.py", "lmar/core/errors.py", "lmar/harness.py",
                                                       "lmar/helper.py"]  # the function-level import too
    assert rel(fp.module_files(["baselines.two"])) == ["baselines/__init__.py", "baselines/two.py", "lmar/__init__.py",
                                                        "lmar/part_base.py"]  # not typing_only


def test_imports_in_every_kind_of_statement_body_are_followed(tree):
    assert rel(fp.module_files(["lmar.deep"])) == ["lmar/__init__.py", "lmar/deep.py"] + [
        f"lmar/m{k}.py" for k in range(1, 6)]


def test_editing_a_part_changes_its_jobs_fingerprint_and_no_other(tree):
    one, two = fp.fingerprint(["lmar.harness", "baselines.one"]), fp.fingerprint(["lmar.harness", "baselines.two"])
    (tree / "baselines/one.py").write_text((tree / "baselines/one.py").read_text() + "EDITED = 1\n")
    assert fp.fingerprint(["lmar.harness", "baselines.one"]) != one
    assert fp.fingerprint(["lmar.harness", "baselines.two"]) == two
    (tree / "lmar/helper.py").write_text("import sys\n")  # shared harness code: both change
    assert fp.fingerprint(["lmar.harness", "baselines.two"]) != two


def test_a_copied_project_keeps_its_fingerprints(tree, tmp_path, monkeypatch):
    before = fp.fingerprint(["lmar.harness", "baselines.one"])
    shutil.copytree(tree, tmp_path / "elsewhere" / "copy")
    monkeypatch.setattr(fp, "ROOT", tmp_path / "elsewhere" / "copy")
    assert fp.fingerprint(["lmar.harness", "baselines.one"]) == before


def test_a_module_without_source_is_named(tree):
    with pytest.raises(LmarError, match="module 'lmar.nowhere' has no Python source"):
        fp.fingerprint(["lmar.nowhere"])


def test_the_real_harness_names_no_part_module():
    """Parts are counted by the config entries that use them: the evaluation and training code must not
    import a baseline or a backbone module, or editing one would rerun every job."""
    fp._imports_of.cache_clear()
    for harness in ("lmar.run.evaluate", "lmar.run.train", "lmar.data.base"):
        files = rel(fp.module_files([harness]))
        parts = [f for f in files if f.startswith(("baselines/", "lmar/parts/backbones/")) or f == "lmar/parts/lmar/resampler.py"]
        assert parts == [], (harness, parts)
