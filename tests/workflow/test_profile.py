"""The default workflow profile (profiles/default/) is picked up by a plain ``snakemake`` and shows failed logs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import ROOT, SNAKEMAKE, TINY

BAD = "broken_pair.png"


def snakemake(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("SNAKEMAKE_PROFILE", None)  # a user's global profile must not decide the outcome
    return subprocess.run([SNAKEMAKE, "-s", str(ROOT / "Snakefile"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, check=False, timeout=300)


def test_profile_lives_where_snakemake_looks():
    profile = yaml.safe_load((ROOT / "profiles" / "default" / "config.yaml").read_text())
    assert profile["show-failed-logs"] is True
    assert not (ROOT / "workflow" / "profiles" / "default").exists()  # never read with the Snakefile at the root


@pytest.fixture
def broken_dataset_config(tmp_path: Path) -> Path:
    """The tiny config with one local ``folder`` dataset whose only pair is not an image."""
    data = tmp_path / "data"
    for split in ("train", "test"):
        for kind in ("input", "gt"):
            (data / split / kind).mkdir(parents=True)
            (data / split / kind / BAD).write_bytes(b"this is not a png")
    cfg = yaml.safe_load(TINY.read_text())
    cfg["datasets"] = {"junk": {"type": "folder", "params": {"local_path": str(data)}}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("with_profile", [True, False], ids=["default-profile", "no-profile"])
def test_failed_job_log_is_shown(tmp_path, broken_dataset_config, with_profile):
    # cwd has no profiles/ folder: the profile must be found beside the Snakefile, as for a hand-typed command
    extra = [] if with_profile else ["--workflow-profile", "none"]
    res = snakemake("--cores", "1", "all", "--until", "prepare_data", "--directory", str(tmp_path / "run"),
                    "--configfile", str(broken_dataset_config), *extra, cwd=tmp_path)
    out = res.stdout + res.stderr
    assert res.returncode != 0, out
    assert "prepare_data" in out  # it failed in the job, not before
    if with_profile:
        assert "error:" in out and BAD in out, out
    else:  # without the profile only "check log file(s)": the profile is what shows the log
        assert "error: dataset" not in out and BAD not in out, out
