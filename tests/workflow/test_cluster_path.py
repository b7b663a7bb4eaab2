"""The cluster path as the README and the SLURM profile write it: fetching runs where Snakemake runs
(localrules, and a ``prefetch`` target for a login node) while checking the fetched data is a job;
no job asks for more than the profile's caps (``max_runtime``, ``max_mem_mb``, ``max-threads``), on any
attempt; and with ``--sdm apptainer`` every job runs in the configured image, with the
``--apptainer-args`` given (``--nv`` for the GPUs)."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import ROOT, SNAKEMAKE

from lmar.run import job_resources

PROFILE = ROOT / "workflow" / "profiles" / "slurm"
FETCHING = {"prefetch", "download_dataset", "fetch_released", "seed_weights"}
JOBS = {"prepare_data", "pretrain_backbone", "train_resampler", "evaluate"}  # the work a compute node does


def snakemake(*args: str, cwd: Path, path: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": os.pathsep.join(p for p in (path, str(Path(sys.executable).parent),
                                                              os.environ.get("PATH", "")) if p)}
    env.pop("SNAKEMAKE_PROFILE", None)  # a user's global profile must not decide the outcome
    return subprocess.run([SNAKEMAKE, "-s", str(ROOT / "Snakefile"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, check=False, timeout=300)


def profile_limits() -> dict:
    """The caps the SLURM profile states: max-threads, and the config entries max_runtime / max_mem_mb."""
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    entries = dict(entry.split("=", 1) for entry in profile["config"])
    return {"threads": int(profile["max-threads"]), "runtime": int(entries["max_runtime"]),
            "mem_mb": int(entries["max_mem_mb"])}


def planned_jobs(out: str) -> list[dict]:
    """Each job of a dry run's printout: its rule, threads and resources."""
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", out):
        m = re.match(r"(?:local)?rule (\w+):", block)
        if not m:
            continue
        job = {"rule": m.group(1)}
        t = re.search(r"^\s+threads: (\d+)", block, re.MULTILINE)
        job["threads"] = int(t.group(1)) if t else 1
        r = re.search(r"^\s+resources: (.*)$", block, re.MULTILINE)
        for item in (r.group(1).split(", ") if r else []):
            key, _, value = item.partition("=")
            job[key] = value
        jobs.append(job)
    return jobs


def localrules() -> set[str]:
    """Every rule named in a ``localrules:`` block of the Snakefile or a rules file."""
    names = set()
    for path in [ROOT / "Snakefile", *sorted((ROOT / "workflow" / "rules").glob("*.smk"))]:
        for block in re.findall(r"^localrules:\n((?:[ \t]+\w+,?\n)+)", path.read_text(), flags=re.MULTILINE):
            names |= {n.strip().rstrip(",") for n in block.splitlines() if n.strip()}
    return names


def test_fetching_is_local_and_the_work_is_not():
    local = localrules()
    assert FETCHING <= local, f"not local: {FETCHING - local}"  # compute nodes often have no internet
    assert not JOBS & local, f"local, but hours of work: {JOBS & local}"


@pytest.mark.parametrize("name", ["uhd_lol4k", "authors_released"])
def test_prefetch_plans_every_fetch_and_nothing_else(tmp_path, name):
    res = snakemake("-n", "prefetch", "--configfile", str(ROOT / "workflow" / "configs" / f"{name}.yaml"),
                    "--directory", str(tmp_path), cwd=tmp_path)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    rules = {job["rule"] for job in planned_jobs(out)}
    expected = {"uhd_lol4k": {"prefetch", "download_dataset", "seed_weights"},
                "authors_released": {"prefetch", "fetch_released"}}[name]
    assert rules == expected, out


@pytest.mark.parametrize("name", ["uhd_ll", "uhd_lol4k"])
def test_slurm_profile_requests_stay_within_its_limits(tmp_path, name):
    """The paper configs' largest jobs as the SLURM profile plans them: each job's threads, runtime and
    memory within the profile's caps. UHD-LOL4K's pretrain_backbone is estimated at about 2100 min, so a
    max_runtime of 1440 (a cluster's one-day limit) caps it."""
    limits = profile_limits()
    cap = ("--config", "max_runtime=1440") if name == "uhd_lol4k" else ()
    res = snakemake("-n", "all", "--cores", "64", "--profile", str(PROFILE), "--directory", str(tmp_path),
                    "--configfile", str(ROOT / "workflow" / "configs" / f"{name}.yaml"), *cap, cwd=tmp_path)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    jobs = planned_jobs(out)
    assert {j["rule"] for j in jobs} >= JOBS, out
    for job in jobs:
        assert job["threads"] <= limits["threads"], job
        assert int(job["runtime"]) <= limits["runtime"], job
        assert int(job["mem_mb"]) <= limits["mem_mb"], job
    if name == "uhd_lol4k":  # estimated over the cap: capped, not under-asked, and said once with the attempts
        notes = re.findall(r"pretrain jobs are estimated at \d+ min, over max_runtime 1440.*--retries \d", out)
        assert len(notes) == 1, out
        pretrain = [j for j in jobs if j["rule"] == "pretrain_backbone"]
        assert pretrain and all(int(j["runtime"]) == 1440 for j in pretrain)


def test_a_retry_never_asks_past_the_cap():
    """attempt x the estimate, then the cap: by hand, a 300-minute, 5000 MB job under caps of 500 min and 8000 MB."""
    limits = {"max_runtime": 500, "max_mem_mb": 8000}
    first = {"runtime": 300, "mem_mb": 5000}
    second, notes = job_resources.capped("evaluate", {"runtime": 600, "mem_mb": 10000}, first, limits)
    assert second == {"runtime": 500, "mem_mb": 8000} and notes == []
    third, _ = job_resources.capped("evaluate", {"runtime": 900, "mem_mb": 15000}, first, limits)
    assert third == {"runtime": 500, "mem_mb": 8000}
    same, _ = job_resources.capped("evaluate", first, first, {"max_runtime": None, "max_mem_mb": None})
    assert same == first  # no cap: the estimate as it is


def test_an_estimate_over_the_cap_says_what_follows():
    first = {"runtime": 4152, "mem_mb": 30000}
    out, notes = job_resources.capped("pretrain", first, first, {"max_runtime": 2880, "max_mem_mb": 16000})
    assert out == {"runtime": 2880, "mem_mb": 16000}
    assert any("resumes" in n and "--retries 1" in n for n in notes), notes  # ceil(4152 / 2880) = 2 attempts
    assert any("mem_mb" in n and "max_mem_mb 16000" in n for n in notes), notes
    _, notes = job_resources.capped("evaluate", first, first, {"max_runtime": 2880, "max_mem_mb": None})
    assert notes and "resumes" not in notes[0] and "killed" in notes[0]  # an evaluation starts over


FAKE_APPTAINER = """#!/bin/sh
# a stand-in: records how it was called, then runs the job's command (what follows the image)
if [ "$1" = "--version" ]; then echo "apptainer version 1.3.4"; exit 0; fi
echo "$*" >> "{log}"
while [ "$#" -gt 0 ] && [ "$1" != "{image}" ]; do shift; done
shift
exec "$@"
"""


@pytest.mark.slow
def test_every_job_runs_in_the_container_with_the_gpu_flag(tmp_path):
    image = str(tmp_path / "lmar.sif")
    Path(image).write_bytes(b"")  # a local image: Snakemake uses the file as it is
    calls = tmp_path / "apptainer-calls.txt"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "apptainer"
    fake.write_text(FAKE_APPTAINER.format(log=calls, image=image))
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    run = tmp_path / "run"
    res = snakemake("--cores", "1", "results/mini-default/config.resolved.yaml", "--directory", str(run),
                    "--configfile", str(ROOT / "config.yaml"), "--config", f"container={image}", "--sdm", "apptainer", "--apptainer-args", f"--nv --bind {tmp_path}",
                    cwd=tmp_path, path=str(bin_dir))
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert (run / "results" / "mini-default" / "config.resolved.yaml").is_file()
    recorded = calls.read_text()
    assert " exec " in f" {recorded}" and "--nv" in recorded and image in recorded, recorded
    assert "python -m lmar record" in recorded, recorded
