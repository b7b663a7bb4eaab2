"""Per-stage cost: deu_staged's times and memory, FLOP counts (counted and by convention), parameters.

Expected values are computed by hand here, from the layer shapes and the documented conventions."""

from __future__ import annotations

import math
import time

import pytest
import torch
from torch import nn

from helpers import CPU, LMAR_PARAMS

import lmar.parts.lmar.resampler
from baselines.full_resolution import FullResolution
from baselines.interpolation import Lanczos3
from lmar.parts import cost
from lmar.parts.backbones.unet_lite import UNetLite
from lmar.parts.cost import count_flops, param_count, resize_flops, stage_flops
from lmar.parts.lmar.resampler import LMAR
from lmar.run.pipeline import STAGES, deu, deu_staged

HW, SIZE = (40, 60), (20, 30)
MS = [f"{s}_ms" for s in STAGES]
PEAKS = [f"{s}_peak_mb" for s in STAGES]


@pytest.fixture(scope="module")
def backbone():
    torch.manual_seed(0)
    return UNetLite(width=8).eval()


def _lmar(**kw) -> LMAR:
    torch.manual_seed(1)
    net = LMAR(**{**LMAR_PARAMS, **kw}).eval()
    with torch.no_grad():  # a fusion that uses the map too, so that every part matters to the output
        net.fuse.weight.normal_(0.0, 0.3)
    return net


def _image(hw=HW, seed=0) -> torch.Tensor:
    return torch.rand(1, 3, *hw, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- deu_staged


@pytest.mark.parametrize("upsampler", ["bicubic", "lanczos3"])
def test_deu_staged_gives_deu_exactly_and_times_each_stage(backbone, upsampler):
    x, net = _image(), _lmar()
    with torch.no_grad():
        want = deu(x, SIZE, net, backbone, upsampler)
        t0 = time.perf_counter()
        y, stages = deu_staged(x, SIZE, net, backbone, upsampler, CPU)
        total_ms = (time.perf_counter() - t0) * 1e3
    assert torch.equal(y, want)
    assert list(stages) == MS + PEAKS
    assert all(stages[k] >= 0 for k in MS) and stages["enhance_ms"] > 0
    assert sum(stages[k] for k in MS) <= total_ms + 0.5  # the stages lie inside the call
    assert all(math.isnan(stages[k]) for k in PEAKS)  # no device memory to measure on a CPU


def test_deu_staged_full_resolution_has_no_resample_or_upsample(backbone):
    x = _image()
    with torch.no_grad():
        y, stages = deu_staged(x, HW, FullResolution(), backbone, "bicubic", CPU)
        assert torch.equal(y, deu(x, HW, FullResolution(), backbone, "bicubic"))
    assert stages["resample_ms"] == 0.0 and stages["upsample_ms"] == 0.0 and stages["enhance_ms"] > 0


def test_deu_staged_defaults_to_the_inputs_device(backbone):
    with torch.no_grad():
        _, stages = deu_staged(_image(), SIZE, Lanczos3(), backbone)
    assert set(stages) == set(MS + PEAKS)


# ---------------------------------------------------------------- counting


def test_count_flops_of_a_linear_layer_and_a_1x1_conv():
    torch.manual_seed(0)
    assert count_flops(nn.Linear(7, 16), torch.zeros(100, 7)) == 2 * 100 * 7 * 16
    assert count_flops(nn.Conv2d(3, 8, 1), torch.zeros(1, 3, 10, 10)) == 2 * 100 * 3 * 8


def test_param_count():
    assert param_count(nn.Linear(7, 16)) == 7 * 16 + 16
    assert param_count(FullResolution()) == 0
    shared = nn.Linear(2, 2)
    assert param_count(nn.Sequential(shared, shared)) == 6  # a shared layer once


def test_resize_flops_by_the_taps_convention():
    per_channel_output = 3 * 20 * 30 * 2
    assert resize_flops((40, 60), (20, 30), "bicubic", False) == per_channel_output * (4 + 4)
    assert resize_flops((40, 60), (20, 30), "bicubic", True) == per_channel_output * (8 + 8)  # support x2
    assert resize_flops((40, 60), (20, 30), "nearest", False) == 0
    assert resize_flops((40, 60), (20, 30), "bilinear", False) == per_channel_output * (2 + 2)
    assert resize_flops((40, 60), (20, 30), "lanczos3", True) == per_channel_output * (12 + 12)
    assert resize_flops((40, 60), (20, 30), "area", False) == per_channel_output * (2 + 2)  # 2x2 boxes
    assert resize_flops((40, 60), (20, 30), "cubic", False, channels=8) == 8 * 20 * 30 * 2 * (4 + 4)
    # upscaling: antialias changes nothing; 10 -> 3 antialiased bilinear: ceil(2 * 10 / 3) = 7 taps
    assert resize_flops((20, 30), (40, 60), "bicubic", True) == 3 * 40 * 60 * 2 * (4 + 4)
    assert resize_flops((10, 10), (3, 10), "bilinear", True) == 3 * 3 * 10 * 2 * (7 + 0)  # the kept axis: 0
    assert resize_flops((40, 60), (40, 60), "bicubic", False) == 0


def test_resize_flops_refuses_what_resize_refuses():
    from lmar.core.errors import LmarError

    with pytest.raises(LmarError):
        resize_flops((40, 60), (20, 30), "area", True)
    with pytest.raises(LmarError):
        resize_flops((40, 60), (20, 30), "spline", False)


# ---------------------------------------------------------------- stages


def _lmar_by_hand(taps: int) -> int:
    """LMAR (LMAR_PARAMS: hidden 16, depth 2) of a 3x40x60 image to 20x30, counted by hand."""
    (H, W), (h, w) = HW, SIZE
    hidden = LMAR_PARAMS["hidden"]
    mlp = 7 * hidden + hidden * hidden + hidden * 81  # 7 -> 16 -> 16 -> 27x3
    per_pixel = 2 * H * W * (mlp + 27 * 3)  # the MLP and the 27x3 kernel on the 3x3x3 patch
    fusion = 2 * h * w * 6 * 3  # the 1x1 conv 6 -> 3 at the target size
    down, up = 3 * h * w * 2 * (taps + taps), 3 * H * W * 2 * (taps + taps)
    return per_pixel + fusion + 2 * down + up  # R(x, size), R(C, size); R(x0, (H, W)) for the residual


def test_stage_flops_of_lmar_and_a_tiny_unet(backbone):
    net = _lmar(interpolation="bicubic")
    f = stage_flops(net, backbone, "bicubic", HW, SIZE, CPU)
    assert list(f) == ["resample_gflops", "enhance_gflops", "upsample_gflops"]
    assert f["resample_gflops"] > 0 and f["enhance_gflops"] > 0
    with torch.no_grad():
        assert f["enhance_gflops"] == count_flops(backbone, torch.zeros(1, 3, *SIZE)) / 1e9
    assert f["resample_gflops"] == pytest.approx(_lmar_by_hand(4) / 1e9, rel=1e-12)
    assert f["upsample_gflops"] == pytest.approx(3 * 40 * 60 * 2 * (4 + 4) / 1e9, rel=1e-12)


def test_the_authors_resize_counts_by_the_convention_not_its_block_products(backbone):
    f = stage_flops(_lmar(interpolation="lanczos3"), backbone, "lanczos3", HW, SIZE, CPU)
    assert f["resample_gflops"] == pytest.approx(_lmar_by_hand(6) / 1e9, rel=1e-12)
    assert f["upsample_gflops"] == pytest.approx(3 * 40 * 60 * 2 * (6 + 6) / 1e9, rel=1e-12)
    plain = stage_flops(Lanczos3(), backbone, "bicubic", HW, SIZE, CPU)
    assert plain["resample_gflops"] == pytest.approx(3 * 20 * 30 * 2 * (6 + 6) / 1e9, rel=1e-12)


def test_full_resolution_stages(backbone):
    f = stage_flops(FullResolution(), backbone, "bicubic", HW, HW, CPU)
    with torch.no_grad():
        full = count_flops(backbone, torch.zeros(1, 3, *HW))
    assert f == {"resample_gflops": 0.0, "enhance_gflops": full / 1e9, "upsample_gflops": 0.0}


@pytest.mark.parametrize("interpolation", ["bicubic", "lanczos3"])
def test_the_fused_path_adds_back_the_map_the_counter_cannot_see(backbone, monkeypatch, interpolation):
    """The fused kernel is out of the counter's sight (and needs CUDA): stand in for it with a map
    that prepares the kernel's inputs as LMAR does (the residual's resize included where its tap
    tables do not fit) and computes nothing the counter sees; the count must be the reference's
    (with the fusion, moved by the epilogue's mix)."""
    net = _lmar(interpolation=interpolation)
    reference = stage_flops(net, backbone, "bicubic", HW, SIZE, CPU)
    added = LMAR(**{**LMAR_PARAMS, "interpolation": interpolation, "embedding": "add"}).eval()
    reference_add = stage_flops(added, backbone, "bicubic", HW, SIZE, CPU)

    def unseen_map(x, size, x0=None):
        net.fused_inputs(x, size, x0)
        return torch.zeros_like(x)

    monkeypatch.setattr(lmar.parts.lmar.resampler, "use_fused", lambda *args: True)  # as if on CUDA
    monkeypatch.setattr(net, "compensatory_map", unseen_map)
    net.embedding = "add"  # x0 + R(C): the forward pass takes the map as it is
    assert stage_flops(net, backbone, "bicubic", HW, SIZE, CPU) == pytest.approx(reference_add, rel=1e-12)

    # with the fusion, the kernel's epilogue mixes input and map (6 -> 3 per full-resolution pixel) and
    # the 1x1 convolution at the target size does not run: the count moves by exactly that
    net.embedding = "fusion"
    monkeypatch.setattr(lmar.parts.lmar.resampler, "fused_compute", lambda *args: "bf16")
    monkeypatch.setattr(lmar.parts.lmar.resampler, "fused_map", lambda mlp, compute: lambda x, *rest, mix: torch.zeros_like(x))
    monkeypatch.setattr(lmar.parts.lmar.resampler, "fused_resizer", lambda *args: None)  # PyTorch's resizes: counted the same
    moved = (2 * 6 * 3 * HW[0] * HW[1] - 2 * 6 * 3 * SIZE[0] * SIZE[1]) / 1e9
    expected = {**reference, "resample_gflops": reference["resample_gflops"] + moved}
    assert stage_flops(net, backbone, "bicubic", HW, SIZE, CPU) == pytest.approx(expected, rel=1e-12)


def test_lmar_map_flops_match_the_counted_reference_path():
    net = _lmar(interpolation="bicubic")  # torch's bicubic: the counter sees no FLOPs in its resizes
    x = torch.zeros(1, 3, *HW)
    with torch.no_grad():
        counted = count_flops(net.compensatory_map, x, SIZE)
    assert cost.lmar_map_flops(net, HW[0] * HW[1]) == counted


# ---------------------------------------------------------------- evaluation rows


def test_evaluation_rows_carry_stage_costs(lmar_eval, frozen_backbone, lmar_ckpt):
    from lmar.run.checkpoint import build_resampler

    df, csv, _ = lmar_eval
    import pandas as pd

    on_disk = pd.read_csv(csv)
    for frame in (df, on_disk):
        assert (frame[MS] >= 0).all().all() and (frame["enhance_ms"] > 0).all()
        assert frame[PEAKS].isna().all().all()  # evaluated on the CPU
        assert (frame[MS].sum(axis=1) <= frame["time_s"] * 1e3 + 0.5).all()
        for _, rows in frame.groupby("target"):  # counted once per target
            for col in ("resample_gflops", "enhance_gflops", "upsample_gflops"):
                assert rows[col].nunique() == 1 and (rows[col] > 0).all()
    resampler, _ = build_resampler({"type": "lmar", "params": LMAR_PARAMS}, lmar_ckpt, CPU, "test")
    assert set(on_disk.backbone_n_params) == {param_count(frozen_backbone)}
    assert set(on_disk.resampler_n_params) == {param_count(resampler)} and param_count(resampler) > 0
    x2 = on_disk[on_disk.target == "x2"].iloc[0]
    want = stage_flops(resampler, frozen_backbone, "bicubic", (x2.target_h * 2, x2.target_w * 2),
                       (x2.target_h, x2.target_w), CPU)
    assert x2.resample_gflops == pytest.approx(want["resample_gflops"])
