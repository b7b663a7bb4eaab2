"""The fused Triton kernel for LMAR's compensatory map (lmar.parts.lmar.fused) against the PyTorch reference.

Without a GPU the kernel runs in Triton's CPU interpreter, which must be switched on
(TRITON_INTERPRET=1) before ``lmar.parts.lmar.fused.lmar_triton`` is imported: ``@triton.jit`` picks
interpreter or compiler when it decorates. In a shared pytest process another test may have
imported that module already, and a process-wide TRITON_INTERPRET would also send the CUDA
test below to the interpreter. So the interpreter comparisons run once, in a subprocess that
executes this file as a script (``_interpreter_worker``), and the tests read its results.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest
import torch

from helpers import run_interpreted

from lmar.core.errors import LmarError
from lmar.parts.lmar.fused import mlp_unsupported, triton_available, use_fused
from lmar.parts.lmar.inputs import kernel_mlp
from lmar.parts.lmar.resampler import LMAR

needs_triton = pytest.mark.skipif(not triton_available(), reason="needs triton")

FP32_RTOL = 1e-4  # max |fused - reference| over max |reference|
BF16_RTOL = 3e-2

# Interpreter cases: in (H, W) -> out (h, w), batch, MLP shape, chunk (pixels per band).
CASES: dict[str, dict] = {
    "odd_9x13": {"hw": (9, 13), "size": (4, 6), "batch": 1, "hidden": 16, "depth": 2},
    "batch2_16x16": {"hw": (16, 16), "size": (8, 8), "batch": 2, "hidden": 32, "depth": 2},
    "chunked_5_bands": {
        "hw": (9, 13),
        "size": (5, 7),
        "batch": 2,
        "hidden": 16,
        "depth": 2,
        "chunk": 26,
    },  # 2 rows per band
    "depth1_hidden48": {"hw": (11, 7), "size": (5, 3), "batch": 1, "hidden": 48, "depth": 1},  # hidden padded to 64
    "default_128x5": {"hw": (8, 8), "size": (4, 4), "batch": 1, "hidden": 128, "depth": 5},
    # the unrolled hidden-layer loop, with a block smaller than the image (several programs)
    "unrolled_block16": {"hw": (9, 13), "size": (4, 6), "batch": 1, "hidden": 32, "depth": 3, "launch": [16, 4, 1, True]},
    "bf16_model": {"hw": (9, 13), "size": (4, 6), "batch": 2, "hidden": 32, "depth": 2, "model_dtype": "bfloat16"},
    # the residual's resize from other interpolations' tap tables (2 and 1 taps per axis)
    "bilinear": {"hw": (10, 7), "size": (3, 5), "batch": 1, "hidden": 16, "depth": 1, "lmar": {"interpolation": "bilinear"}},
    "area": {"hw": (10, 7), "size": (3, 5), "batch": 1, "hidden": 16, "depth": 1, "lmar": {"interpolation": "area"}},
    "nearest": {"hw": (10, 7), "size": (3, 5), "batch": 1, "hidden": 16, "depth": 1, "lmar": {"interpolation": "nearest"}},
    # a target taller than the input: resizing back is antialiased downscaling, more taps than the
    # tables hold, so the residual's resize is computed outside the kernel (identity tables)
    "antialias_fallback": {"hw": (9, 13), "size": (12, 6), "batch": 2, "hidden": 16, "depth": 1,
                           "lmar": {"antialias": True}},
    # the kernel reads the input and x0 through their strides
    "channels_last": {"hw": (9, 13), "size": (4, 6), "batch": 2, "hidden": 16, "depth": 1, "channels_last": True},
    # no fusion layer (x0 + R(C)): the kernel writes the map itself, no epilogue mix
    "embedding_add": {"hw": (9, 13), "size": (4, 6), "batch": 1, "hidden": 16, "depth": 1, "lmar": {"embedding": "add"}},
    # persistent launches (weights loaded once per program, which loops over blocks); the interpreter counts
    # 2 multiprocessors: 1 program per batch item looping over all 8 blocks ...
    "persistent_batch2": {"hw": (9, 13), "size": (4, 6), "batch": 2, "hidden": 32, "depth": 3,
                          "launch": [16, 4, 2, False, 1]},
    # ... 2 programs of 4 blocks each (the last block partly outside the image), at the default MLP's shape ...
    "persistent_default_mlp": {"hw": (9, 13), "size": (4, 6), "batch": 1, "hidden": 128, "depth": 5,
                               "launch": [16, 4, 2, False, 1]},
    # ... 6 programs for 8 blocks (two programs take two), no hidden-to-hidden layer, no epilogue mix
    "persistent_uneven_depth1": {"hw": (9, 13), "size": (4, 6), "batch": 1, "hidden": 16, "depth": 1,
                                 "launch": [16, 4, 2, False, 3], "lmar": {"embedding": "add"}},
}


def _persistent(spec: dict) -> bool:
    """Whether a case's launch is persistent (its fifth field, programs per multiprocessor, is not 0)."""
    return bool(spec.get("launch", [])[4:5] and spec["launch"][4])


def _run_case(spec: dict) -> dict:
    """Fused ("always") vs reference ("never") twins on one random input; runs under the interpreter."""
    from lmar.parts.lmar.fused import launch, lmar_triton

    torch.manual_seed(0)
    params = {"hidden": spec["hidden"], "depth": spec["depth"], "chunk_pixels": spec.get("chunk", 262144),
              "interpolation": "bicubic", **spec.get("lmar", {})}  # R = bicubic (4 taps) unless the case says
    ref = LMAR(fused="never", **params)
    fused = LMAR(fused="always", **params)
    fused.load_state_dict(ref.state_dict())
    x = torch.rand(spec["batch"], 3, *spec["hw"])
    if spec.get("channels_last"):
        x = x.to(memory_format=torch.channels_last)
    if "model_dtype" in spec:  # the whole model and input in that dtype, against the fp32 reference
        fused.to(getattr(torch, spec["model_dtype"]))

    launches, mixed = 0, []
    original, built_in = lmar_triton.fused_compensation, dict(launch.LAUNCH)
    if "launch" in spec:  # this case's launch in every compute mode, until the case ends
        for compute in launch.LAUNCH:
            launch.LAUNCH[compute] = launch.Launch(*spec["launch"])

    def counting(*args, **kwargs):
        nonlocal launches
        launches += 1
        mixed.append(kwargs.get("mix") is not None)
        return original(*args, **kwargs)

    lmar_triton.fused_compensation = counting
    try:
        with torch.no_grad():
            xf = x.to(next(fused.parameters()).dtype)
            map_ref, map_fused = ref.compensatory_map(x, spec["size"]), fused.compensatory_map(xf, spec["size"])
            out_ref, out_fused = ref(x, spec["size"]), fused(xf, spec["size"])
            if _persistent(spec):  # the same blocks, one program each
                for compute in launch.LAUNCH:
                    launch.LAUNCH[compute] = launch.Launch(*spec["launch"][:4])
                per_block = fused.compensatory_map(xf, spec["size"])
    finally:
        lmar_triton.fused_compensation = original
        launch.LAUNCH.update(built_in)

    result = {
        "launches": launches,
        "mixed": mixed,  # per launch: whether the kernel's epilogue mixed input and map (the 1x1 fusion)
        "map_diff": (map_fused.float() - map_ref).abs().max().item(),
        "map_scale": map_ref.abs().max().item(),
        "forward_diff": (out_fused.float() - out_ref).abs().max().item(),
        "forward_scale": out_ref.abs().max().item(),
        "shape_ok": map_fused.shape == map_ref.shape and out_fused.shape == out_ref.shape,
        "up_taps": fused.fused_inputs(xf, spec["size"])[2][0].shape[1],  # width of the residual's tap tables
    }
    if _persistent(spec):
        result["persistent_vs_per_block"] = (map_fused - per_block).abs().max().item()
    if "model_dtype" not in spec:  # bf16 dots via the wrapper's dtype option, fp32 input
        result["bf16_map_diff"] = _bf16_band_diff(ref, x, spec["size"])
    return result


def _bf16_band_diff(net: LMAR, x: torch.Tensor, size: tuple[int, int]) -> float:
    """max |fused_compensation(compute=bf16) - _band| over the whole image."""
    from lmar.parts.lmar.fused.lmar_triton import fused_compensation

    with torch.no_grad():
        fused = fused_compensation(*net.fused_inputs(x, size), net.mlp, compute="bf16")
        return (fused - net._band(*net.band_inputs(x, size))).abs().max().item()


# The fused path's resize from tap tables (lmar.parts.lmar.fused.resize_triton) against lmar.parts.resize.resize:
# (method, antialias, in (H, W), out (h, w), channels-last input, with a bias).
RESIZES = {
    "bicubic_down": ("bicubic", False, (21, 34), (9, 19), False, True),
    "lanczos3_down": ("lanczos3", False, (21, 34), (9, 19), True, True),
    "lanczos3_x1.8": ("lanczos3", False, (36, 64), (20, 36), False, False),
    "area_down": ("area", False, (10, 7), (3, 5), False, True),
    "bilinear_up": ("bilinear", False, (5, 7), (9, 13), True, False),
    "antialiased_bicubic_down": ("bicubic", True, (40, 60), (9, 13), False, False),  # too many taps: None
}


def _run_resize(method, antialias, hw, size, channels_last, with_bias) -> dict:
    from lmar.parts.lmar.fused.resize_triton import fused_resize, resize_tables
    from lmar.parts.resize import resize

    torch.manual_seed(0)
    x = torch.rand(2, 3, *hw)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    bias = torch.tensor([0.25, -0.5, 1.0]) if with_bias else None
    tables = resize_tables(hw, size, method, antialias, "cpu")
    if tables is None:
        return {"tables": None}
    got = fused_resize(x, tables, bias)
    want = resize(x, size, method, antialias) + (bias.view(1, 3, 1, 1) if with_bias else 0)
    return {"tables": tables[0][0].shape[1], "diff": (got - want).abs().max().item(), "shape_ok": got.shape == want.shape}


ACTIVATION_SLOPES = (1e-6, 0.01, 0.5, 1.0)


def _run_activation() -> dict:
    """The kernel's LeakyReLU against torch's, bit for bit, on signed zeros, infinities, NaN, subnormals
    and the largest floats, for slopes across (0, 1]: per slope, the positions that differ."""
    import triton
    import triton.language as tl

    from lmar.parts.lmar.fused import lmar_triton

    @triton.jit
    def apply(x_ptr, out_ptr, slope, N: tl.constexpr):
        i = tl.arange(0, N)
        tl.store(out_ptr + i, lmar_triton._leaky_relu(tl.load(x_ptr + i), slope))

    globals()["lmar_triton"] = lmar_triton  # Triton resolves a kernel's names in its module's globals

    inf, tiny = float("inf"), torch.finfo(torch.float32).tiny
    x = torch.tensor([0.0, -0.0, 1.5, -1.5, inf, -inf, float("nan"), tiny / 8, -tiny / 8, 3.4e38, -3.4e38,
                      1e-3, -1e-3, 7.0, -7.0, 2.0 ** -126])
    differ = {}
    for slope in ACTIVATION_SLOPES:
        out = torch.empty_like(x)
        apply[(1,)](x, out, slope, N=x.numel())
        want = torch.nn.functional.leaky_relu(x, slope)
        same = (out.view(torch.int32) == want.view(torch.int32)) | (out.isnan() & want.isnan())
        differ[str(slope)] = (~same).nonzero().flatten().tolist()
    return differ


def _interpreter_worker() -> None:
    """Entry point of the subprocess: every case, as JSON on stdout."""
    from lmar.parts.lmar.fused.lmar_triton import INTERPRETED

    assert INTERPRETED, "the worker must run with TRITON_INTERPRET=1"
    results = {}
    for name, spec in CASES.items():
        start = time.perf_counter()
        results[name] = _run_case(spec) | {"seconds": time.perf_counter() - start}
    results["resizes"] = {name: _run_resize(*spec) for name, spec in RESIZES.items()}
    results["activation"] = _run_activation()
    print(json.dumps(results))


@pytest.fixture(scope="module")
def interpreted() -> dict[str, dict]:
    """The interpreter worker's results, per case (run once per module)."""
    return run_interpreted(__file__, timeout=300)


# ---------------------------------------------------------------- fused == reference (interpreter)


@needs_triton
@pytest.mark.parametrize("case", list(RESIZES))
def test_the_resize_kernel_matches_the_resize(interpreted, case):
    """4-tap tables for bicubic and area here, 8 for lanczos3's window; none for antialiased downscaling
    (the forward pass then keeps PyTorch's resize); the bias added per channel."""
    r = interpreted["resizes"][case]
    if case.startswith("antialiased"):
        assert r["tables"] is None
        return
    assert r["shape_ok"] and r["diff"] <= 2e-6, r
    assert r["tables"] == (8 if case.startswith("lanczos3") else 4)


@needs_triton
@pytest.mark.parametrize("case", [name for name, spec in CASES.items() if "model_dtype" not in spec])
def test_fused_matches_reference_fp32(interpreted, case):
    r = interpreted[case]
    assert r["shape_ok"]
    assert r["map_diff"] <= FP32_RTOL * r["map_scale"], r
    assert r["forward_diff"] <= FP32_RTOL * r["forward_scale"], r


@needs_triton
@pytest.mark.parametrize("case", [name for name, spec in CASES.items() if "model_dtype" not in spec])
def test_fused_bf16_dots_are_close(interpreted, case):
    r = interpreted[case]
    assert 0 < r["bf16_map_diff"] <= BF16_RTOL * r["map_scale"], r  # > 0: the dots really were bf16


@needs_triton
def test_fused_bf16_model_is_close(interpreted):
    r = interpreted["bf16_model"]
    assert r["shape_ok"]
    assert r["map_diff"] <= BF16_RTOL * r["map_scale"], r
    assert r["forward_diff"] <= BF16_RTOL * r["forward_scale"], r


@needs_triton
def test_residual_taps_in_kernel_or_precomputed(interpreted):
    """The kernel forms the residual from 4-tap tables; where the resize back needs more taps
    (antialiased downscaling) it gets the resized image and identity (1-tap) tables instead."""
    assert {name: interpreted[name]["up_taps"] for name in CASES if interpreted[name]["up_taps"] != 4} == {"antialias_fallback": 1}


@needs_triton
def test_the_forward_pass_fuses_the_1x1_fusion_into_the_kernel(interpreted):
    """compensatory_map gets the map; the forward pass the epilogue's mix (then one resize), which
    matches the reference's Conv1x1([x0, R(C)]) (test_fused_matches_reference_fp32); without a
    fusion layer there is nothing to mix."""
    assert interpreted["odd_9x13"]["mixed"] == [False, True]
    assert interpreted["bf16_model"]["mixed"] == [False, True]
    assert interpreted["embedding_add"]["mixed"] == [False, False]


@needs_triton
def test_a_persistent_launch_computes_every_block_as_one_program_per_block_does(interpreted):
    """A persistent program loads the weights once and loops over blocks: the map is the same to the
    last bit as with one program per block (same block size), whichever program takes which block."""
    persistent = [name for name, spec in CASES.items() if _persistent(spec)]
    assert len(persistent) == 3
    assert {name: interpreted[name]["persistent_vs_per_block"] for name in persistent} == dict.fromkeys(persistent, 0.0)


@needs_triton
def test_the_kernels_leaky_relu_is_torchs_bit_for_bit(interpreted):
    assert interpreted["activation"] == {str(slope): [] for slope in ACTIVATION_SLOPES}


@needs_triton
def test_fused_runs_once_per_call(interpreted):
    """compensatory_map and forward each launch the kernel once: chunk_pixels bands only the reference."""
    assert interpreted["odd_9x13"]["launches"] == 2
    assert interpreted["chunked_5_bands"]["launches"] == 2


# ---------------------------------------------------------------- dispatch


def test_auto_uses_the_reference_on_cpu():
    net = LMAR(hidden=16, depth=2)
    assert net.fused == "auto"
    x = torch.rand(1, 3, 9, 13)
    assert not use_fused("auto", net.mlp, x, needs_grad=False)
    ref = LMAR(hidden=16, depth=2, fused="never")
    ref.load_state_dict(net.state_dict())
    with torch.no_grad():
        assert torch.equal(net.compensatory_map(x, (4, 6)), ref.compensatory_map(x, (4, 6)))


def test_never_is_never_fused():
    net = LMAR(hidden=16, depth=2, fused="never")
    assert not use_fused(net.fused, net.mlp, torch.rand(1, 3, 4, 4), needs_grad=False)


def test_unknown_mode_raises():
    with pytest.raises(LmarError, match="fused='sometimes'"):
        LMAR(hidden=16, depth=2, fused="sometimes")


@pytest.mark.parametrize("hidden", [8, 20, 24, 256, 512])
def test_always_with_an_unsupported_shape_raises(hidden):
    with pytest.raises(LmarError, match="fused='always' cannot run"):
        LMAR(hidden=hidden, depth=2, fused="always")


@needs_triton
@pytest.mark.parametrize(
    "hidden, depth, dtype",
    [(16, 1, "float32"), (48, 2, "float32"), (128, 5, "float32"), (112, 3, "bfloat16"), (128, 5, "bfloat16")],
)
def test_supported_shapes(hidden, depth, dtype):
    assert mlp_unsupported(kernel_mlp(hidden, depth).to(getattr(torch, dtype))) is None


@needs_triton
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_hidden_is_limited_to_128(dtype):
    """Wider weight tiles would not fit a GPU's shared memory (test_wider_mlps_would_not_fit_the_default_launch)."""
    from lmar.parts.lmar.fused.packing import pack_mlp

    assert "[16, 128]" in mlp_unsupported(kernel_mlp(144, 2).to(getattr(torch, dtype)))
    with pytest.raises(LmarError, match=r"\[16, 128\]"):
        pack_mlp(kernel_mlp(256, 2).to(getattr(torch, dtype)))


@needs_triton
def test_foreign_mlp_is_unsupported():
    mlp = kernel_mlp(16, 2)
    mlp[1] = torch.nn.Tanh()
    assert "Linear/LeakyReLU" in mlp_unsupported(mlp)
    assert "float32 or all bfloat16" in mlp_unsupported(kernel_mlp(16, 2).half())


@needs_triton
def test_only_the_3x3_kernel_mlp_is_supported():
    """The kernel reads 7 inputs and the 27 taps of a 3x3 neighbourhood over 3 channels (3 x 27 = 81
    outputs); a 5x5 LMAR's MLP (75 taps, 225 outputs) or one with another input count runs in PyTorch."""
    assert "7 -> 225, not 7 -> 81" in mlp_unsupported(kernel_mlp(16, 2, kernel_size=5))
    wider_input = kernel_mlp(16, 2)
    wider_input[0] = torch.nn.Linear(8, 16)
    assert "8 -> 81, not 7 -> 81" in mlp_unsupported(wider_input)


@needs_triton
@pytest.mark.parametrize("slope, supported", [(1e-6, True), (0.01, True), (1.0, True), (0.0, False), (-0.1, False),
                                             (1.5, False)])
def test_leaky_relu_slopes_outside_0_1_are_unsupported(slope, supported):
    """The kernel's LeakyReLU is max(h, slope * h), which is LeakyReLU for slopes in (0, 1] only (at 0, the
    NaN of -inf * 0 is lost)."""
    mlp = kernel_mlp(16, 2)
    for m in mlp:
        if isinstance(m, torch.nn.LeakyReLU):
            m.negative_slope = slope
    assert (mlp_unsupported(mlp) is None) == supported, mlp_unsupported(mlp)


@needs_triton
def test_always_with_gradients_raises():
    net = LMAR(hidden=16, depth=2, fused="always")
    with pytest.raises(LmarError, match="gradient"):
        net.compensatory_map(torch.rand(1, 3, 9, 13), (4, 6))  # parameters require grad


@needs_triton
def test_always_with_a_dtype_mismatch_raises():
    net = LMAR(hidden=16, depth=2, fused="always").to(torch.bfloat16)
    with pytest.raises(LmarError, match="float32 but the kernel MLP is torch.bfloat16"):
        use_fused(net.fused, net.mlp, torch.rand(1, 3, 9, 13), needs_grad=False)


@needs_triton
def test_always_on_cpu_without_the_interpreter_raises():
    from lmar.parts.lmar.fused.lmar_triton import INTERPRETED

    if INTERPRETED:
        pytest.skip("this process runs Triton's interpreter")
    net = LMAR(hidden=16, depth=2, fused="always")
    with torch.no_grad(), pytest.raises(LmarError, match="TRITON_INTERPRET=1"):
        net.compensatory_map(torch.rand(1, 3, 9, 13), (4, 6))


@needs_triton
def test_compute_mode_follows_pytorch_settings():
    """bf16 weights or bf16 autocast -> bf16 dots; fp32 -> ieee products unless matmul precision allows TF32."""
    from lmar.parts.lmar.fused import fused_compute

    mlp, x = kernel_mlp(16, 2), torch.rand(1, 3, 4, 4)
    assert fused_compute(mlp, x) == "fp32"
    assert fused_compute(kernel_mlp(16, 2).bfloat16(), x) == "bf16"
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert fused_compute(mlp, x) == "bf16"
    before = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("high")
        assert fused_compute(mlp, x) == "tf32"
    finally:
        torch.set_float32_matmul_precision(before)
    assert fused_compute(mlp, x) == "fp32"


@needs_triton
def test_float16_autocast_is_refused_by_always():
    net = LMAR(hidden=16, depth=2, fused="always")
    with torch.autocast("cpu", dtype=torch.float16), pytest.raises(LmarError, match="float16 is not supported"):
        use_fused(net.fused, net.mlp, torch.rand(1, 3, 4, 4), needs_grad=False)


@needs_triton
def test_launch_override_from_the_environment(monkeypatch):
    from lmar.parts.lmar.fused.launch import LAUNCH, LAUNCH_ENV, Launch, launch_for

    monkeypatch.setenv(LAUNCH_ENV, '{"bf16": [128, 8, 2, true]}')
    assert launch_for("bf16") == Launch(128, 8, 2, True)
    assert launch_for("fp32") == LAUNCH["fp32"]
    monkeypatch.setenv(LAUNCH_ENV, '{"bf16": [64, 4, 2, false, 1]}')
    assert launch_for("bf16") == Launch(64, 4, 2, False, persistent=1)
    for bad in ('{"bf16": [100, 8, 2, true]}', "not json", '{"bf16": [128, 3]}', '{"bf16": [64, 4, 2, false, -1]}',
                '{"bf16": [64, 4, 2, false, true]}'):
        monkeypatch.setenv(LAUNCH_ENV, bad)
        with pytest.raises(LmarError, match=LAUNCH_ENV):
            launch_for("bf16")


@needs_triton
@pytest.mark.parametrize(
    "persistent, blocks, batch, want",
    [
        (0, 100, 1, 100),  # one program per block
        (0, 100, 3, 100),  # ... per batch item
        (1, 100, 1, 2),  # one per multiprocessor (the interpreter counts 2)
        (3, 100, 4, 2),  # 6 in all over 4 batch items: 2 each, rounded up
        (1, 100, 5, 1),  # at least one per batch item
        (4, 5, 1, 5),  # never more than one per block
    ],
)
def test_programs_of_a_launch(persistent, blocks, batch, want):
    from lmar.parts.lmar.fused.launch import INTERPRETER_MULTIPROCESSORS, Launch

    assert INTERPRETER_MULTIPROCESSORS == 2
    assert Launch(64, persistent=persistent).programs(blocks, batch, torch.device("cpu")) == want


@needs_triton
def test_packed_weights_are_reused_until_a_parameter_changes():
    from lmar.parts.lmar.fused import fused_map

    net = LMAR(hidden=16, depth=2)
    first = fused_map(net.mlp, "fp32").keywords["mlp"]
    assert fused_map(net.mlp, "fp32").keywords["mlp"] is first
    assert fused_map(net.mlp, "bf16").keywords["mlp"] is not first
    with torch.no_grad():
        net.mlp[0].weight.add_(1.0)  # in place, as an optimiser step
    again = fused_map(net.mlp, "fp32").keywords["mlp"]
    assert again is not first
    assert torch.equal(again.w_in[:7, :16], net.mlp[0].weight.t())


# ---------------------------------------------------------------- compiled code, without a GPU


@needs_triton
@pytest.mark.parametrize(
    "hidden, depth, compute, launch, up_taps, mix",
    [
        (128, 5, "fp32", None, 4, False),
        (128, 5, "tf32", None, 4, True),
        (128, 5, "bf16", None, 4, False),
        (128, 5, "bf16", None, 4, True),
        (128, 5, "bf16", (128, 8, 3, True), 4, True),
        (128, 5, "bf16", None, 1, True),
        (112, 2, "bf16", None, 4, False),
        (16, 1, "fp32", (16, 1, 1, False), 4, True),
        (128, 5, "bf16", (64, 4, 2, False, 1), 4, True),  # persistent: resident weights, 174 KiB
        (128, 5, "bf16", (128, 8, 2, False, 1), 4, False),
    ],
)
def test_kernel_compiles_for_h100(hidden, depth, compute, launch, up_taps, mix, tmp_path, monkeypatch):
    """Triton compiles the kernel to an sm_90 cubin (no GPU needed), specialised as for a 4K launch,
    within the shared memory of one block.

    The interpreter cannot catch compile-only errors (types, layouts, resources); this does.
    """
    from lmar.parts.lmar.fused.launch import Launch, launch_for
    from lmar.parts.lmar.fused.lmar_triton import _compensation_kernel, kernel_constants
    from lmar.parts.lmar.fused.packing import compute_dtype, pack_mlp

    _skip_unless_compiling()
    monkeypatch.setenv("TRITON_CACHE_DIR", str(tmp_path))  # a cold compile, and no files left behind
    packed = pack_mlp(kernel_mlp(hidden, depth).to(compute_dtype(compute)), compute_dtype(compute))
    launch = Launch(*launch) if launch else launch_for(compute)
    constants = kernel_constants(packed, compute, launch, up_taps, mix)
    pointee = {"w": "bf16" if compute == "bf16" else "fp32", "iy": "i32", "ix": "i32"}
    compiled = _compile_as_launched(_compensation_kernel, pointee, constants, MAP_INTS, launch.num_warps,
                                    launch.num_stages, floats=("negative_slope",))
    assert compiled.asm["cubin"]
    assert compiled.metadata.shared <= 227 * 1024  # an H100 block's shared memory limit
    if compute == "bf16" and launch == launch_for("bf16") and hidden == 128 and up_taps == 4:
        # The fast path's default launch keeps most of its state in registers, by ptxas's own count, which
        # depends on the ptxas. Compiled as here, Triton 3.6 (the GPU machine's, with torch 2.11) gave
        # 254 registers and no spills for the map, which is what that machine reported when it ran the
        # kernel (kernel.json of docs/measured/h100-2026-11-26), and 56 bytes with the epilogue's mix
        # (the forward pass's path); with the LeakyReLU as a max (not compare-and-select) 244 registers
        # and no spills, and 64 bytes. The CUDA 12.9 ptxas that Triton 3.8 (torch 2.14.1's) ships spills
        # 148 and 232 bytes (144 and 244 before the max). The TF32 launch, for scale, spills about 2000.
        assert _ptxas_spill_bytes(compiled.asm["ptx"], tmp_path) <= 256
    if compute == "bf16" and launch.num_stages > 1 and not launch.unroll and depth > 2:
        # the layer loop's weights stream through num_stages shared-memory buffers (asynchronous copies):
        # only a launch specialised on alignment gets them, which is why the compile must be specialised
        assert compiled.metadata.shared >= launch.num_stages * packed.hidden**2 * 2
        assert "cp.async" in compiled.asm["ptx"]


@needs_triton
@pytest.mark.parametrize("persistent", [0, 1])
def test_persistent_programs_load_the_weights_once(persistent, tmp_path, monkeypatch):
    """Compiled for sm_90 (bf16, the default MLP): a persistent program's tensor-core products read every
    weight matrix from shared memory filled before its loop over blocks, and nothing in the loop loads a
    weight; one program per block streams the hidden layers' weights through its layer loop instead."""
    from lmar.parts.lmar.fused.launch import Launch
    from lmar.parts.lmar.fused.lmar_triton import _compensation_kernel, kernel_constants
    from lmar.parts.lmar.fused.packing import pack_mlp

    _skip_unless_compiling()
    monkeypatch.setenv("TRITON_CACHE_DIR", str(tmp_path))
    launch = Launch(64, 4, 2, False, persistent)
    packed = pack_mlp(kernel_mlp(128, 5).bfloat16())
    compiled = _compile_as_launched(_compensation_kernel, {"w": "bf16", "iy": "i32", "ix": "i32"},
                                    kernel_constants(packed, "bf16", launch, 4, True), MAP_INTS, launch.num_warps,
                                    launch.num_stages, floats=("negative_slope",))
    ir = compiled.asm["ttgir"]
    first_loop = ir.index("scf.for ")
    # weight matrices put in shared memory before the first loop (the block loop, or the layer loop)
    resident = set(re.findall(r"%(\w+) = ttg\.local_alloc %w_(?:in|hid|out)\w* :", ir[:first_loop]))
    products = re.findall(r"warp_group_dot %\w+, %(\w+)", ir)  # their weight operands
    if persistent:
        assert len(resident) == 1 + 4 + 3  # W_in, the 4 hidden layers', W_o for 3 channels
        assert len(products) == 8 and set(products) == resident, products
        assert "async_copy_global_to_local %w_" not in ir and "tt.load %w_" not in ir[first_loop:]
    else:
        # only W_in precedes the layer loop; its one product and the 3 W_o read weights loaded later, per block
        assert len(resident) == 1 and len(products) == 5 and len(set(products) - resident) == 4
        assert "async_copy_global_to_local" in ir[first_loop:]  # the layer loop streams the hidden weights


@needs_triton
def test_wider_mlps_would_not_fit_the_default_launch(tmp_path, monkeypatch):
    """Why MAX_HIDDEN is 128: at hidden 256 the bf16 launch's pipelined weights need 385 KiB of shared memory."""
    from lmar.parts.lmar.fused.launch import launch_for
    from lmar.parts.lmar.fused.lmar_triton import _compensation_kernel, kernel_constants
    from lmar.parts.lmar.fused.packing import MAX_HIDDEN, pack_mlp

    _skip_unless_compiling()
    monkeypatch.setenv("TRITON_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr("lmar.parts.lmar.fused.packing.MAX_HIDDEN", 256)  # pack it anyway, to compile it
    packed = pack_mlp(kernel_mlp(256, 3).bfloat16())
    launch = launch_for("bf16")
    compiled = _compile_as_launched(_compensation_kernel, {"w": "bf16", "iy": "i32", "ix": "i32"},
                                    kernel_constants(packed, "bf16", launch, 4, True), MAP_INTS, launch.num_warps,
                                    launch.num_stages, floats=("negative_slope",))
    assert compiled.metadata.shared > 227 * 1024 and MAX_HIDDEN == 128


@needs_triton
@pytest.mark.parametrize("taps, dtype, bias", [(4, "fp32", True), (8, "fp32", False), (8, "bf16", True)])
def test_resize_kernel_compiles_for_h100(taps, dtype, bias, tmp_path, monkeypatch):
    """The fused path's resize kernel compiles to an sm_90 cubin (no GPU needed), specialised as for x0 = R(x)
    of a 4K input, as the map's kernel."""
    from lmar.parts.lmar.fused.resize_triton import BLOCK, _resize_kernel

    _skip_unless_compiling()
    monkeypatch.setenv("TRITON_CACHE_DIR", str(tmp_path))
    pointee = {"src": dtype, "out": dtype, "iy": "i32", "ix": "i32", "bias": dtype}
    compiled = _compile_as_launched(_resize_kernel, pointee, {"TAPS": taps, "BLOCK": BLOCK, "BIAS": bias},
                                    RESIZE_INTS, num_warps=4, num_stages=3)
    assert compiled.asm["cubin"]


# The integer arguments of the 3840x2160 -> 1200x2133 launches (contiguous tensors), on which Triton
# specialises what it compiles: an integer divisible by 16 (and every pointer, 16-byte aligned as
# PyTorch allocates) is marked so (tt.divisibility 16), which lets loads vectorise and pipeline; an
# integer equal to 1 (a unit stride) becomes a constant.
H, W, h, w = 2160, 3840, 1200, 2133
MAP_INTS = {"n_pixels": H * W, "height": H, "width": W, "x_sb": 3 * H * W, "x_sc": H * W, "x_sh": W, "x_sw": 1,
            "low_sb": 3 * h * w, "low_sc": h * w, "low_sh": w, "low_sw": 1}
RESIZE_INTS = {"n_out": h * w, "out_w": w, "s_sb": 3 * H * W, "s_sc": H * W, "s_sh": W, "s_sw": 1}


def _skip_unless_compiling():
    triton = pytest.importorskip("triton")
    from lmar.parts.lmar.fused.lmar_triton import INTERPRETED

    if INTERPRETED:
        pytest.skip("this process runs Triton's interpreter")
    if "nvidia" not in triton.backends.backends:
        pytest.skip("triton has no NVIDIA backend")


def _compile_as_launched(kernel, pointee: dict, constants: dict, ints: dict, num_warps: int, num_stages: int,
                         floats=()):
    """``kernel`` compiled for sm_90 as a launch with these integer arguments is (see MAP_INTS); pointer
    arguments point to ``pointee[name's first word]`` (default fp32)."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    signature, attrs, constants = {}, {}, dict(constants)
    for i, name in enumerate(kernel.arg_names):
        if name in constants:
            signature[name] = "constexpr"
        elif name.endswith("_ptr"):
            signature[name] = "*" + pointee.get(name.split("_")[0], "fp32")
            attrs[(i,)] = [["tt.divisibility", 16]]
        elif name in floats:
            signature[name] = "fp32"
        elif ints[name] == 1:
            signature[name], constants[name] = "constexpr", 1
        else:
            signature[name] = "i32"
            if ints[name] % 16 == 0:
                attrs[(i,)] = [["tt.divisibility", 16]]
    return triton.compile(ASTSource(kernel, signature, constants, attrs), target=GPUTarget("cuda", 90, 32),
                          options={"num_warps": num_warps, "num_stages": num_stages})


def _ptxas_spill_bytes(ptx: str, tmp_path: Path) -> int:
    """Spill stores ptxas reports for ``ptx`` on sm_90a (the ptxas shipped with Triton)."""
    import triton

    ptxas = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "ptxas"
    if not ptxas.exists():
        pytest.skip("triton ships no ptxas here")
    (tmp_path / "k.ptx").write_text(ptx)
    proc = subprocess.run([str(ptxas), "-v", "--gpu-name=sm_90a", str(tmp_path / "k.ptx"), "-o", str(tmp_path / "k.o")],
                          capture_output=True, text=True, check=True)
    found = re.search(r"(\d+) bytes spill stores", proc.stderr)
    assert found, proc.stderr[-2000:]
    return int(found.group(1))


# ---------------------------------------------------------------- GPU


needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _gpu_twins(hw, size, batch=2, hidden=128, depth=5, mode="auto"):
    """(reference, fused) LMAR twins on CUDA, and an input; skips where Triton is interpreted."""
    from lmar.parts.lmar.fused.lmar_triton import INTERPRETED

    if INTERPRETED:
        pytest.skip("this process runs Triton's interpreter")
    torch.manual_seed(0)
    ref = LMAR(hidden=hidden, depth=depth, fused="never").cuda()
    fused = LMAR(hidden=hidden, depth=depth, fused=mode).cuda()
    fused.load_state_dict(ref.state_dict())
    return ref, fused, torch.rand(batch, 3, *hw, device="cuda")


def _poisoned_cache(n_bytes: int) -> None:
    """Fill then free a block of the caching allocator with NaN, so that an output the kernel
    allocates next may reuse it: an element the kernel does not write stays NaN."""
    torch.full((n_bytes // 4,), float("nan"), device="cuda")
    torch.cuda.synchronize()


@needs_triton
@needs_gpu
@pytest.mark.parametrize("hw, size, batch", [((540, 960), (270, 480), 2), ((37, 53), (11, 29), 3)])
def test_gpu_fused_fp32_matches_reference(hw, size, batch):
    """The default MLP on CUDA, the kernel in true fp32 ("always": "auto" leaves fp32 to the
    reference, which is faster); every output element written."""
    ref, fused, x = _gpu_twins(hw, size, batch, mode="always")
    assert not use_fused("auto", fused.mlp, x, needs_grad=False)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        assert use_fused("auto", fused.mlp, x, needs_grad=False)
        assert not use_fused("auto", fused.mlp, x, needs_grad=True)
    with torch.no_grad():
        out_ref = ref.compensatory_map(x, size)
        _poisoned_cache(out_ref.numel() * 4)
        out_fused = fused.compensatory_map(x, size)
        forward_ref = ref(x, size)
        _poisoned_cache(out_ref.numel() * 4)  # the epilogue's mix is as large as the map
        forward_fused = fused(x, size)
    assert torch.isfinite(out_fused).all() and torch.isfinite(forward_fused).all()
    assert (out_fused - out_ref).abs().max().item() <= FP32_RTOL * out_ref.abs().max().item()
    assert (forward_fused - forward_ref).abs().max().item() <= FP32_RTOL * forward_ref.abs().max().item()


@needs_triton
@needs_gpu
def test_gpu_launch_reports_what_the_compiler_used():
    """fused_compensation(compiled={}) reports registers, spills and shared memory (tune-kernel records them)."""
    from lmar.parts.lmar.fused.lmar_triton import fused_compensation

    _, fused, x = _gpu_twins((64, 96), (30, 50), batch=1)
    compiled: dict = {}
    with torch.no_grad():
        fused_compensation(*fused.fused_inputs(x, (30, 50)), fused.mlp, compute="bf16", compiled=compiled)
    assert compiled["registers"] > 0 and compiled["spills"] >= 0 and compiled["shared_bytes"] > 0, compiled


@needs_triton
@needs_gpu
def test_gpu_bf16_forward_never_waits_for_the_device():
    """LMAR's fused forward queues its work without a host-device synchronisation (which would
    expose every later launch's latency)."""
    _, fused, x = _gpu_twins((64, 96), (30, 50), batch=1)
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        fused(x, (30, 50))  # compiles the kernel and packs the weights
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            fused(x, (30, 50))
        finally:
            torch.cuda.set_sync_debug_mode("default")


@needs_triton
@needs_gpu
def test_gpu_fused_follows_autocast_and_tf32():
    """Under bf16 autocast the kernel computes bf16 dots, with TF32 allowed TF32 ones: both close to fp32."""
    ref, fused, x = _gpu_twins((256, 384), (100, 150))
    size = (100, 150)
    with torch.no_grad():
        out_ref = ref.compensatory_map(x, size)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out_bf16 = fused.compensatory_map(x, size)
        before = torch.get_float32_matmul_precision()
        try:
            torch.set_float32_matmul_precision("high")
            out_tf32 = fused.compensatory_map(x, size)
        finally:
            torch.set_float32_matmul_precision(before)
        out_fp32 = fused.compensatory_map(x, size)
    scale = out_ref.abs().max().item()
    diff = {name: (out - out_ref).abs().max().item() for name, out in
            {"bf16": out_bf16, "tf32": out_tf32, "fp32": out_fp32}.items()}
    assert diff["fp32"] <= FP32_RTOL * scale, diff
    assert 0 < diff["tf32"] <= 1e-2 * scale, diff  # > 0: TF32 really was used
    assert diff["tf32"] < diff["bf16"] <= BF16_RTOL * scale, diff


if __name__ == "__main__":
    _interpreter_worker()
