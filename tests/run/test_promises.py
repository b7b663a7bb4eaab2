"""What the code promises about scores and safety, each pinned by a value computed outside the code under test.

- the evaluation upsamples with the configured method, not bicubic (the pipeline redone by hand);
- the evaluation refuses a target below the backbone's smallest input (one LmarError naming it, nothing written);
- a training recipe's open lower bounds (``lr > 0``, ``gamma`` in (0, 1]) refuse the bound itself, naming the key;
- the stale-temp cleanup keeps the temp of a writer it may not signal and of a pid no process can have, and a
  write of the target still succeeds;
- LMAR's relative coordinate breaks the x1.5 ties as the authors' float32 arithmetic did (hand-computed cases);
- the released MLP vector converts into our layers as tiny-cuda-nn lays it out (entries checked by hand).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from lmar.core import atomic
from lmar.core.atomic import atomic_path, remove_stale_temps, temp_name
from lmar.core.errors import LmarError
from lmar.core.params import bind_recipe
from lmar.core.registry import BACKBONES, RESAMPLERS
from lmar.parts.lmar.inputs import kernel_mlp, relative_coordinate
from lmar.parts.lmar.released import mlp_state_dict
from lmar.parts.lmar.resampler import LMAR
from lmar.parts.recipes import BackboneRecipe, ResamplerRecipe
from lmar.parts.resize import resize
from lmar.run import checkpoint
from lmar.run.config import check_entry
from lmar.run.evaluate import evaluate

CPU = torch.device("cpu")
SIZE = (24, 36)  # (H, W) of the test pairs below
NAMES = ("a", "b")
LABELS = {"dataset": "tiny", "backbone": "unet", "resampler": "bicubic", "config_hash": "h", "seed": 0}
BACKBONE = {"type": "unet_lite", "params": {"width": 8}}  # min_size 8


# --- the evaluation: the configured upsampler, and the smallest target -------------------------------------------

@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """``(data, backbone checkpoint, backbone)``: two random 24x36 test pairs and an untrained unet_lite."""
    root = tmp_path_factory.mktemp("promises")
    rng = np.random.default_rng(7)
    for split in ("train", "test"):
        for sub in ("input", "gt"):
            (root / "data" / split / sub).mkdir(parents=True)
        for name in NAMES:
            for sub in ("input", "gt"):
                pixels = rng.integers(0, 256, (*SIZE, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / "data" / split / sub / f"{name}.png")
    torch.manual_seed(0)
    net = BACKBONES.build(BACKBONE, "test backbone").eval().requires_grad_(False)
    ckpt = root / "unet.pt"
    checkpoint.save(ckpt, "backbone", BACKBONE, net, {})
    return root / "data", ckpt, net


def _evaluate(tiny, out: Path, **evaluation):
    data, ckpt, _ = tiny
    settings = {"metrics": ["psnr"], "required_metrics": ["psnr"], "workers": 0, "save_outputs": "all", **evaluation}
    return evaluate(data, ckpt, {"type": "bicubic"}, None, settings, out / "e.csv", out / "img", CPU, dict(LABELS))


def _png(path: Path) -> torch.Tensor:
    with Image.open(path) as im:
        return torch.from_numpy(np.asarray(im.convert("RGB"), dtype=np.int64))  # (H, W, 3) levels


def _by_hand(tiny, name: str, up) -> torch.Tensor:
    """DEU at x2 done step by step: torch's bicubic down (the `bicubic` resampler), the backbone, ``up(y, (H, W))``
    back, clamped; returned as the (H, W, 3) 8-bit levels a saved file holds."""
    data, _, net = tiny
    with Image.open(data / "test" / "input" / f"{name}.png") as im:
        x = torch.from_numpy(np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
    with torch.no_grad():
        small = F.interpolate(x, size=(SIZE[0] // 2, SIZE[1] // 2), mode="bicubic", align_corners=False)
        y = up(net(small), SIZE).clamp(0, 1)
    return (y[0] * 255.0).round().permute(1, 2, 0).to(torch.int64)


def _psnr(levels: torch.Tensor, gt_path: Path) -> float:
    """PSNR in dB of 8-bit levels against the ground truth file, both taken to [0, 1] (peak 1)."""
    mse = ((levels.double() - _png(gt_path).double()) / 255.0).pow(2).mean().item()
    return 10.0 * math.log10(1.0 / mse)


UPSAMPLERS = {
    # the authors' lanczos3, the named interpolation of lmar.parts.resize
    "lanczos3": lambda y, hw: resize(y, hw, "lanczos3"),
    # torch's area mode directly
    "area": lambda y, hw: F.interpolate(y, size=hw, mode="area"),
}


@pytest.mark.parametrize("upsampler", sorted(UPSAMPLERS))
def test_the_evaluation_upsamples_with_the_configured_method(tiny, tmp_path, upsampler):
    """Every saved output is the pipeline redone by hand with the configured upsampler, to the last level, and
    its row's PSNR is that output's; the bicubic upsampler's outputs differ (so bicubic in its place fails)."""
    df = _evaluate(tiny, tmp_path, scales=[2], upsampler=upsampler)
    data = tiny[0]
    assert sorted(df["image"]) == sorted(NAMES) and set(df["upsampler"]) == {upsampler}
    for row in df.itertuples():
        saved = _png(tmp_path / "img" / "x2" / f"{row.image}.png")
        want = _by_hand(tiny, row.image, UPSAMPLERS[upsampler])
        bicubic = _by_hand(tiny, row.image, lambda y, hw: F.interpolate(y, size=hw, mode="bicubic",
                                                                        align_corners=False))
        assert torch.equal(saved, want)
        assert (bicubic != want).float().mean() > 0.05  # a bicubic upsampler would be seen
        gt = data / "test" / "gt" / f"{row.image}.png"
        assert row.psnr == pytest.approx(_psnr(want, gt), abs=1e-4)
        assert abs(_psnr(bicubic, gt) - row.psnr) > 1e-3


def test_the_evaluation_refuses_a_target_below_the_backbones_smallest_input(tiny, tmp_path):
    """x4 of 24x36 is 6x9, below unet_lite's 8x8: one LmarError naming the target and the limit, nothing written
    (the backbone would otherwise pad it silently)."""
    with pytest.raises(LmarError) as info:
        _evaluate(tiny, tmp_path, scales=[2, 4])
    msg = str(info.value)
    assert "target x4" in msg and "6x9" in msg and "8x8" in msg and "a.png" in msg
    assert not (tmp_path / "e.csv").exists() and not (tmp_path / "img").exists()


def test_a_fixed_size_target_below_the_smallest_input_is_refused_too(tiny, tmp_path):
    with pytest.raises(LmarError, match=r"target tiny .*7x30 of 24x36 is below the backbone's smallest input 8x8"):
        _evaluate(tiny, tmp_path, sizes=[{"name": "tiny", "size": [7, 30]}])
    assert not (tmp_path / "e.csv").exists()


# --- training recipes: open lower bounds -----------------------------------------------------------------------

RECIPES = [
    ("backbones", BACKBONES, {"type": "unet_lite", "params": {"width": 8}}, BackboneRecipe),
    ("resamplers", RESAMPLERS, {"type": "lmar", "params": {"hidden": 8, "depth": 1}}, ResamplerRecipe),
]


@pytest.mark.parametrize("section, registry, spec, recipe", RECIPES, ids=[r[0] for r in RECIPES])
@pytest.mark.parametrize("key, bad", [("lr", 0), ("lr", 0.0), ("lr", -1e-4), ("gamma", 0), ("gamma", 0.0),
                                      ("gamma", -0.5), ("gamma", 1.0000001)])
def test_a_recipe_refuses_the_bound_of_an_open_range(section, registry, spec, recipe, key, bad):
    """``lr`` must be > 0 and ``gamma`` in (0, 1]: 0 itself is refused, by the recipe and by the config check,
    with one error naming the key."""
    with pytest.raises(LmarError, match=rf"^x\.train\.{key} must be a number "):
        bind_recipe(recipe, {key: bad}, "x.train")
    with pytest.raises(LmarError, match=rf"config key {section}\.m\.train\.{key} must be a number "):
        check_entry(section, registry, "m", {**spec, "train": {key: bad}})


@pytest.mark.parametrize("section, registry, spec, recipe", RECIPES, ids=[r[0] for r in RECIPES])
@pytest.mark.parametrize("key, good", [("lr", 5e-324), ("lr", 1e-12), ("gamma", 5e-324), ("gamma", 1e-12),
                                       ("gamma", 1), ("gamma", 1.0)])
def test_a_recipe_accepts_values_just_inside_an_open_bound(section, registry, spec, recipe, key, good):
    """The smallest positive number is above the open bound 0; gamma's upper bound 1 is closed."""
    assert bind_recipe(recipe, {key: good}, "x.train")[key] == good
    check_entry(section, registry, "m", {**spec, "train": {key: good}})


# --- the stale-temp cleanup --------------------------------------------------------------------------------------

TOKEN = "0123456789abcdef"
LIVE_OTHER_USER, DEAD = 4_000_001, 4_000_002  # pids the fake os.kill below answers for


@pytest.fixture
def fake_kill(monkeypatch):
    """``os.kill(pid, 0)`` as the system would answer for another user's live process (PermissionError) and
    for a process that has ended (ProcessLookupError); any other pid goes to the real call."""
    real = os.kill

    def kill(pid, sig):
        if pid == LIVE_OTHER_USER and sig == 0:
            raise PermissionError(1, "Operation not permitted")
        if pid == DEAD and sig == 0:
            raise ProcessLookupError(3, "No such process")
        return real(pid, sig)

    monkeypatch.setattr(atomic.os, "kill", kill)


def test_the_cleanup_keeps_the_temp_of_a_live_writer_it_may_not_signal(tmp_path, fake_kill):
    target = tmp_path / "model.pt"
    live = temp_name(target, pid=LIVE_OTHER_USER, token=TOKEN)
    dead = temp_name(target, pid=DEAD, token=TOKEN)
    live.write_bytes(b"being written")
    dead.write_bytes(b"left behind")
    assert remove_stale_temps(target) == [dead]  # the cleanup does run: the dead writer's temp goes
    assert live.read_bytes() == b"being written"


@pytest.mark.parametrize("pid", [2**31, 2**32 + 5, 2**63, 10**30])
def test_a_pid_no_process_can_have_neither_crashes_the_cleanup_nor_stops_the_write(tmp_path, fake_kill, pid):
    """A temp name with a pid above pid_t's range (os.kill: OverflowError) was made by no writer on this host: the
    cleanup keeps it (it is not ours to delete) and the write of the target goes ahead, every time."""
    target = tmp_path / "out.bin"
    odd = temp_name(target, pid=pid, token=TOKEN)
    dead = temp_name(target, pid=DEAD, token=TOKEN)
    odd.write_bytes(b"not ours")
    dead.write_bytes(b"left behind")
    assert remove_stale_temps(target) == [dead]
    for content in (b"first", b"second"):
        with atomic_path(target) as tmp:
            tmp.write_bytes(content)
        assert target.read_bytes() == content
    assert odd.read_bytes() == b"not ours"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, odd.name])


# --- LMAR's relative coordinate: the tie rule at x1.5 --------------------------------------------------------------

def test_the_x1_5_tie_at_3_to_2_goes_to_the_lower_low_res_pixel():
    """H = 3 -> h = 2. Full-res centres: -1 + 1/3 + (2/3) i = -2/3, 0, 2/3; low-res centres -1/2, 1/2.

    float32: fl(2/3) * 1 + fl(-1 + 1/3): both doubles (0.66666666666666663 and -0.66666666666666674) round to the
    float32 +-0.666666686534881591796875, so the middle centre is exactly 0, halfway between -1/2 and 1/2.
    Nearest low-res index k = round(((c + 1) h - 1) / 2), half to even:
      i = 0: ((1/3) 2 - 1) / 2 = -1/6 -> k = 0; (-2/3 - (-1/2)) * 2 = -1/3
      i = 1: ((0 + 1) 2 - 1) / 2 = 1/2, a tie -> k = 0 (even); (0 - (-1/2)) * 2 = +1  (ties up would give -1)
      i = 2: ((5/3) 2 - 1) / 2 = 7/6 -> k = 1; (2/3 - 1/2) * 2 = +1/3
    """
    rel = relative_coordinate(3, 2, "cpu", torch.float32)
    assert rel[1].item() == 1.0
    torch.testing.assert_close(rel, torch.tensor([-1 / 3, 1.0, 1 / 3]), rtol=0, atol=1e-6)


def test_an_x1_5_tie_that_float32_tips_to_the_upper_low_res_pixel():
    """H = 18 -> h = 12, full-res pixel 1: exactly halfway between low-res pixels 0 and 1 (centre -5/6; low-res
    -11/12 and -3/4), but the authors' float32 arithmetic tips it to pixel 1. Step by step, in float32:
      c = fl(2/18) * 1 + fl(-1 + 1/18) = 0.111111111938953399658203125 - 0.9444444179534912109375
        = -0.833333306014537811279296875 -> float32 -0.833333313465118408203125
      c + 1 = 0.166666686534881591796875; * 12 = 2.0000002384185791015625; - 1 = 1.0000002384185791015625;
      / 2 = 0.50000011920928955078125 > 1/2 -> k = 1
      low[1] = fl(2/12) * 1 + fl(-1 + 1/12) = 0.16666667163372039794921875 - 0.916666686534881591796875 = -0.75
      (c - low[1]) * 12 = -0.083333313465118408203125 * 12 = -0.9999997615814208984375
    while pixel 4 (centre -1/2, between -7/12 and -5/12) ties exactly at 2.5 and goes to the even 2:
    (-1/2 - (-7/12)) * 12 = +1 (to float32 rounding). Exact arithmetic would send both to the lower side (+1)."""
    rel = relative_coordinate(18, 12, "cpu", torch.float32)
    assert rel[1].item() == -0.9999997615814208984375
    assert rel[4].item() == pytest.approx(1.0, abs=1e-6)
    # the others are no ties: every third pixel from 0 sits -1/3 from its nearest centre, from 2 +1/3
    torch.testing.assert_close(rel[0::3], torch.full((6,), -1 / 3), rtol=0, atol=2e-6)
    torch.testing.assert_close(rel[2::3], torch.full((6,), 1 / 3), rtol=0, atol=2e-6)


def test_a_tie_at_an_odd_half_goes_to_the_even_low_res_pixel():
    """H = 5 -> h = 4 (x1.25) ties at 1.5, where half to even and "ties to the lower pixel" part. Full-res centres
    -4/5, -2/5, 0, 2/5, 4/5; the middle one, fl(2/5) * 2 + fl(-1 + 1/5) = 0.800000011920928955078125
    - 0.800000011920928955078125, is exactly 0, halfway between the low-res centres -1/4 and 1/4:
      ((0 + 1) 4 - 1) / 2 = 3/2 -> k = 2 (even); (0 - 1/4) * 4 = -1  (the lower pixel, k = 1, would give +1)
    and the others: i = 0: ((1/5) 4 - 1) / 2 = -1/10 -> k = 0; (-4/5 + 3/4) * 4 = -1/5
                    i = 1: ((3/5) 4 - 1) / 2 = 7/10 -> k = 1; (-2/5 + 1/4) * 4 = -3/5
    and by symmetry +3/5, +1/5 for i = 3, 4."""
    rel = relative_coordinate(5, 4, "cpu", torch.float32)
    assert rel[2].item() == -1.0
    torch.testing.assert_close(rel, torch.tensor([-0.2, -0.6, -1.0, 0.6, 0.2]), rtol=0, atol=1e-6)

def _authors_float32(n_full: int, n_low: int) -> np.ndarray:
    """The authors' relative coordinate redone in numpy float32, each step rounded to float32 as theirs was."""
    f = np.float32

    def centres(n):
        return f(2.0 / n) * np.arange(n, dtype=f) + f(-1.0 + 1.0 / n)

    c, low = centres(n_full), centres(n_low)
    k = np.clip(np.rint(((c + f(1)) * f(n_low) - f(1)) / f(2)), 0, n_low - 1).astype(np.int64)  # rint: half even
    return (c - low[k]) * f(n_low)


@pytest.mark.parametrize("H, h", [(3, 2), (5, 4), (7, 6), (18, 12), (30, 20), (60, 40), (90, 60), (1440, 960), (2160, 1440),
                                  (2160, 1200), (48, 24), (36, 12)])
def test_the_relative_coordinate_is_the_authors_float32_arithmetic(H, h):
    assert np.array_equal(relative_coordinate(H, h, "cpu", torch.float32).numpy(), _authors_float32(H, h))


def test_lmar_feeds_the_mlp_each_axis_own_relative_coordinate_and_cell():
    """LMAR's position inputs for 3x6 -> 2x3: rows at x1.5 (the hand case above), columns at x2 (6 -> 3: centres
    -5/6, -1/2, ... each 1/6 from the nearest low-res centre, times 3: -1/2, +1/2 alternately), and the relative
    cell (2/H * h, 2/W * w) = (4/3, 1)."""
    net = LMAR(hidden=8, depth=1)
    rel_y, rel_x, cell = net.position_inputs(torch.zeros(1, 3, 3, 6), (2, 3))
    torch.testing.assert_close(rel_y, torch.tensor([-1 / 3, 1.0, 1 / 3]), rtol=0, atol=1e-6)
    torch.testing.assert_close(rel_x, torch.tensor([-0.5, 0.5] * 3), rtol=0, atol=1e-6)
    torch.testing.assert_close(cell, torch.tensor([4 / 3, 1.0]), rtol=0, atol=1e-6)


# --- the released MLP vector ----------------------------------------------------------------------------------------

SIZES = [(128, 16), (128, 128), (128, 128), (128, 128), (128, 128), (96, 128)]  # (out, in), one after another
STARTS = np.cumsum([0] + [o * i for o, i in SIZES])  # 0, 2048, 18432, 34816, 51200, 67584, 79872


def test_the_released_vector_converts_entry_by_entry():
    """The vector 0, 1, 2, ... (exact in float32): matrix m's entry (r, c) is STARTS[m] + r * in + c."""
    state = mlp_state_dict(torch.arange(int(STARTS[-1]), dtype=torch.float32))
    assert {k: tuple(v.shape) for k, v in state.items()} == {
        "0.weight": (128, 7), "0.bias": (128,),  # the only bias: the authors' network has no other
        **{f"{2 * m}.weight": (128, 128) for m in (1, 2, 3, 4)},
        "10.weight": (81, 128),
    }
    w0 = state["0.weight"]
    assert w0[0, 0] == 0 and w0[0, 6] == 6 and w0[1, 0] == 16 and w0[5, 3] == 83 and w0[127, 6] == 2038
    # first-layer bias: row r's padded columns 7..15 hold 16 r + 7 ... 16 r + 15, summing to 144 r + 99
    assert state["0.bias"][0] == 99 and state["0.bias"][1] == 243 and state["0.bias"][127] == 144 * 127 + 99
    assert torch.equal(state["0.bias"], 144 * torch.arange(128.0) + 99)
    w1 = state["2.weight"]
    assert w1[0, 1] == 2048 + 1 and w1[1, 0] == 2048 + 128 and w1[3, 5] == 2048 + 3 * 128 + 5  # (out, in), not .T
    assert state["8.weight"][127, 127] == 51200 + 127 * 128 + 127
    last = state["10.weight"]
    assert last[0, 0] == 67584 and last[0, 1] == 67585 and last[1, 0] == 67584 + 128
    assert last[80, 127] == 67584 + 80 * 128 + 127  # rows 81..95 (from 67584 + 81 * 128 on) are dropped


def test_the_converted_mlp_computes_what_tiny_cuda_nn_computed():
    """A hand-written forward of the authors' network: inputs padded 7 -> 16 with ones, five hidden layers
    (LeakyReLU 0.01), no biases, the first 81 of 96 outputs."""
    gen = torch.Generator().manual_seed(0)
    params = torch.randn(int(STARTS[-1]), generator=gen) * 0.1
    x = torch.randn(50, 7, generator=gen)
    h = torch.cat([x, torch.ones(50, 9)], dim=1).double()
    for m, (o, i) in enumerate(SIZES):
        h = h @ params[STARTS[m]:STARTS[m + 1]].double().view(o, i).T
        if m < len(SIZES) - 1:
            h = F.leaky_relu(h, 0.01)
    want = h[:, :81]
    mlp = kernel_mlp(128, 5)
    mlp.load_state_dict(mlp_state_dict(params))
    with torch.no_grad():
        got = mlp.double()(x.double())
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6 * want.abs().max().item())
