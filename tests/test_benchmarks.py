"""The benchmark suite's plumbing (not its numbers): every case runs and yields its ratio.

The GPU variant set (every precision, the reference path, every training speed option) is
exercised on CPU at a tiny size, in-process, so the suite cannot break unseen where it only
runs on a GPU.
"""

from __future__ import annotations

import json

import pytest
import torch

from lmar import benchmarks
from lmar.cli import main


def _in_process(kind, **args):
    args.setdefault("repeats", 1)
    args.setdefault("warmup", 1)
    return benchmarks._case(kind, args)


@pytest.fixture
def gpu_variants_on_cpu(monkeypatch):
    monkeypatch.setattr(benchmarks, "measure", _in_process)
    variants = {"resample": benchmarks.PRECISIONS, "reference": True, "deu": tuple(benchmarks.DEU_VARIANTS),
                "train": ("fp32", "bf16 channels-last"), "crop": 32}
    monkeypatch.setattr(benchmarks, "_variants", lambda device: variants)


def test_suite_runs_every_variant(gpu_variants_on_cpu):
    before = torch.get_float32_matmul_precision()
    result = benchmarks.run_suite("cpu", hw=(24, 40), repeats=1, progress=lambda m: None)
    assert torch.get_float32_matmul_precision() == before  # precision_mode restored it
    assert result["device"].startswith("cpu")
    labels = {c["label"] for c in result["cases"]}
    assert {"lmar x1.8 bf16", "lmar x2 tf32", "lmar x1.8 fp32 reference", "unet full resolution bf16 channels-last",
            "unet lmar x2 bf16 channels-last", "lmar train step 32x32 bf16 channels-last"} <= labels
    ratios = result["ratios"]
    assert "DEU unet lmar x1.8 bf16 channels-last / full resolution fp32 time" in ratios
    assert "resample x1.8: lmar bf16 reference / default path time" in ratios
    assert "DEU unet lmar x2 fp32, resampler bf16 / full resolution fp32 time" in ratios
    assert all(v > 0 for k, v in ratios.items() if "memory" not in k), ratios  # in-process RSS may not grow
    for c in result["cases"]:
        assert c["seconds"] > 0 and len(c["seconds_all"]) == 1


def test_bench_cli_writes_json_on_cpu(tmp_path):
    """The real CPU path (cases in child processes), at a tiny size."""
    out = tmp_path / "suite.json"
    code = main(["bench", "--out", str(out), "--size", "16", "24", "--repeats", "1", "--train-crop", "16",
                 "--device", "cpu", "--threads", "1"])
    assert code == 0
    result = json.loads(out.read_text())
    assert result["input_hw"] == [16, 24] and result["complete"]
    assert "lmar training steps per second at 16x16 crops (fp32)" in result["ratios"]
    assert not any("reference" in c["label"] for c in result["cases"])  # CPU: LMAR always is the reference


def test_precision_mode_rejects_unknown():
    with pytest.raises(ValueError, match="fp16"), benchmarks.precision_mode("fp16", torch.device("cpu")):
        pass


def test_tune_kernel_needs_a_gpu(capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    pytest.importorskip("triton")
    assert main(["tune-kernel", "--out", "unused.json"]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().err


def test_sections_select_cases(gpu_variants_on_cpu):
    result = benchmarks.run_suite("cpu", hw=(24, 40), repeats=1, progress=lambda m: None, sections=["train"],
                                  train_options=["bf16"])
    assert [c["label"] for c in result["cases"]] == ["lmar train step 32x32 bf16"]


def test_unknown_section_names_the_choices(capsys):
    assert main(["bench", "--out", "unused.json", "--sections", "speed", "--device", "cpu"]) == 2
    assert "unknown section or training option ['speed']" in capsys.readouterr().err


def test_partial_results_after_each_case(gpu_variants_on_cpu):
    seen = []
    result = benchmarks.run_suite("cpu", hw=(24, 40), repeats=1, progress=lambda m: None, sections=["decode"],
                                  partial=lambda r: seen.append((len(r["cases"]), r["complete"])))
    assert seen == [(1, False)] and result["complete"]
