"""``make test`` runs the suite in parallel processes (pytest-xdist, installed by the lock), by default one
per logical CPU and at most four, and ``TEST_WORKERS=0`` runs it in one: checked on a throwaway suite of
three tests, run with the Makefile's own options and the project's conftest."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from helpers import ROOT

MAKEFILE = (ROOT / "Makefile").read_text()
THREE_TESTS = '''
import os
from pathlib import Path


def _ran():
    with Path(os.environ["WHERE_FILE"]).open("a") as f:
        f.write(os.environ.get("PYTEST_XDIST_WORKER", "main") + "\\n")


def test_a():
    _ran()


def test_b():
    _ran()


def test_c():
    _ran()
'''


def make_test_options() -> list[str]:
    """The options of the Makefile's ``test`` recipe (``python -m pytest ...``), TEST_WORKERS as written."""
    recipe = re.search(r"^test:.*\n\t(.*)$", MAKEFILE, re.MULTILINE).group(1)
    words = shlex.split(recipe)
    assert words[:3] == ["python", "-m", "pytest"], recipe
    return words[3:]


def default_workers() -> str:
    return re.search(r"^TEST_WORKERS \?= (\S+)$", MAKEFILE, re.MULTILINE).group(1)


def run_with_the_makefiles_options(tmp_path: Path, workers: str) -> tuple[list[str], str]:
    """Where each of the three tests ran (an xdist worker's name, or ``main``), run with TEST_WORKERS=workers,
    and pytest's output."""
    suite = tmp_path / f"suite-{workers}"
    suite.mkdir()
    shutil.copy(ROOT / "tests" / "conftest.py", suite / "conftest.py")
    (suite / "test_three.py").write_text(THREE_TESTS)
    (suite / "pytest.ini").write_text("[pytest]\n")  # this folder is the rootdir, not the project
    options = [workers if word == "$(TEST_WORKERS)" else word for word in make_test_options()]
    where = suite / "where.txt"
    env = {**os.environ, "WHERE_FILE": str(where), "PYTHONPATH": str(ROOT / "tests")}
    env.pop("PYTEST_XDIST_WORKER", None)  # this test may itself run in a worker
    env.pop("PYTEST_XDIST_AUTO_NUM_WORKERS", None)  # a user's setting would replace the Makefile's default
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *options, str(suite)],
                          check=False, cwd=suite, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "3 passed" in proc.stdout
    return sorted(where.read_text().split()), proc.stdout


def test_the_makefile_runs_the_suite_in_up_to_four_processes():
    options = make_test_options()
    assert options[options.index("-n") + 1] == "$(TEST_WORKERS)"
    assert default_workers() == "logical"  # one per logical CPU: a 2-vCPU VM may count one physical core
    assert options[options.index("--maxprocesses") + 1] == "4"


def test_the_makefiles_options_run_the_tests_in_workers(tmp_path):
    where, _ = run_with_the_makefiles_options(tmp_path, "2")
    assert len(where) == 3 and set(where) <= {"gw0", "gw1"}  # which worker takes which is xdist's choice


def test_the_default_starts_a_worker_per_logical_cpu_up_to_four(tmp_path):
    where, out = run_with_the_makefiles_options(tmp_path, default_workers())
    n = min(4, os.cpu_count())
    assert re.search(rf"created: {n}/{n} workers?\b", out), out
    assert all(name.startswith("gw") for name in where)


def test_no_workers_runs_them_in_one_process(tmp_path):
    assert run_with_the_makefiles_options(tmp_path, "0")[0] == ["main", "main", "main"]
