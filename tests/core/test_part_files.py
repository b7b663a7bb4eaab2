"""One broken part file does not break every verb: a file of a registry's home package with a
syntax error, a missing dependency or a name another file registered is skipped with one warning
line naming it (what it registered before failing is undone), and named again in any later
"unknown part" error; an installed plugin that takes a built-in name fails naming itself."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helpers import ROOT

from lmar.core.errors import LmarError
from lmar.core.registry import ENTRY_POINTS



@pytest.fixture
def home(tmp_path, monkeypatch):
    """A home package ``lmar_test_parts`` with a registry, one good part file, and room for more."""
    pkg = tmp_path / "lmar_test_parts"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        'from lmar.core.registry import Registry\nREG = Registry("widget", "lmar_test_parts", "builtins:object")\n')
    part = 'from lmar_test_parts import REG\n\n@REG.register("{name}")\nclass P{n}:\n    pass\n'
    (pkg / "a_good.py").write_text(part.format(name="good", n=0))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield pkg, part
    for name in [m for m in sys.modules if m.startswith("lmar_test_parts")]:
        del sys.modules[name]


def test_broken_files_are_skipped_and_named(home, capsys):
    pkg, part = home
    (pkg / "b_syntax.py").write_text("def broken(:\n")
    (pkg / "c_missing.py").write_text("import lmar_test_no_such_dependency\n")
    # registers "extra", then "good" a second time: both undone
    (pkg / "d_dup.py").write_text(part.format(name="extra", n=1) + part.format(name="good", n=2).split("\n", 1)[1])
    (pkg / "e_fine.py").write_text(part.format(name="fine", n=3))
    from lmar_test_parts import REG

    assert REG.names() == ["fine", "good"]
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 3 and "Traceback" not in err, err
    assert f"warning: skipped part file {pkg / 'b_syntax.py'}: SyntaxError" in lines[0]
    assert f"{pkg / 'c_missing.py'}: ModuleNotFoundError" in lines[1] and "lmar_test_no_such_dependency" in lines[1]
    assert f"{pkg / 'd_dup.py'}: ValueError: widget 'good' is registered twice" in lines[2]
    with pytest.raises(LmarError, match=r"unknown widget 'extra'.*Skipped because they failed to import: .*b_syntax"
                                        r"\.py \(SyntaxError.*d_dup\.py"):
        REG.get("extra", "config key widgets.x.type")


def lmar_copy(tmp_path: Path) -> Path:
    """This project's packages copied, so that a part file can be planted without touching them."""
    dst = tmp_path / "copy"
    for pkg in ("lmar", "baselines"):
        shutil.copytree(ROOT / pkg, dst / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    return dst


def run_lmar(copy: Path, *argv) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(copy)}
    return subprocess.run([sys.executable, "-m", "lmar", *argv], cwd=copy, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow
def test_a_broken_baseline_file_leaves_the_verbs_working(tmp_path):
    copy = lmar_copy(tmp_path)
    (copy / "baselines" / "my_broken.py").write_text("import lmar_test_absent_dependency\n")
    res = run_lmar(copy, "list")
    assert res.returncode == 0, res.stderr
    assert res.stderr.strip() == (f"warning: skipped part file {copy / 'baselines' / 'my_broken.py'}: "
                                  "ModuleNotFoundError: No module named 'lmar_test_absent_dependency'")
    assert "resamplers: " in res.stdout and "bicubic" in res.stdout


@pytest.mark.slow
def test_a_plugin_taking_a_builtin_name_fails_naming_itself(tmp_path):
    copy = lmar_copy(tmp_path)
    (copy / "lmar_test_taker.py").write_text(textwrap.dedent('''
        from lmar.core.registry import RESAMPLERS
        from lmar.parts.resampler_base import Resampler

        @RESAMPLERS.register("bicubic")  # imports no baselines module: only the load order protects the name
        class Mine(Resampler):
            pass
    '''))
    info = copy / "lmar_test_taker-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lmar-test-taker\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINTS}]\ntaker = lmar_test_taker\n")
    res = run_lmar(copy, "list")
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("error: ")]
    assert res.returncode == 2 and len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert "plugin 'taker' (lmar_test_taker" in lines[0] and "'bicubic' is registered twice" in lines[0]
