"""The LMAR authors' resize (lmar.parts.authors_resize, as interpolation methods lanczos3 and cubic):
against reference outputs of their code, against a slow reference written here from the kernel
formulas, its border rule, its tap tables for the fused LMAR kernel, devices, shapes and dtypes."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml

from helpers import AUTHORS, ROOT

from lmar.core.registry import RESAMPLERS
from lmar.parts.authors_resize import axis_matrix
from lmar.parts.lmar.fused import triton_available
from lmar.parts.lmar.resampler import LMAR
from lmar.parts.resize import AUTHORS_METHODS, METHODS, check_method, resize, resize_taps

FIXTURE_SIZES = [(48, 64), (64, 85), (32, 43), (53, 71)]


# ---------------------------------------------------------------- a slow reference, from the formulas


def lanczos3(d: float) -> float:
    if d == 0:
        return 1.0
    return 3 * math.sin(math.pi * d) * math.sin(math.pi * d / 3) / (math.pi * d) ** 2 if abs(d) < 3 else 0.0


def keys_cubic(d: float, a: float = -0.5) -> float:
    d = abs(d)
    if d <= 1:
        return (a + 2) * d**3 - (a + 3) * d**2 + 1
    return a * d**3 - 5 * a * d**2 + 8 * a * d - 4 * a if d < 2 else 0.0


KERNELS = {"lanczos3": (lanczos3, 3.0), "cubic": (keys_cubic, 2.0)}  # kernel, half-width


def reference_matrix(n_in: int, n_out: int, method: str, antialias: bool) -> np.ndarray:
    """Each output's window sum: every integer position within the (stretched) kernel's reach,
    weighted by the kernel, divided by the sum over the whole window; outside positions read zero."""
    if n_in == n_out:
        return np.eye(n_in)
    kernel, half = KERNELS[method]
    s = n_out / n_in
    stretch = s if antialias and s < 1 else 1.0
    m = np.zeros((n_out, n_in))
    for y in range(n_out):
        u = (y + 0.5) / s - 0.5
        window = range(math.floor(u - half / stretch) - 1, math.ceil(u + half / stretch) + 2)
        w = {i: kernel(stretch * (u - i)) for i in window}
        total = sum(w.values())
        for i, wi in w.items():
            if 0 <= i < n_in:
                m[y, i] += wi / total
    return m


def reference_resize(img: np.ndarray, size, method: str, antialias: bool = False) -> np.ndarray:
    """(..., H, W) float64 -> (..., h, w): the row matrix, then the column matrix."""
    my = reference_matrix(img.shape[-2], size[0], method, antialias)
    mx = reference_matrix(img.shape[-1], size[1], method, antialias)
    return my @ img @ mx.T


# ---------------------------------------------------------------- (a) the authors' outputs


@pytest.fixture(scope="module")
def authors_input() -> torch.Tensor:
    if not (AUTHORS / "input.npy").is_file():
        pytest.skip(f"the authors' reference outputs are not present ({AUTHORS})")
    return torch.from_numpy(np.load(AUTHORS / "input.npy")).float()


@pytest.mark.parametrize("method", AUTHORS_METHODS)
@pytest.mark.parametrize("size", FIXTURE_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_matches_the_authors_resize(authors_input, method, size):
    assert authors_input.shape == (3, 96, 128)
    want = torch.from_numpy(np.load(AUTHORS / f"resize_{method}_{size[0]}x{size[1]}.npy"))
    got = resize(authors_input[None], size, method)[0]
    assert got.shape == want.shape and got.dtype == torch.float32
    assert (got - want).abs().max().item() <= 1e-5


# ---------------------------------------------------------------- (b) the formulas


CASES = [((20, 27), (9, 13)), ((7, 9), (16, 21)), ((12, 6), (9, 13)), ((1, 5), (4, 2)), ((10, 10), (10, 3))]


@pytest.mark.parametrize("method", AUTHORS_METHODS)
@pytest.mark.parametrize("antialias", [False, True])
@pytest.mark.parametrize("in_hw, out_hw", CASES, ids=lambda s: "x".join(map(str, s)))
def test_matches_the_formulas(method, antialias, in_hw, out_hw):
    img = np.random.default_rng(0).random((2, *in_hw))
    want = reference_resize(img, out_hw, method, antialias)
    got64 = resize(torch.from_numpy(img)[None], out_hw, method, antialias)[0]
    assert got64.dtype == torch.float64 and np.abs(got64.numpy() - want).max() <= 1e-12
    got32 = resize(torch.from_numpy(img).float()[None], out_hw, method, antialias)[0]
    assert np.abs(got32.double().numpy() - want).max() <= 1e-5


def test_antialias_widens_the_window_only_when_downscaling():
    for method, taps in (("lanczos3", 6), ("cubic", 4)):
        plain, aa = axis_matrix(40, 10, method), axis_matrix(40, 10, method, True)  # x4 down: 4x the taps
        assert (plain != 0).sum(dim=1).max() <= taps and (aa != 0).sum(dim=1).max() > 3 * taps
        assert torch.equal(axis_matrix(10, 40, method), axis_matrix(10, 40, method, True))  # upscaling: no change


def test_antialias_is_allowed_for_the_authors_methods():
    for method in AUTHORS_METHODS:
        check_method(method, True)


# ---------------------------------------------------------------- (c) the border rule


@pytest.mark.parametrize("method", AUTHORS_METHODS)
def test_constant_image_border(method):
    x = torch.ones(1, 1, 40, 50, dtype=torch.float64)
    up = resize(x, (80, 100), method)
    assert torch.allclose(up[..., 6:-6, 6:-6], torch.ones((), dtype=torch.float64), atol=1e-12)  # constant inside
    assert (up[..., 6:-6, 0] < 1 - 0.1).all()  # the window's zeros outside darken the first column
    down = resize(x, (20, 25), method)
    assert torch.allclose(down[..., 3:-3, 3:-3], torch.ones((), dtype=torch.float64), atol=1e-12)
    # at x2 only negative lobes reach outside: the first column comes out brighter, not clamped to 1
    assert (down[..., 3:-3, 0] > 1 + 0.01).all()


# ---------------------------------------------------------------- (d) tap tables for the fused kernel


def apply_taps(x: torch.Tensor, taps_y, taps_x) -> torch.Tensor:
    (iy, wy), (ix, wx) = taps_y, taps_x
    rows = (x[:, :, iy.long()] * wy[:, :, None]).sum(dim=3)
    return (rows[:, :, :, ix.long()] * wx).sum(dim=-1)


TAP_CASES = [  # method, antialias, in, out, whether the tables fit 4 taps
    ("cubic", False, (9, 13), (20, 27), True),
    ("cubic", False, (20, 27), (9, 13), True),
    ("cubic", True, (20, 27), (9, 13), False),  # antialiased downscaling: wider windows
    ("cubic", True, (9, 13), (20, 27), True),  # antialias does nothing when upscaling
    ("lanczos3", False, (9, 13), (20, 27), False),  # 6 taps
    ("lanczos3", False, (30, 42), (10, 14), True),  # x3: every output on a source pixel, 1 tap
    ("lanczos3", False, (30, 42), (30, 14), True),  # rows kept, columns x3
    ("lanczos3", False, (20, 27), (9, 13), False),
]


@pytest.mark.parametrize("method, antialias, in_hw, out_hw, fits", TAP_CASES)
def test_tables_reproduce_the_resize_or_are_refused(method, antialias, in_hw, out_hw, fits):
    taps = resize_taps(in_hw, out_hw, method, antialias)
    widest = max((axis_matrix(i, o, method, antialias) != 0).sum(dim=1).max().item() for i, o in zip(in_hw, out_hw))
    if not fits:
        assert taps is None and widest > 4
        assert resize_taps(in_hw, out_hw, method, antialias, max_taps=widest) is not None
        return
    assert taps is not None
    for (index, weight), n_in, n_out in zip(taps, in_hw, out_hw):
        assert index.dtype == torch.int32 and weight.dtype == torch.float32 and weight.shape == (n_out, 4)
        assert 0 <= index.min() and index.max() < n_in
    x = torch.rand(2, 3, *in_hw)
    assert (apply_taps(x, *taps) - resize(x, out_hw, method, antialias)).abs().max() <= 1e-6


def test_lmar_with_lanczos3_falls_back_to_a_precomputed_resize():
    """LMAR's residual resize back to (H, W) needs 6 taps with lanczos3: the fused kernel's inputs
    then carry R(R(x)) itself and identity tables."""
    torch.manual_seed(0)
    net = LMAR(interpolation="lanczos3", hidden=16, depth=1).eval()
    x, size = torch.rand(2, 3, 18, 22), (9, 11)
    with torch.no_grad():
        out = net(x, size)
        _, low, (iy, wy), (ix, wx), *_ = net.fused_inputs(x, size)
    assert out.shape == (2, 3, 9, 11) and torch.isfinite(out).all()
    assert torch.equal(low, resize(resize(x, size, "lanczos3"), (18, 22), "lanczos3"))
    assert iy.shape == (18, 1) and torch.equal(iy[:, 0].long(), torch.arange(18)) and (wy == 1).all()
    assert ix.shape == (22, 1) and torch.equal(ix[:, 0].long(), torch.arange(22)) and (wx == 1).all()


# the fused kernel with lanczos3 in Triton's CPU interpreter, which must be switched on before the
# kernel module is imported: in a subprocess of its own (see tests/parts/test_lmar_triton.py)
_INTERPRETED = """
import json, torch
from lmar.parts.lmar.fused.lmar_triton import INTERPRETED
from lmar.parts.lmar.resampler import LMAR
assert INTERPRETED
torch.manual_seed(0)
ref = LMAR(interpolation="lanczos3", hidden=16, depth=1, fused="never")
fused = LMAR(interpolation="lanczos3", hidden=16, depth=1, fused="always")
fused.load_state_dict(ref.state_dict())
x = torch.rand(2, 3, 9, 13)
with torch.no_grad():
    a, b = ref(x, (4, 6)), fused(x, (4, 6))
    up_taps = fused.fused_inputs(x, (4, 6))[2][0].shape[1]
print(json.dumps({"diff": (a - b).abs().max().item(), "scale": a.abs().max().item(), "up_taps": up_taps}))
"""


@pytest.mark.skipif(not triton_available(), reason="needs triton")
def test_fused_kernel_with_lanczos3_matches_the_reference_in_the_interpreter():
    env = dict(
        os.environ,
        TRITON_INTERPRET="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    proc = subprocess.run(
        [sys.executable, "-c", _INTERPRETED],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["up_taps"] == 1 and r["diff"] <= 1e-4 * r["scale"], r


# ---------------------------------------------------------------- (e) CUDA


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("method", AUTHORS_METHODS)
@pytest.mark.parametrize("antialias", [False, True])
def test_cuda_matches_cpu(method, antialias):
    x = torch.rand(2, 3, 75, 133)
    for size in ((40, 71), (150, 240)):
        want = resize(x, size, method, antialias)
        got = resize(x.cuda(), size, method, antialias)
        assert got.device.type == "cuda" and (got.cpu() - want).abs().max().item() <= 1e-5
        half = resize(x.cuda().bfloat16(), size, method, antialias)
        assert half.dtype == torch.bfloat16 and (half.float().cpu() - want).abs().max().item() <= 3e-2


# ---------------------------------------------------------------- (f) shapes, dtypes, autograd


@pytest.mark.parametrize("method", AUTHORS_METHODS)
def test_batch_and_channels_are_independent(method):
    x = torch.rand(2, 4, 19, 23)
    out = resize(x, (11, 30), method)
    assert out.shape == (2, 4, 11, 30)
    for b in range(2):
        for c in range(4):
            single = resize(x[b : b + 1, c : c + 1], (11, 30), method)[0, 0]
            assert torch.allclose(out[b, c], single, atol=1e-6)
    assert torch.allclose(resize(x[0], (11, 30), method), out[0], atol=1e-6)  # (C, H, W) too
    channels_last = resize(x.to(memory_format=torch.channels_last), (11, 30), method)
    assert torch.allclose(channels_last, out, atol=1e-6)


@pytest.mark.parametrize("method", AUTHORS_METHODS)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_input(method, dtype):
    x = torch.rand(1, 3, 24, 32)
    want = resize(x, (13, 17), method)
    got = resize(x.to(dtype), (13, 17), method)
    assert got.dtype == dtype and (got.float() - want).abs().max().item() <= 3e-2


def test_autocast_keeps_float32():
    x = torch.rand(1, 3, 24, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = resize(x, (13, 17), "lanczos3")
    assert got.dtype == torch.float32 and torch.equal(got, resize(x, (13, 17), "lanczos3"))


def test_gradients():
    x = torch.rand(1, 2, 7, 9, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: resize(t, (4, 13), "lanczos3", True), (x,))


# ---------------------------------------------------------------- configs


def test_fixed_resamplers_are_registered():
    x = torch.rand(1, 3, 20, 24)
    for method in AUTHORS_METHODS:
        net = RESAMPLERS.build({"type": method, "params": {"antialias": True}})
        assert torch.equal(net(x, (10, 12)), resize(x, (10, 12), method, True))


def test_schema_upsampler_choices_are_the_methods():
    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    assert schema["properties"]["evaluation"]["properties"]["upsampler"]["enum"] == list(METHODS)
