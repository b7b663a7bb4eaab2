"""The benchmark suite's plumbing (not its numbers): every case runs and yields its ratio.

The GPU variant set (every precision, the reference path, every training speed option) is
exercised on CPU at a tiny size, in-process, so the suite cannot break unseen where it only
runs on a GPU.
"""

from __future__ import annotations

import json

import pytest
import torch

from lmar.bench import benchmarks
from lmar.cli import main
from lmar.core.errors import LmarError


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
    profiles = [c for c in result["cases"] if c["kind"] == "profile"]
    assert [c["label"] for c in profiles] == ["lmar x1.8 fp32 profile", "lmar x1.8 bf16 profile"]
    assert all(c["ops"] for c in profiles)
    assert "DEU unet lmar x1.8 fp32, resampler bf16 / full resolution fp32 time" in result["ratios"]
    assert "lmar training steps per second at 16x16 crops (bf16)" in result["ratios"]


def test_profile_breaks_lmar_down_by_op():
    """The profile case on CPU: LMAR's ops by self CPU time, per forward, shares of the total."""
    repeats = 2
    out = _in_process("profile", device="cpu", hw=(32, 48), size=(18, 27), repeats=repeats,
                      resampler={"type": "lmar", "params": {"interpolation": "bicubic", "hidden": 16, "depth": 1,
                                                            "chunk_pixels": 10**6}})
    assert json.loads(json.dumps(out)) == out
    assert out["seconds"] > 0 and out["profiled_seconds"] > 0 and len(out["seconds_all"]) == repeats
    assert out["column"] == "self_cpu_time_total" and "host" not in out  # the device column only on CUDA
    rows = {r["name"]: r for r in out["ops"]}
    assert 0 < len(rows) <= benchmarks.PROFILE_ROWS
    assert any("upsample_bicubic" in n for n in rows), list(rows)  # the bicubic resizes
    assert rows["aten::addmm"]["calls"] == 1  # the MLP's first layer (the one with a bias), once per forward
    assert rows["aten::mm"]["calls"] >= 1  # its last layer, without a bias (one band)
    shares = [r["share"] for r in out["ops"]]
    assert all(0 < s <= 1 for s in shares) and shares == sorted(shares, reverse=True)
    assert sum(shares) + out["other"]["share"] == pytest.approx(1.0)
    assert sum(r["ms"] for r in out["ops"]) + out["other"]["ms"] == pytest.approx(out["total_ms"])
    assert 0 < out["busy_over_wall"] and out["total_ms"] / 1e3 == pytest.approx(out["busy_over_wall"] * out["seconds"])


def test_profile_section_only_at_x18(gpu_variants_on_cpu):
    lines = []
    result = benchmarks.run_suite("cpu", hw=(24, 40), repeats=1, progress=lines.append, sections=["profile"])
    assert [c["label"] for c in result["cases"]] == [f"lmar x1.8 {p} profile" for p in benchmarks.PRECISIONS]
    assert all(c["kind"] == "profile" and c["size"] == [13, 22] and c["ops"] for c in result["cases"])
    assert sorted(result["ratios"]) == sorted(f"profile x1.8: lmar {p} CPU op busy / wall time"
                                              for p in benchmarks.PRECISIONS)
    assert any("aten::" in line and "%" in line for line in lines)  # the top ops printed


def test_precision_mode_rejects_unknown():
    with pytest.raises(LmarError, match="fp8"), benchmarks.precision_mode("fp8", torch.device("cpu")):
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


def test_a_failing_case_is_recorded_and_the_rest_run(gpu_variants_on_cpu):
    broken = {"broken": {"type": "no_such_backbone"}}
    result = benchmarks.run_suite("cpu", hw=(24, 40), repeats=1, progress=lambda m: None, sections=["deu", "decode"],
                                  backbones=broken)
    assert result["complete"]
    assert "broken full resolution fp32" in result["failed"] and "no_such_backbone" in result["failed"][
        "broken full resolution fp32"]
    assert not any(k.startswith("DEU broken") for k in result["ratios"])  # no ratio from a missing case
    assert [c["label"] for c in result["cases"]] == ["png"]  # the cases after the failures still ran
    assert "png decode images per second" in result["ratios"]


def test_bench_cli_exits_nonzero_when_a_case_failed(tmp_path, monkeypatch, capsys):
    def failing(kind, **args):
        raise RuntimeError("decoder exploded")

    monkeypatch.setattr(benchmarks, "measure", failing)
    out = tmp_path / "suite.json"
    assert main(["bench", "--out", str(out), "--size", "16", "24", "--device", "cpu", "--sections", "decode"]) == 1
    assert "benchmark case 'png' failed: RuntimeError: decoder exploded" in capsys.readouterr().err
    result = json.loads(out.read_text())
    assert result["complete"] and result["failed"] == {"png": "RuntimeError: decoder exploded"}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (device memory statistics)")
def test_gpu_first_calls_peak_is_reported_apart():
    """A first call's one-off workspace (as cuDNN's algorithm search takes) counts in the warm-up's
    peak, not in the steady state's."""
    device = torch.device("cuda")
    calls = []

    def fn():
        size = 64 * 2**20 if not calls else 2**20  # bytes: the first call's workspace, then the steady state's
        calls.append(torch.empty(size, dtype=torch.uint8, device=device).fill_(1).sum())

    out = benchmarks._timed(fn, device, repeats=3, warmup=1)
    assert out["peak_extra_mib_warmup"] >= 64
    assert out["peak_extra_mib"] < 32  # 9.0 MiB on an H100 (1 MiB blocks, the reduction's buffers)


def test_cpu_peak_includes_the_warm_up():
    calls = []

    def fn():
        calls.append(1)

    out = benchmarks._timed(fn, torch.device("cpu"), repeats=2, warmup=1)
    assert len(calls) == 3 and "peak_extra_mib_warmup" not in out and out["peak_extra_mib"] >= 0
