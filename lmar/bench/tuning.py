"""Measure the fused kernel's launch candidates on a GPU (``lmar tune-kernel``), each in its own process.

For each compute mode (fp32, tf32, bf16) and each candidate :class:`Launch`, on one
3840x2160 image with the default MLP: the median time of the compensatory map
(``triton.testing.do_bench``, CUDA events), the arithmetic rate it reaches (FLOPs counted by
``torch.utils.flop_counter`` on the PyTorch reference), its peak extra GPU memory, what the
compiler reports (registers, spills, shared memory per program), and its error against a
float64 reference on a band of rows (relative L2 and largest absolute
difference). Candidates that fail to compile or run are recorded with the reason. The fastest
correct candidate per mode is reported as JSON ready for the ``LMAR_FUSED_LAUNCH`` variable
(or for :data:`lmar.parts.lmar.fused.launch.LAUNCH`).
"""

from __future__ import annotations

import copy
import itertools
import multiprocessing as mp
import statistics
from concurrent.futures import ProcessPoolExecutor
from functools import partial

import torch
from torch.utils.flop_counter import FlopCounterMode

from lmar.bench.benchmarks import _base_mib, _peak_mib, _wall
from lmar.core.errors import LmarError, first_line
from lmar.core.runtime import precision_mode, synchronize

# Largest relative L2 error against float64 for a candidate to count as correct, per mode
# (fp32 lands far below; TF32 near 3e-4; bf16 operands between 1e-3 and 1e-2).
TOLERANCE = {"fp32": 1e-5, "tf32": 3e-3, "bf16": 3e-2}
REFERENCE_ROWS = 64  # rows of the image checked against float64


PERSISTENT_LAUNCHES = ((64, 4, 2, False, 1), (128, 8, 2, False, 1), (64, 4, 3, False, 1))
"""The persistent bf16 launches tried (block, warps, stages, unroll, programs per multiprocessor), not yet
timed on a GPU: those that compile for sm_90 with the fewest spills, the two fewest first
(docs/measured/cpu-2026-12-05-persistent). workflow/scripts/resampler_4k.py and gpu_check.sh's Nsight
Compute step time and profile the first two."""


def candidates(compute: str) -> list:
    """The launches tried for ``compute``: block x warps x schedule (a software-pipelined layer
    loop, the loop without pipelining, or the layers unrolled). fp32 (no tensor cores) keeps its
    blocks small. bf16, the fast mode, gets the widest search, ordered so that a time limit cuts the
    least promising: first the fastest launch measured (128 pixels, 4 warps, 3 stages; H100,
    docs/measured/h100-2026-11-26), then the persistent launches (weights loaded once per program,
    unmeasured so far; the ones that compile for sm_90 with the fewest spills), then the measured
    launch and the runner-up's shape (256, 8) with 4 and 2 buffers, and (256, 8, 3), for the layer
    weights' pipeline (each program streams every layer's weights from L2), then the other blocks
    and warps, then the unpipelined schedules: under Triton 3.6 on H100 and H200 each of those
    faulted."""
    from lmar.parts.lmar.fused.launch import Launch

    blocks = {"fp32": (32, 64), "tf32": (64, 128), "bf16": (128, 256, 64)}[compute]
    warps = (8, 4) if compute == "bf16" else (4, 8)
    schedules = ((3, False), (1, True)) if compute == "fp32" else ((3, False), (1, False), (1, True))
    grid = [Launch(b, w, s, u) for b, w, (s, u) in itertools.product(blocks, warps, schedules)]
    if compute != "bf16":
        return grid
    first = [Launch(block, w, stages) for block, w in ((128, 4), (256, 8)) for stages in (3, 4, 2)]
    first[1:1] = [Launch(*launch) for launch in PERSISTENT_LAUNCHES]
    pipelined = [launch for launch in grid if launch.num_stages > 1 and launch not in first]
    return first + pipelined + [launch for launch in grid if launch.num_stages == 1]


def flops_per_pixel(net) -> float:
    """FLOPs of the reference band per full-resolution pixel (torch.utils.flop_counter)."""
    x = torch.rand(1, 3, 4, 64, device=next(net.parameters()).device)
    args = net.band_inputs(x, (2, 32))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net._band(*args)
    return counter.get_total_flops() / (4 * 64)


def _error(out: torch.Tensor, ref: torch.Tensor) -> dict:
    diff = out.double() - ref
    return {
        "rel_l2": (diff.norm() / ref.norm()).item(),
        "max_abs": diff.abs().max().item(),
        "finite": bool(torch.isfinite(out).all()),
    }


def _host_ms(fn, device: torch.device, runs: int) -> float:
    """Median milliseconds of ``runs`` synchronised, host-timed calls of ``fn()``."""
    synchronize(device)
    return statistics.median(_wall(fn, device, runs)) * 1e3


def _milliseconds(fn, device: torch.device) -> float:
    """Median milliseconds of ``fn()``: CUDA events through triton.testing.do_bench on a GPU; a
    few host-timed runs otherwise (Triton's interpreter, for tests only)."""
    if device.type == "cuda":
        from triton.testing import do_bench

        return do_bench(fn, warmup=25, rep=100, return_mode="median")
    return _host_ms(fn, device, 3)


def _peak_extra_mib(fn, device: torch.device) -> float | None:
    """Peak GPU memory of one ``fn()`` over what was allocated before (None off CUDA)."""
    if device.type != "cuda":
        return None
    base = _base_mib(device)
    fn()
    synchronize(device)
    return _peak_mib(device, base)


SLOW = 3.0  # a candidate whose first run takes this many times the best so far is timed only once


def _setting(hw, size, hidden: int, depth: int, device: torch.device):
    """The seeded test image and model, rebuilt identically in every process: (net, x, kernel inputs)."""
    from lmar.parts.lmar.resampler import LMAR

    torch.manual_seed(0)
    net = LMAR(hidden=hidden, depth=depth, fused="never").to(device).eval()
    x = torch.rand(1, 3, *hw, device=device)
    with torch.no_grad():
        return net, x, net.fused_inputs(x, size)


def _float64_reference(net, x: torch.Tensor, size) -> torch.Tensor:
    """The map's first REFERENCE_ROWS rows by the reference band in float64 (inputs from the
    float32 model, so only the band's arithmetic is in float64)."""
    r = REFERENCE_ROWS
    with torch.no_grad():
        x_pad, residual, rel_y, rel_x, cell = net.band_inputs(x, size)
        band = (x_pad[:, :, : r + 2], residual[:, :, :r], rel_y[:r], rel_x, cell)
        return copy.deepcopy(net).double()._band(*(t.double() for t in band))


def _candidate(setting: dict, compute: str, launch: list, best_ms: float | None) -> dict:
    """One candidate, in its own process: its map's first rows checked against float64, then
    timed (once only when it is SLOW times the best so far)."""
    from lmar.parts.lmar.fused.launch import Launch
    from lmar.parts.lmar.fused.lmar_triton import fused_compensation
    from lmar.parts.lmar.fused.packing import compute_dtype, pack_mlp

    dev = torch.device(setting["device"])
    net, x, args = _setting(setting["hw"], setting["size"], setting["hidden"], setting["depth"], dev)
    reference = _float64_reference(net, x, setting["size"])
    packed = pack_mlp(net.mlp, compute_dtype(compute))
    fn = partial(fused_compensation, *args, packed, compute=compute, launch=Launch(*launch))
    run: dict = {}
    with torch.no_grad():
        err = _error(fn(compiled=run)[:, :, :REFERENCE_ROWS], reference)  # run gets registers, spills, shared
        run.update(err, ok=err["finite"] and err["rel_l2"] <= TOLERANCE[compute])
        once = _host_ms(fn, dev, 1)
        if best_ms is not None and once > SLOW * best_ms:
            return run | {"ms": once, "timed_once": True, "peak_extra_mib": None}
        return run | {"ms": _milliseconds(fn, dev), "peak_extra_mib": _peak_extra_mib(fn, dev)}


def _isolated(fn, *args) -> dict:
    """``fn(*args)`` in a fresh spawned process: a candidate that breaks the CUDA context (an
    illegal memory access is sticky) or crashes cannot affect the next one."""
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def tune(hw=(2160, 3840), size=(1200, 2133), hidden: int = 128, depth: int = 5, computes=("tf32", "bf16"),
         progress=print, device: str = "cuda", launches=candidates, partial=None) -> dict:
    """Time and check every candidate (``launches(compute)``), each in its own process, on
    ``device``; see the module doc. Returns the JSON-ready result; ``partial(result)`` is called
    after each candidate with the result so far ("complete": false, "best" so far).
    ``device="cpu"`` works only under TRITON_INTERPRET=1 (tests)."""
    import triton

    from lmar.bench.benchmarks import device_label
    from lmar.parts.lmar.fused.lmar_triton import INTERPRETED

    dev = torch.device(device)
    if dev.type == "cuda" and (not torch.cuda.is_available() or INTERPRETED):
        raise LmarError("tune-kernel needs a CUDA GPU (and TRITON_INTERPRET unset)")
    if dev.type != "cuda" and not INTERPRETED:
        raise LmarError(f"tune-kernel on {dev} runs only under TRITON_INTERPRET=1 (for tests); use a CUDA GPU")
    setting = {"hw": list(hw), "size": list(size), "hidden": hidden, "depth": depth, "device": str(dev)}
    net, x, _ = _setting(hw, size, hidden, depth, dev)
    flops = flops_per_pixel(net) * hw[0] * hw[1]
    result = {
        "device": device_label(dev), "torch": torch.__version__, "triton": triton.__version__,
        "input_hw": list(hw), "target_hw": list(size), "mlp": {"hidden": hidden, "depth": depth},
        "gflop_per_image": flops / 1e9, "reference_rows": REFERENCE_ROWS, "tolerance_rel_l2": TOLERANCE,
        "runs": [], "best": {}, "complete": False,
    }

    def rate(run: dict) -> dict:
        return run | ({"tflops": flops / (run["ms"] * 1e-3) / 1e12} if "ms" in run else {})

    with torch.no_grad():
        contexts = {"bicubic resize (context)": (lambda: net.R(x, size), "fp32")}
        for compute in ("fp32", *computes):
            contexts[f"reference {compute} (PyTorch, chunked)"] = (lambda: net.compensatory_map(x, size), compute)
        for name, (fn, compute) in contexts.items():
            with precision_mode(compute, dev):
                run = rate({"label": name, "ms": _milliseconds(fn, dev), "peak_extra_mib": _peak_extra_mib(fn, dev)})
            result["runs"].append(run)
            progress(f"{name}: {run['ms']:.2f} ms")
    for compute in computes:
        best = None
        for launch in launches(compute):
            run = {"label": f"fused {compute}", "compute": compute,
                   "launch": [launch.block, launch.num_warps, launch.num_stages, launch.unroll, launch.persistent]}
            try:
                run.update(rate(_isolated(_candidate, setting, compute, run["launch"], best and best["ms"])))
            except Exception as exc:  # out of resources, compiler errors, a crashed process: record, go on
                run.update(ok=False, error=first_line(exc, 300))
            result["runs"].append(run)
            progress(f"fused {compute} {run['launch']}: "
                     + (f"{run['ms']:.3f} ms, {run['tflops']:.0f} TFLOP/s, rel err {run['rel_l2']:.1e}, "
                        f"{run.get('registers')} registers, {run.get('spills')} spills"
                        if "ms" in run else run.get("error", "")) + ("" if run["ok"] else "  (rejected)"))
            if run["ok"] and not run.get("timed_once") and (best is None or run["ms"] < best["ms"]):
                best = run
                result["best"][compute] = best["launch"]
            if partial is not None:
                partial(result)
    result["complete"] = True
    return result
