"""Job resources sized from the config (lmar.run.job_resources), and the cluster profiles that use them."""

from __future__ import annotations

import math

import pytest

from helpers import dry_run_jobs, snakemake, write_config

from lmar.run import job_resources as jr

SHAPE = (1000, 2000, 10, 5)  # H, W, train pairs, test pairs


def test_pretraining_by_hand():
    got = jr.pretrain({"size": [100, 200], "batch_size": 2, "epochs": 10}, SHAPE, gpu=False)
    preload = 10 * 100 * 200 * 3 * 4 * 2  # every training pair at the training size, input and gt
    activations = 2 * 100 * 200 * 4096
    assert got["mem_mb"] == math.ceil(1.5 * (3000 + (preload + activations) / 2**20))
    assert got["runtime"] == 10  # 10 epochs x 10 images x 0.02 MP x 12 s = 24 s: the floor
    long = jr.pretrain({"size": [1000, 2000], "batch_size": 2, "epochs": 100}, SHAPE, gpu=False)
    assert long["runtime"] == math.ceil(2 * 100 * 10 * 2.0 * 12 / 60) + 5  # 805 minutes
    assert jr.pretrain({"size": [1000, 2000], "batch_size": 2, "epochs": 100}, SHAPE, gpu=True)["runtime"] < long["runtime"]


def test_pretraining_on_random_crops_by_hand():
    # crop 300: each sample is 300 x 300 of a pair kept at full resolution, whatever size says
    got = jr.pretrain({"size": [100, 200], "crop": 300, "batch_size": 4, "epochs": 50}, SHAPE, gpu=False)
    preload = 10 * 1000 * 2000 * 3 * 4 * 2
    assert got["mem_mb"] == math.ceil(1.5 * (3000 + (preload + 4 * 300 * 300 * 4096) / 2**20))
    assert got["runtime"] == math.ceil(2 * 50 * 10 * 0.09 * 12 / 60) + 5  # 50 x 10 x 0.09 MP x 12 s = 540 s


def test_resampler_training_and_evaluation_grow_with_what_they_do():
    base = jr.train_resampler({"crop": 256, "epochs": 10, "repeats": 1}, SHAPE, gpu=False)
    assert jr.train_resampler({"crop": 512, "epochs": 10, "repeats": 1}, SHAPE, gpu=False)["mem_mb"] > base["mem_mb"]
    assert jr.train_resampler({"crop": 256, "epochs": 100, "repeats": 4}, SHAPE, gpu=False)["runtime"] > base["runtime"]
    five = jr.evaluate(5, (2160, 3840, 0, 2100), gpu=True)
    assert five["runtime"] == math.ceil(2 * 2100 * 5 * 2160 * 3840 / 1e6 * 0.05 / 60) + 5
    assert jr.evaluate(1, (2160, 3840, 0, 2100), gpu=True, full_resolution=True)["mem_mb"] > five["mem_mb"]
    # each loader worker holds 4 decoded 4K pairs ahead, at up to 16 bits: 4 * 2 * 2160 * 3840 * 6 bytes, x1.5
    seven = jr.evaluate(5, (2160, 3840, 0, 2100), gpu=True, workers=7)
    assert seven["mem_mb"] - five["mem_mb"] == pytest.approx(1.5 * 6 * 4 * 2 * 2160 * 3840 * 6 / 2**20, abs=1)


def test_a_retry_asks_for_that_multiple():
    one, two = (jr.evaluate(5, SHAPE, gpu=False, attempt=a) for a in (1, 2))
    assert two == {"mem_mb": 2 * one["mem_mb"], "runtime": 2 * one["runtime"]}


def job_resources(dry_run: str) -> dict[str, list[dict]]:
    """rule -> the resources of each of its jobs in a dry run's output."""
    out: dict[str, list[dict]] = {}
    for rule, _, resources in dry_run_jobs(dry_run):
        out.setdefault(rule, []).append(resources)
    return out


def test_the_slurm_profile_plans_each_job_with_its_resources(tmp_path):
    cfg = write_config(tmp_path, device="cuda")
    res = snakemake("-n", "all", "--profile", "workflow/profiles/slurm", "--directory", str(tmp_path),
                    "--configfile", str(cfg))
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    jobs = job_resources(res.stdout)
    for rule in ("pretrain_backbone", "train_resampler", "evaluate"):
        for job in jobs[rule]:
            assert job["gpu"] == "1" and int(job["mem_mb"]) >= 3000 and int(job["runtime"]) >= 10, (rule, job)
    assert {j["save_every_minutes"] for j in jobs["train_resampler"]} == {"10"}
    # the tiny config's own numbers: 2 epochs at 24x36 on the mini split, 2 targets
    assert int(jobs["pretrain_backbone"][0]["mem_mb"]) == jr.pretrain(
        {"size": [24, 36], "batch_size": 2, "epochs": 2}, (48, 72, 11 - 2, 2), gpu=True)["mem_mb"]  # 11 photographs, 2 test


def test_the_multi_gpu_profile_runs_cuda_jobs_one_per_gpu(tmp_path):
    cfg = write_config(tmp_path)
    res = snakemake("-n", "all", "--profile", "workflow/profiles/multi_gpu", "--directory", str(tmp_path),
                    "--configfile", str(cfg))
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "and workflow specific profile profiles/default" in res.stderr  # loaded too
    # the profile's config: device=cuda, so every GPU job asks for one of the 8
    assert "--device cuda " in res.stdout and {j["gpu"] for j in job_resources(res.stdout)["evaluate"]} == {"1"}


def test_preparing_a_dataset_by_hand():
    got = jr.prepare((2160, 3840, 5999, 2100))
    assert got["runtime"] == math.ceil(2 * 8099 * 2160 * 3840 / 1e6 * 0.12 / 60) + 5  # 272 minutes
    assert got["mem_mb"] == math.ceil(1.5 * (3000 + 2 * 2160 * 3840 * 24 / 2**20))
