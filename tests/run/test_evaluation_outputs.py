"""Scoring in memory, saving a sample, decoding once per job (issue: paper-scale evaluation).

Every output is quantised on the device to the levels its file would hold and scored from them: the
scores must not depend on which outputs are written or on the number of decoding workers; a saved
file, read back, must score exactly as its row says."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import CPU, LABELS, LMAR_PARAMS, TEST_NAMES, entries, to_16bit

from lmar.core.errors import LmarError
from lmar.data import loader
from lmar.data.images import read_image
from lmar.run.evaluate import evaluate
from lmar.run.metrics import Scorer

SCORES = ["psnr", "ssim"]
FIRST = sorted(TEST_NAMES)[0]


def _lmar(mini_data, backbone_ckpt, lmar_ckpt, out, **evaluation):
    settings = {"scales": [1.5, 2, 3], "upsampler": "bicubic", "metrics": SCORES, **evaluation}
    return evaluate(mini_data, backbone_ckpt, {"type": "lmar", "params": LMAR_PARAMS}, lmar_ckpt, settings,
                    out / "m.csv", out / "img", CPU, dict(LABELS))


@pytest.fixture(scope="module")
def saved_and_not(mini_data, backbone_ckpt, lmar_ckpt, tmp_path_factory):
    """LMAR evaluated three ways: every output saved, none saved, and none saved without workers."""
    out = tmp_path_factory.mktemp("save")
    return {
        "all": _lmar(mini_data, backbone_ckpt, lmar_ckpt, out / "all", save_outputs="all", workers=2),
        "none": _lmar(mini_data, backbone_ckpt, lmar_ckpt, out / "none", save_outputs=0, workers=1),
        "inline": _lmar(mini_data, backbone_ckpt, lmar_ckpt, out / "inline", save_outputs=0, workers=0),
    }, out


def test_scores_do_not_depend_on_saving_or_workers(saved_and_not):
    runs, _ = saved_and_not
    key = ["target", "image"]
    ref = runs["all"].sort_values(key).reset_index(drop=True)
    for name in ("none", "inline"):
        other = runs[name].sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(ref[key + SCORES], other[key + SCORES], check_exact=True)  # to the last digit


def test_a_saved_output_scores_exactly_as_its_row(saved_and_not, mini_data):
    """Read back from the file and scored image by image: the in-memory levels were the file's."""
    runs, out = saved_and_not
    scorer = Scorer(SCORES, CPU)
    for row in runs["all"].itertuples():
        saved = read_image(out / "all" / "img" / row.target / f"{row.image}.png")
        scores = scorer(saved, read_image(mini_data / "test" / "gt" / f"{row.image}.png"))
        assert (scores["psnr"], scores["ssim"]) == (row.psnr, row.ssim), (row.target, row.image)


def test_save_outputs_writes_the_sample_and_the_figure_image(saved_and_not, mini_data, backbone_ckpt, tmp_path):
    _, out = saved_and_not
    assert entries(out / "all" / "img") == sorted(
        ["x1.5", "x2", "x3"] + [f"{t}/{n}.png" for t in ("x1.5", "x2", "x3") for n in TEST_NAMES])
    # none saved: still the report's crop, the first image at the target nearest x2
    assert entries(out / "none" / "img") == ["x2", f"x2/{FIRST}.png"]
    df = evaluate(mini_data, backbone_ckpt, {"type": "bicubic"}, None, {"scales": [3, 4], "save_outputs": 2},
                  tmp_path / "b.csv", tmp_path / "img", CPU, dict(LABELS))
    first2 = sorted(TEST_NAMES)[:2]
    assert entries(tmp_path / "img") == sorted(["x3", "x4"] + [f"{t}/{n}.png" for t in ("x3", "x4") for n in first2])
    assert len(df) == 2 * len(TEST_NAMES)  # every image scored


@pytest.mark.parametrize("value", [-1, "some", True, 1.5, None])
def test_a_bad_save_outputs_is_refused_before_any_work(mini_data, backbone_ckpt, tmp_path, value):
    with pytest.raises(LmarError, match="evaluation.save_outputs"):
        evaluate(mini_data, backbone_ckpt, {"type": "bicubic"}, None, {"scales": [2], "save_outputs": value},
                 tmp_path / "b.csv", tmp_path / "img", CPU, dict(LABELS))
    assert not (tmp_path / "b.csv").exists() and not (tmp_path / "img").exists()


@pytest.mark.parametrize("value", [-1, "many", True])
def test_a_bad_workers_is_refused(value):
    with pytest.raises(LmarError, match="evaluation.workers"):
        loader.resolve_workers(value, CPU)


def test_auto_workers():
    assert loader.resolve_workers("auto", CPU) == 0  # a CPU computes with its threads: decode between passes
    assert loader.resolve_workers("auto", torch.device("cuda"), 16) == 15
    assert loader.resolve_workers("auto", torch.device("cuda"), 1) == 1
    assert loader.resolve_workers(0, CPU) == 0


def test_each_pair_is_decoded_once_per_job(mini_data, backbone_ckpt, tmp_path, monkeypatch):
    """Five targets, one read of each input and each ground truth (in this process: workers 0)."""
    reads = []
    real = loader.read_image_array
    monkeypatch.setattr(loader, "read_image_array", lambda p: reads.append(p) or real(p))
    df = evaluate(mini_data, backbone_ckpt, {"type": "bicubic"}, None,
                  {"scales": [1.5, 2, 3, 4, 5], "workers": 0}, tmp_path / "b.csv", tmp_path / "img", CPU,
                  dict(LABELS))
    assert len(df) == 5 * len(TEST_NAMES)
    assert sorted(reads) == sorted(mini_data / "test" / s / f"{n}.png" for s in ("input", "gt") for n in TEST_NAMES)


def test_an_unreadable_pair_in_a_worker_is_one_error_naming_it(data_copy, backbone_ckpt, tmp_path):
    bad = data_copy / "test" / "gt" / "coffee.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage")
    with pytest.raises(LmarError, match=f"cannot read image {bad}") as info:
        evaluate(data_copy, backbone_ckpt, {"type": "bicubic"}, None, {"scales": [2], "workers": 2},
                 tmp_path / "b.csv", tmp_path / "img", CPU, dict(LABELS))
    assert "Traceback" not in str(info.value)
    assert not (tmp_path / "b.csv").exists() and not (tmp_path / "img").exists()


def test_16bit_outputs_are_scored_as_their_16bit_files(data_copy, backbone_ckpt, tmp_path):
    for p in sorted((data_copy / "test").glob("*/*.png")):
        to_16bit(p)
    df = evaluate(data_copy, backbone_ckpt, {"type": "bicubic"}, None, {"scales": [2], "save_outputs": "all"},
                  tmp_path / "b.csv", tmp_path / "img", CPU, dict(LABELS))
    scorer = Scorer(SCORES, CPU)
    for row in df.itertuples():
        saved = read_image(tmp_path / "img" / row.target / f"{row.image}.png")
        assert saved.mul(65535).round().sub(saved.mul(255).round().mul(257)).abs().max() > 0  # really 16-bit levels
        scores = scorer(saved, read_image(data_copy / "test" / "gt" / f"{row.image}.png"))
        assert (scores["psnr"], scores["ssim"]) == (row.psnr, row.ssim)


def test_the_breakdown_accounts_for_the_job(mini_data, backbone_ckpt, tmp_path):
    parts = {}
    evaluate(mini_data, backbone_ckpt, {"type": "bicubic"}, None, {"scales": [2, 3], "save_outputs": 1},
             tmp_path / "b.csv", tmp_path / "img", CPU, dict(LABELS), breakdown=parts)
    assert parts["pairs"] == len(TEST_NAMES) and parts["targets"] == 2 and parts["outputs_written"] == 2
    measured = ("first_wait_s", "wait_s", "transfer_s", "resample_s", "enhance_s", "upsample_s", "score_s", "write_s", "count_flops_s")
    assert all(parts[k] >= 0 for k in measured) and parts["decode_s"] > 0
    assert sum(parts[k] for k in measured) <= parts["loop_s"] <= parts["wall_s"]
    files = [p for p in (tmp_path / "img").rglob("*") if p.is_file()] + [tmp_path / "b.csv"]
    assert parts["bytes_written"] == sum(p.stat().st_size for p in files)
    assert np.isnan(parts["peak_device_mib"]) and parts["peak_host_mib"] > 0


def test_a_folder_of_jpegs_is_evaluated_too(data_copy, backbone_ckpt, tmp_path):
    """Decoding in workers keeps every reader: JPEG inputs score like their PNG twins within JPEG's loss."""
    from PIL import Image

    for p in sorted((data_copy / "test" / "input").glob("*.png")):
        with Image.open(p) as im:
            im.convert("RGB").save(p.with_suffix(".jpg"), quality=98)
        p.unlink()
    df = evaluate(data_copy, backbone_ckpt, {"type": "bicubic"}, None, {"scales": [2]}, tmp_path / "b.csv",
                  tmp_path / "img", CPU, dict(LABELS))
    assert sorted(df.image) == sorted(TEST_NAMES) and df.psnr.notna().all()
    shutil.rmtree(tmp_path / "img")


@pytest.mark.parametrize("writers", ["in place", "threads"])
def test_no_write_runs_beside_a_timed_pass_and_each_row_says_how_much_it_waited(mini_data, backbone_ckpt, tmp_path,
                                                                                 monkeypatch, writers):
    """Every file written (slowly, 0.1 s each) starts and ends outside every timed Downsample -> Enhance ->
    Upsample pass: a time never includes this job's own writing. A CPU writes in place; CUDA's background
    threads (forced here on the CPU) are waited for before each pass."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    import lmar.run.evaluate as evaluation
    from lmar.run import cpu_wait

    if writers == "threads":
        monkeypatch.setattr(evaluation, "_InPlace", lambda: ThreadPoolExecutor(evaluation.WRITERS))

    writes, passes, lock = [], [], threading.Lock()
    real_write, real_deu = evaluation.write_image, evaluation.deu_staged

    def slow_write(*args, **kwargs):
        start = time.perf_counter()
        time.sleep(0.1)
        real_write(*args, **kwargs)
        with lock:
            writes.append((start, time.perf_counter()))

    def timed_deu(*args, **kwargs):
        start = time.perf_counter()
        out = real_deu(*args, **kwargs)
        passes.append((start, time.perf_counter()))
        return out

    monkeypatch.setattr(evaluation, "write_image", slow_write)
    monkeypatch.setattr(evaluation, "deu_staged", timed_deu)
    df = evaluate(mini_data, backbone_ckpt, {"type": "bicubic"}, None, {"scales": [2, 3], "save_outputs": "all"},
                  tmp_path / "b.csv", tmp_path / "img", CPU, dict(LABELS))
    assert len(writes) == len(passes) == 2 * len(TEST_NAMES)
    overlaps = [(w, p) for w in writes for p in passes if w[0] < p[1] and p[0] < w[1]]
    assert not overlaps
    if cpu_wait.snapshot() is not None:  # Linux: a share of the runnable time, between 0 and 1
        assert df["cpu_wait"].between(0, 1).all()
    else:
        assert df["cpu_wait"].isna().all()


@pytest.mark.parametrize("writers", ["in place", "threads"])
def test_a_failed_write_fails_the_job_and_leaves_no_output(mini_data, backbone_ckpt, tmp_path, monkeypatch, writers):
    from concurrent.futures import ThreadPoolExecutor

    import lmar.run.evaluate as evaluation

    if writers == "threads":
        monkeypatch.setattr(evaluation, "_InPlace", lambda: ThreadPoolExecutor(evaluation.WRITERS))
    calls, real = [], evaluation.write_image

    def full_disk(*args, **kwargs):  # the third file finds the disk full
        calls.append(1)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluation, "write_image", full_disk)
    # one error naming the output and what to do (atomic_dir turns the write's OSError into it)
    with pytest.raises(LmarError, match=f"cannot write {tmp_path / 'img'}: No space left on device; free some space"):
        evaluate(mini_data, backbone_ckpt, {"type": "bicubic"}, None, {"scales": [2, 3], "save_outputs": "all"},
                 tmp_path / "b.csv", tmp_path / "img", CPU, dict(LABELS))
    assert entries(tmp_path) == []  # neither the scores nor a folder of images
