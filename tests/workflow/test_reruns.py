"""Reruns plan exactly what changed: a copied project plans nothing, nor does a comment or a docstring;
editing one method's code plans only the jobs that use it. Runs the tiny workflow in a copy of the project (its own lmar/ first on
PYTHONPATH), so that the test can edit the copy's code."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT, SNAKEMAKE, TINY, dry_run_jobs


def copy_project(dst: Path) -> Path:
    dst.mkdir(parents=True)
    for name in ("Snakefile", "lmar", "baselines", "workflow", "profiles"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dst / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dst / name)
    shutil.copy2(TINY, dst / "config.yaml")
    return dst


def snakemake(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(project),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run([SNAKEMAKE, "--configfile", "config.yaml", *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=900)


def planned(project: Path) -> list[str]:
    """``rule wildcards`` of every job a dry run would run (nothing: [])."""
    dry = snakemake(project, "-n", "all")
    assert dry.returncode == 0, dry.stderr[-2000:]
    return sorted(f"{rule} {wildcards}".strip() for rule, wildcards, _ in dry_run_jobs(dry.stdout))


@pytest.mark.slow
def test_a_copy_plans_nothing_and_an_edited_baseline_reruns_its_jobs_alone(tmp_path):
    project = copy_project(tmp_path / "a" / "project")
    res = snakemake(project, "--cores", "2", "all")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert planned(project) == []

    moved = tmp_path / "b" / "elsewhere"
    moved.parent.mkdir()
    subprocess.run(["cp", "-a", str(project), str(moved)], check=True)  # mtimes kept
    assert planned(moved) == []

    # what a module says of itself is no edit: a comment and a reworded docstring in the training code
    # every job imports rerun nothing
    train = moved / "lmar" / "run" / "train.py"
    text = train.read_text()
    first_line = text.index("\n")
    train.write_text(text[:first_line] + " Reworded,\nover two lines." + text[first_line:] + "\n# a comment\n")
    assert planned(moved) == []

    interpolation = moved / "baselines" / "interpolation.py"
    interpolation.write_text(interpolation.read_text() + "\nEDITED = 1  # an edit to the interpolation baselines\n")
    jobs = planned(moved)
    evaluations = [j for j in jobs if j.startswith("evaluate ")]
    assert evaluations and all("resampler=bicubic" in j for j in evaluations), jobs
    assert not [j for j in jobs if j.startswith(("pretrain_backbone", "train_resampler", "prepare_data"))], jobs

    # the report's rules fingerprint the code that renders them: an edit to the results' plots reruns
    # that plot step alone (not the training curves', drawn by a module of their own); an edit to what
    # the resamplers' figures share (their styles, how a figure is saved) reruns each of their steps, and not
    # the training curves' (their loss parts take styles of their own, never a resampler's)
    redrawn = tmp_path / "c" / "redrawn"
    redrawn.parent.mkdir()
    subprocess.run(["cp", "-a", str(project), str(redrawn)], check=True)
    plots = redrawn / "lmar" / "report" / "plots.py"
    plots.write_text(plots.read_text() + "\nEDITED = 1  # an edit to the plots\n")
    assert {j.split()[0] for j in planned(redrawn)} - {"all"} == {"plot"}
    shared = redrawn / "lmar" / "report" / "plot_style.py"
    shared.write_text(shared.read_text() + "\nEDITED = 1  # an edit to every figure's styles\n")
    assert {j.split()[0] for j in planned(redrawn)} - {"all"} == {"plot", "figures"}
