"""The right images, or refused: a prepared dataset is keyed by its params (and, when linked from
``params.local_path``, by what its files hold), and the evaluation refuses a test split other than the
one the config declares."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from helpers import ROOT, SNAKEMAKE

from lmar.cli import main
from lmar.core.errors import LmarError
from lmar.data.identity import content_hash, dataset_key
from lmar.data.validate import check_test_split


# a small experiment: fixed (untrained) resamplers, a tiny backbone trained one epoch, small images
BACKBONE = {"type": "unet_lite", "params": {"width": 4}, "train": {"epochs": 1, "batch_size": 2, "size": [16, 24]}}
RESAMPLERS = {"bicubic": {"type": "bicubic"}, "area": {"type": "area"}}


def experiment(name: str, datasets: dict) -> dict:
    return {"experiment": name, "device": "cpu", "seed": 0, "datasets": datasets, "backbones": {"unet": BACKBONE},
            "resamplers": RESAMPLERS, "evaluation": {"scales": [2]}, "report": {"gain": ["area", "bicubic"]}}


def mini(test: list[str]) -> dict:
    return {"type": "mini", "params": {"size": [32, 48], "test": test, "seed": 0}}


def write_config(folder: Path, cfg: dict) -> Path:
    path = folder / f"{cfg['experiment']}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def snakemake(workdir: Path, config: Path, *args: str) -> subprocess.CompletedProcess:
    """Snakemake on this project's Snakefile, in ``workdir`` (results, resources and metadata there)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run([SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "--directory", str(workdir),
                           "--configfile", str(config), *args], cwd=workdir, env=env, capture_output=True,
                          text=True, timeout=900)


def run_all(workdir: Path, config: Path) -> None:
    res = snakemake(workdir, config, "--cores", "2", "all")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]


def planned(workdir: Path, config: Path) -> list[str]:
    """``rule wildcards`` of every job a dry run would run (nothing: [])."""
    res = snakemake(workdir, config, "-n", "--cores", "2", "all")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule )", res.stdout):
        m = re.match(r"(?:local)?rule (\w+):", block)
        if m:
            w = re.search(r"wildcards: (.*)", block)
            jobs.append(f"{m.group(1)} {w.group(1) if w else ''}".strip())
    return sorted(jobs)


def write_png(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path)


def add_pair(root: Path, split: str, name: str, seed: int, shape=(32, 48)) -> None:
    """One random (input, gt) pair in our layout ``<root>/<split>/{input,gt}/<name>.png``."""
    gt = np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)
    write_png(root / split / "gt" / f"{name}.png", gt)
    write_png(root / split / "input" / f"{name}.png", (gt // 4).astype(np.uint8))


def linked_dataset(root: Path, n_train: int = 3, n_test: int = 2) -> Path:
    for i in range(n_train):
        add_pair(root, "train", f"tr{i}", seed=i)
    for i in range(n_test):
        add_pair(root, "test", f"te{i}", seed=100 + i)
    return root


def table_counts(table: str) -> list[int]:
    """The N of every "over N test images" in a table.md (one per table)."""
    return [int(n) for n in re.findall(r"over (\d+) test images", table)]


# -- (1) two experiments, one checkout, one dataset name, different test lists ------------------------


@pytest.mark.slow
def test_two_experiments_with_different_test_lists_each_evaluate_their_own(tmp_path):
    """Experiments naming one dataset with other test lists, one after the other in one working
    directory: the second does not rebuild the first one's dataset under its results (Snakemake's
    metadata kept), nor reuse another's folder (metadata lost); each table is over its own images."""
    lists = {"a": ["astronaut", "coffee"], "b": ["astronaut", "chelsea", "coffee", "rocket"],
             "c": ["chelsea", "coffee", "grace_hopper"]}
    configs = {name: write_config(tmp_path, experiment(name, {"mini": mini(test)})) for name, test in lists.items()}
    run_all(tmp_path, configs["a"])
    run_all(tmp_path, configs["b"])
    assert planned(tmp_path, configs["a"]) == []  # the first experiment's results still stand
    assert planned(tmp_path, configs["b"]) == []
    shutil.rmtree(tmp_path / ".snakemake" / "metadata")  # a checkout without them (copied results, say)
    run_all(tmp_path, configs["c"])
    for name, test in lists.items():
        out = tmp_path / "results" / name
        df = pd.read_parquet(out / "results.parquet")
        for resampler in RESAMPLERS:
            assert sorted(df.loc[df["resampler"] == resampler, "image"].unique()) == sorted(test), (name, resampler)
        counts = table_counts((out / "table.md").read_text())
        assert counts and set(counts) == {len(test)}, (name, counts)
        assert "Nothing was left out." in (out / "left_out.md").read_text()
    assert len(list((tmp_path / "resources" / "data" / "mini").iterdir())) == 3  # one folder per test list


# -- (2) the evaluation refuses a test split other than the config's ---------------------------------


def hand_made(root: Path, test: list[str]) -> Path:
    add_pair(root, "train", "motorcycle_left", seed=0)
    for i, name in enumerate(test):
        add_pair(root, "test", name, seed=1 + i)
    return root


def test_a_test_split_other_than_the_listed_one_is_refused(tmp_path):
    folder = hand_made(tmp_path / "prepared", ["astronaut", "coffee"])
    spec = mini(["astronaut", "chelsea", "coffee"])
    with pytest.raises(LmarError) as exc:
        check_test_split(folder, ["astronaut", "coffee"], spec, "mini")
    msg = str(exc.value)
    assert "datasets.mini.params.test" in msg and str(folder) in msg and "chelsea" in msg and "delete" in msg
    check_test_split(folder, ["astronaut", "coffee"], mini(["coffee", "astronaut"]), "mini")  # the same list: fine
    with pytest.raises(LmarError, match="not listed rocket"):  # one more image than listed
        check_test_split(folder, ["astronaut", "coffee", "rocket"], mini(["astronaut", "coffee"]), "mini")


def test_a_published_test_count_other_than_expected_is_refused(tmp_path):
    spec = {"type": "folder", "params": {"local_path": str(tmp_path), "expected": {"train": 1, "test": 3}}}
    with pytest.raises(LmarError, match=r"datasets\.mine\.params\.expected\.test expects 3 test pairs .* holds 2"):
        check_test_split(tmp_path, ["a", "b"], spec, "mine")
    check_test_split(tmp_path, ["a", "b", "c"], spec, "mine")
    check_test_split(tmp_path, ["a", "b"], {"type": "folder", "params": {"local_path": str(tmp_path)}}, "mine")


def test_evaluate_refuses_a_mismatched_split_and_writes_nothing(tmp_path, capsys, backbone_ckpt):
    """Through the CLI the workflow calls: one error line naming the key and the folder, no outputs."""
    folder = hand_made(tmp_path / "prepared", ["astronaut", "coffee"])
    out, images = tmp_path / "out" / "m.csv", tmp_path / "out" / "img"
    argv = ["evaluate", "--data", str(folder), "--backbone", str(backbone_ckpt),
            "--resampler-spec", json.dumps({"type": "bicubic"}), "--evaluation", json.dumps({"scales": [2]}),
            "--labels", json.dumps({"dataset": "mini", "backbone": "unet", "resampler": "bicubic", "config_hash": "x"}),
            "--out", str(out), "--images", str(images), "--device", "cpu"]
    capsys.readouterr()
    rc = main([*argv, "--dataset-spec", json.dumps(mini(["astronaut", "chelsea", "coffee"]))])
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert rc == 2 and len(lines) == 1, err
    assert "datasets.mini.params.test" in lines[0] and str(folder) in lines[0] and "chelsea" in lines[0]
    assert not out.exists() and not images.exists()
    assert main([*argv, "--dataset-spec", json.dumps(mini(["astronaut", "coffee"]))]) == 0
    assert sorted(pd.read_csv(out)["image"].unique()) == ["astronaut", "coffee"]


# -- (3) a linked dataset is identified by what its files hold ---------------------------------------


def test_a_linked_dataset_key_follows_its_files_not_their_times(tmp_path):
    data = linked_dataset(tmp_path / "data")
    spec = {"type": "folder", "params": {"local_path": str(data)}}
    cache = tmp_path / "cache.json"
    key = dataset_key(spec, cache)
    assert cache.is_file() and dataset_key(spec, cache) == key == dataset_key(spec)  # cached or not
    for f in data.rglob("*.png"):
        os.utime(f, ns=(1_000_000_000, 1_000_000_000))  # new times, same bytes
    assert dataset_key(spec, cache) == key
    clone = tmp_path / "clone"
    shutil.copytree(data, clone, copy_function=shutil.copyfile)  # new times
    assert content_hash(clone) == content_hash(data)
    add_pair(data, "test", "te_new", seed=7)
    assert dataset_key(spec, cache) != key
    assert dataset_key(mini(["coffee"])) != dataset_key(mini(["coffee", "rocket"]))  # params, no files


def test_a_file_rewritten_with_as_many_bytes_changes_the_key_despite_the_cache(tmp_path):
    """The cache keeps a file's digest by path, size and modification time: a file rewritten in place
    with other bytes of the same length (and a new time) is read again, so the key changes."""
    data = linked_dataset(tmp_path / "data")
    spec = {"type": "folder", "params": {"local_path": str(data)}}
    cache = tmp_path / "cache.json"
    key = dataset_key(spec, cache)
    image = data / "test" / "gt" / "te0.png"
    before, st = image.read_bytes(), image.stat()
    changed = bytearray(before)
    changed[len(changed) // 2] ^= 0xFF  # one byte flipped: other content, the same size
    image.write_bytes(bytes(changed))
    os.utime(image, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # a new time, whatever the clock's grain
    assert image.stat().st_size == st.st_size and image.read_bytes() != before
    assert dataset_key(spec, cache) != key
    assert dataset_key(spec, cache) == dataset_key(spec)  # what the cache now holds is the file's new digest
    image.write_bytes(before)  # the old bytes back (under yet another time): the old key
    assert dataset_key(spec, cache) == key


@pytest.mark.slow
def test_a_pair_added_to_a_linked_dataset_reruns_everything_on_it(tmp_path):
    """New mtimes alone plan nothing; a new test pair plans prepare and every job downstream of it."""
    data = linked_dataset(tmp_path / "linked")
    config = write_config(tmp_path, experiment("linked", {"mine": {"type": "folder", "params": {"local_path": str(data)}}}))
    work = tmp_path / "work"
    work.mkdir()
    run_all(work, config)
    assert planned(work, config) == []
    for f in sorted(data.rglob("*")):
        os.utime(f)  # now: newer than every output
    assert planned(work, config) == []
    add_pair(data, "test", "te_new", seed=7)
    jobs = planned(work, config)
    rules = [j.split()[0] for j in jobs]
    for rule in ("prepare_data", "pretrain_backbone", "gather", "table"):
        assert rule in rules, jobs
    evaluated = sorted(re.search(r"resampler=(\w+)", j).group(1) for j in jobs if j.startswith("evaluate "))
    assert evaluated == sorted(RESAMPLERS), jobs


def test_a_folder_keyed_for_other_params_is_not_built_from_these(tmp_path):
    """A path under resources/data/<name>/ whose key is not the current entry's is refused at planning."""
    config = write_config(tmp_path, experiment("stale", {"mini": mini(["coffee"])}))
    stale = "resources/data/mini/0123456789ab"
    res = snakemake(tmp_path, config, "-n", "--cores", "1", stale)
    assert res.returncode != 0 and "not the folder of config key datasets.mini" in res.stdout + res.stderr
    current = f"resources/data/mini/{dataset_key(mini(['coffee']))}"
    res = snakemake(tmp_path, config, "-n", "--cores", "1", current)
    assert res.returncode == 0 and "prepare_data" in res.stdout, res.stdout[-2000:] + res.stderr[-2000:]
