"""The conda environment and the container install exactly requirements.lock (neither can be built
here: no conda, no Apptainer, no internet beyond the package index)."""

from __future__ import annotations

import re
import tomllib

import yaml

from helpers import ROOT, lock_pins

LOCK = ROOT / "requirements.lock"
CONDA = ROOT / "workflow" / "envs" / "lmar.yaml"
APPTAINER = ROOT / "workflow" / "envs" / "Apptainer.def"


def test_every_direct_dependency_is_pinned_to_the_locks_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + [d for extra in project["optional-dependencies"].values() for d in extra]
    pins = lock_pins()
    for req in wanted:
        name, _, version = req.partition("==")
        assert pins.get(name.lower().replace("_", "-")) == version, f"{req} is not the lock's {pins.get(name.lower())}"


def test_the_conda_environment_installs_the_project_under_the_lock():
    env = yaml.safe_load(CONDA.read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    constraint = next(p for p in pip if p.startswith("-c "))
    assert (CONDA.parent / constraint[3:]).resolve() == LOCK
    assert (CONDA.parent / next(p for p in pip if p.startswith("-e "))[3:]).resolve() == ROOT
    assert "python=3.11" in env["dependencies"]
    # nothing else is pinned beside the lock
    assert [p for p in pip if not p.startswith(("-c ", "-e "))] == []
    assert [d for d in env["dependencies"] if isinstance(d, str) and d not in ("python=3.11", "pip")] == []


def test_the_container_installs_the_project_under_the_lock():
    text = APPTAINER.read_text()
    files = dict(line.split() for line in text.split("%files")[1].split("%")[0].strip().splitlines())
    assert files["requirements.lock"] == "/opt/lmar/requirements.lock" and files["pyproject.toml"] == "/opt/lmar/pyproject.toml"
    post = text.split("%post")[1].split("%")[0]
    installs = [line.strip() for line in post.splitlines() if "pip install" in line]
    assert installs == ["pip install --no-cache-dir --disable-pip-version-check -c /opt/lmar/requirements.lock "
                        "'/opt/lmar[dev]'"]  # one pip call, the lock as constraints, nothing else pinned
    assert re.search(r"^From: python:3\.11", text, re.M)
    # every folder the package needs is copied in
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = [p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]]
    assert sorted(p for p in files if (ROOT / p).is_dir()) == sorted(packages)
