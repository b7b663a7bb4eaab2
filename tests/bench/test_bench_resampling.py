"""pytest-benchmark benchmarks (skipped by the test run; `make bench` runs them).

Compare within one run: `pytest tests/bench --benchmark-only --benchmark-group-by=group`.
Peak memory and the full 4K suite are in `lmar bench` (JSON under results/benchmarks/).
"""

from __future__ import annotations

import os

import pytest
import torch

from lmar.core.registry import RESAMPLERS
from lmar.parts.backbones.unet_lite import UNetLite
from lmar.run.pipeline import deu

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
# 4K on a GPU; a 1080p frame on a CPU keeps a laptop run in minutes (override: LMAR_BENCH_HW=2160x3840)
_DEFAULT_HW = "2160x3840" if DEVICE.type == "cuda" else "1080x1920"
HW = tuple(int(v) for v in os.environ.get("LMAR_BENCH_HW", _DEFAULT_HW).split("x"))
TARGET = (round(HW[0] / 1.8), round(HW[1] / 1.8))
ROUNDS = 3 if DEVICE.type == "cuda" else 1


def _sync():
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


@pytest.fixture(scope="module")
def frame():
    torch.manual_seed(0)
    return torch.rand(1, 3, *HW, device=DEVICE)


def _bench(benchmark, fn):
    def run():
        with torch.no_grad():
            out = fn()
        _sync()
        return out

    return benchmark.pedantic(run, rounds=ROUNDS, warmup_rounds=1)


@pytest.mark.parametrize("name", ["bicubic", "lmar"])
def test_resample(benchmark, frame, name):
    benchmark.group = f"resample {HW[0]}x{HW[1]} -> {TARGET[0]}x{TARGET[1]} on {DEVICE.type}"
    net = RESAMPLERS.build({"type": name}).to(DEVICE).eval()
    out = _bench(benchmark, lambda: net(frame, TARGET))
    assert tuple(out.shape[-2:]) == TARGET


@pytest.mark.parametrize("name", ["full_resolution", "bicubic", "lmar"])
def test_deu(benchmark, frame, name):
    benchmark.group = f"DEU with the U-Net at x1.8 of {HW[0]}x{HW[1]} on {DEVICE.type}"
    backbone = UNetLite().to(DEVICE).eval()
    net = RESAMPLERS.build({"type": name}).to(DEVICE).eval()
    out = _bench(benchmark, lambda: deu(frame, TARGET, net, backbone))
    assert tuple(out.shape[-2:]) == HW
