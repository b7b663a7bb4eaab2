"""The evaluation-at-scale benchmark: its synthetic set, its target shapes, its extrapolation (checked
by hand) and a tiny run end to end. No timing is asserted: the numbers are the benchmark's output."""

from __future__ import annotations

import json

import pytest
import torch

from lmar.bench import scale_bench
from lmar.cli import main
from lmar.data.images import read_image
from lmar.data.pairs import list_pairs
from lmar.run.targets import parse_targets


def test_the_paper_grid_is_read_from_the_paper_config():
    grid = scale_bench.paper_grid()
    assert list(grid["backbones"]) == ["unet", "nafnet"]
    assert list(grid["resamplers"]) == ["lanczos3", "bicubic", "area", "learned_resizer", "lmar", "full_resolution"]
    assert [s["size"] for s in grid["evaluation"]["sizes"]][:2] == [[1440, 2560], [1200, 1600]]
    assert all("train" not in e for e in grid["resamplers"].values())


def test_fixed_4k_sizes_become_fractions_that_keep_their_shapes():
    targets = parse_targets(scale_bench.as_fractions(scale_bench.paper_grid()["evaluation"]))
    assert [t.resolve((2160, 3840)) for t in targets] == [(1440, 2560), (1200, 1600), (1200, 2133), (1080, 1920),
                                                          (720, 1280), (540, 960)]
    assert targets[1].resolve((540, 960)) == (300, 400)  # the authors' x1.8 keeps its changed aspect ratio


def test_synthetic_pairs(tmp_path):
    scale_bench.write_synthetic(tmp_path, 3, (40, 72), processes=2)
    pairs = list_pairs(tmp_path, "test")
    assert [p.name for p in pairs] == ["0000", "0001", "0002"]
    for p in pairs:
        x, gt = read_image(p.input), read_image(p.gt)
        assert x.shape == gt.shape == (3, 40, 72) and x.mean() < 0.5 * gt.mean()  # a dark input


def test_the_extrapolation_by_hand():
    job = {"loop_s": 20.0, "count_flops_s": 2.0, "first_wait_s": 4.0, "pairs": 7, "targets": 6, "setup_s": 3.0,
           "images_bytes": 1000, "csv_bytes": 700}
    got = scale_bench.extrapolate([job, job], (1080, 1920), 2100, startup_s=5.0, lpips_s={"first": 0.8, "more": 0.5})
    # per job: 5 + 3 + 4 + 2 * 4 + 2100 * ((20 - 2 - 4) / 7 + 0.8 + 5 * 0.5) * 4 = 20 + 2100 * 5.3 * 4 = 44540 s
    assert got["hours"] == pytest.approx(2 * 44540 / 3600)
    without = scale_bench.extrapolate([job], (1080, 1920), 2100, startup_s=5.0)  # LPIPS timed in the job, or none
    assert without["hours"] == pytest.approx((20 + 2100 * 2 * 4) / 3600)
    assert got["gb_written"] == pytest.approx(2 * (1000 * 4 + 700 * 2100 / 7) / 1e9)
    assert got["pixel_ratio"] == 4 and got["jobs"] == 2 and got["pairs"] == 2100


def test_lpips_is_timed_for_a_pairs_first_output_and_each_further_one():
    got = scale_bench.lpips_seconds((40, 48), torch.device("cpu"), repeats=1)
    assert set(got) == {"first", "more"} and all(0 < s < float("inf") for s in got.values())


def test_a_tiny_run_end_to_end(tmp_path, capsys):
    grid = {"backbones": {"unet": {"type": "unet_lite", "params": {"width": 8}}},
            "resamplers": {"bicubic": {"type": "bicubic"}, "lmar": {"type": "lmar", "params": {"hidden": 16, "depth": 2}},
                           "full_resolution": {"type": "full_resolution"}},
            "evaluation": {"sizes": [{"name": "x2", "size": [1080, 1920]}, {"name": "x4", "size": [540, 960]}],
                           "metrics": ["psnr", "ssim"]}}
    seen = []
    result = scale_bench.run(tmp_path, "cpu", (64, 96), pairs=2, workers=1, save_outputs=1, grid=grid,
                             progress=lambda m: None, precision="bf16", partial=lambda r: seen.append(len(r["jobs"])))
    assert seen == [1, 2, 3] and result["complete"] and result["precision"] == "bf16"
    assert [(j["backbone"], j["resampler"], j["targets"]) for j in result["jobs"]] == [
        ("unet", "bicubic", 2), ("unet", "lmar", 2), ("unet", "full_resolution", 1)]
    for j in result["jobs"]:
        assert j["images_per_s"] == pytest.approx(2 * j["targets"] / j["loop_s"])
        assert j["outputs_written"] == j["targets"]  # the first image at every target
    assert result["lpips_random_weights_s"] is None and not result["lpips_timed_in_jobs"]  # LPIPS not asked for
    assert set(result["protocols"]) == {"uhd_lol4k", "uhd_ll"} and result["protocols"]["uhd_lol4k"]["pairs"] == 2100
    assert result["protocols"]["uhd_lol4k"]["hours"] > result["protocols"]["uhd_ll"]["hours"] > 0
    text = scale_bench.markdown(result)
    assert "| unet | lmar |" in text and "scaled from 64x96 by pixels" in text and "; no LPIPS;" in text
    assert list(tmp_path.iterdir()) == []  # the synthetic set and runs were temporary
    json.dumps(result)  # writable as JSON


def test_the_cli_refuses_a_bad_size(tmp_path, capsys):
    assert main(["bench-eval", "--out", str(tmp_path), "--size", "32", "32", "--device", "cpu"]) != 0
    assert "--size at least 64 64" in capsys.readouterr().err


def test_two_runs_write_the_same_sample(tmp_path):
    """Untrained weights are seeded, so the bytes of the saved sample (extrapolated to GB written) repeat."""
    grid = {"backbones": {"unet": {"type": "unet_lite", "params": {"width": 8}}},
            "resamplers": {"lmar": {"type": "lmar", "params": {"hidden": 16, "depth": 2}}},
            "evaluation": {"sizes": [{"name": "x2", "size": [1080, 1920]}], "metrics": ["psnr"]}}
    runs = [scale_bench.run(tmp_path, "cpu", (64, 96), pairs=1, workers=0, save_outputs=1, grid=grid,
                            progress=lambda m: None) for _ in range(2)]
    first, second = (r["jobs"][0]["images_bytes"] for r in runs)
    assert first == second > 0
