"""The README's worked examples of a part outside the project ("Add a method with one config entry",
"Your own code, outside the project"), run as written: the module, the config entries and the
pyproject.toml are read from the README's code blocks, so a broken example fails here.

(a) a module on PYTHONPATH named by ``module:Class``: planned by ``snakemake -n`` and one of its
evaluations run for real; (b) the same module installed (pip, from the README's pyproject.toml)
with an entry point in ``lmar.parts``: ``lmar list`` shows its registered name and a config naming
it by that name is planned."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pandas as pd
import pytest
import yaml

from helpers import ROOT, TINY

README = ROOT / "README.md"
BIN = Path(sys.executable).parent
SNAKEMAKE = shutil.which("snakemake", path=str(BIN)) or "snakemake"
SECTION = "## Add a method with one config entry"
START, END = "**Your own code, outside the project.**", "*On a cluster or in the container*"


def example_text() -> str:
    """The README's part about code outside the project (fails if the README lost it)."""
    text = README.read_text()
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    assert START in section and END in section, f"README section {SECTION!r} lost its plugin example"
    return section.split(START, 1)[1].split(END, 1)[0]


def code_blocks(text: str, lang: str) -> list[str]:
    """The bodies of the fenced code blocks of language ``lang``."""
    return re.findall(rf"^```{lang}\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def example_module() -> tuple[str, str]:
    """(path relative to the PYTHONPATH folder, source) of the README's example module: the python
    block whose first line names its file, under the folder the bash block exports."""
    (source,) = code_blocks(example_text(), "python")
    header = source.splitlines()[0]
    assert header.startswith("# "), header
    (export,) = re.findall(r"^export PYTHONPATH=(\S+)$", "".join(code_blocks(example_text(), "bash")), re.MULTILINE)
    path = header[2:].strip()
    assert path.startswith(export.rstrip("/") + "/"), f"the module {path} is not under PYTHONPATH={export}"
    return path[len(export.rstrip("/")) + 1:], source


def example_entries() -> tuple[dict, dict]:
    """The README's two config entries: (a) by ``module:Class``, (b) by registered name."""
    entries = [yaml.safe_load(b)["resamplers"] for b in code_blocks(example_text(), "yaml")]
    by_class = [e for e in entries if ":" in next(iter(e.values()))["type"]]
    by_name = [e for e in entries if ":" not in next(iter(e.values()))["type"]]
    assert len(by_class) == 1 and len(by_name) == 1, entries
    return by_class[0], by_name[0]


def write_module(folder: Path) -> Path:
    """The example module under ``folder`` (with the empty ``__init__.py`` the README asks for)."""
    rel, source = example_module()
    path = folder / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.parent / "__init__.py").write_text("")
    path.write_text(source)
    return path


def write_config(tmp_path: Path, entry: dict) -> Path:
    """The tiny workflow with bicubic and the README's entry as its resamplers (no trained one: cheap)."""
    cfg = yaml.safe_load(TINY.read_text())
    cfg["resamplers"] = {"bicubic": {"type": "bicubic"}, **entry}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def run(argv: list[str], pythonpath: Path, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(pythonpath), "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(argv, check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def snakemake(*args: str, pythonpath: Path, workdir: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    return run([SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "--directory", str(workdir), *args], pythonpath, workdir,
               timeout)


def planned_evaluations(stdout: str) -> set[str]:
    """The resamplers of the ``evaluate`` jobs in a dry run's output."""
    jobs = set()
    for block in re.split(r"\n(?=(?:local)?rule )", stdout):
        if re.match(r"rule evaluate:", block):
            jobs.add(re.search(r"resampler=([^,\s]+)", block).group(1))
    return jobs


@pytest.mark.slow
def test_a_module_on_pythonpath_is_planned_and_evaluated(tmp_path):
    plugins, work = tmp_path / "plugins", tmp_path / "work"
    work.mkdir()
    write_module(plugins)
    entry, _ = example_entries()
    (name,) = entry
    cfg = write_config(tmp_path, entry)
    dry = snakemake("-n", "--cores", "1", "all", "--configfile", str(cfg), pythonpath=plugins, workdir=work)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert planned_evaluations(dry.stdout) == {"bicubic", name}, dry.stdout

    # one evaluation of the plugin for real: the mini dataset, the tiny backbone, then the plugin
    target = f"results/tiny/metrics/mini/unet/seed0/{name}.csv"
    res = snakemake("--cores", "2", target, "--configfile", str(cfg), pythonpath=plugins, workdir=work, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    rows = pd.read_csv(work / target)
    assert set(rows["resampler"]) == {name} and len(rows) > 0, rows
    assert rows["psnr"].notna().all() and (rows["psnr"] > 0).all(), rows


@pytest.mark.slow
def test_an_installed_package_registers_its_name(tmp_path):
    source, site, work = tmp_path / "src", tmp_path / "site", tmp_path / "work"
    work.mkdir()
    write_module(source)
    (toml,) = code_blocks(example_text(), "toml")
    (source / "pyproject.toml").write_text(toml)
    assert tomllib.loads(toml)["project"]["entry-points"]["lmar.parts"], toml
    pip = run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "-q",
               "--target", str(site), str(source)], tmp_path, tmp_path)
    assert pip.returncode == 0, pip.stdout + pip.stderr

    _, entry = example_entries()
    (name,) = entry
    registered = entry[name]["type"]
    # only the installed copy is on the path: the entry point alone brings the module in
    listed = run([sys.executable, "-m", "lmar", "list"], site, work)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    module = example_module()[0].removesuffix(".py").replace("/", ".")
    assert re.search(rf"^  {registered}\s+{re.escape(module)}: ", listed.stdout, re.MULTILINE), listed.stdout

    cfg = write_config(tmp_path, entry)
    dry = snakemake("-n", "--cores", "1", "all", "--configfile", str(cfg), pythonpath=site, workdir=work)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert planned_evaluations(dry.stdout) == {"bicubic", name}, dry.stdout
