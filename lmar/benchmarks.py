"""Benchmarks: speed and memory as ratios within one run, with the device named.

Each case runs in a fresh child process (multiprocessing, spawn) so that its peak memory is its
own: on CUDA ``torch.cuda.max_memory_allocated``; on CPU the growth of the peak resident set
(``ru_maxrss``) after the inputs exist. Times are medians of ``repeats`` runs after one warm-up.
"""

from __future__ import annotations

import multiprocessing as mp
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path

import torch

UHD = (2160, 3840)  # H x W of a 4K frame


def device_label(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return f"cpu:{platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"


def _peak_mib(device: torch.device, base: float) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20 - base
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0 - base


def _base_mib(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        return torch.cuda.memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _timed(fn, device: torch.device, repeats: int, warmup: int) -> dict:
    """Median seconds of ``fn()`` and its peak extra memory (MiB) over warm-up and timed runs
    (the CPU's peak resident set only grows, so its baseline is taken before the warm-up)."""
    from lmar.runtime import synchronize

    with torch.no_grad():
        base = _base_mib(device)
        for _ in range(warmup):
            fn()
        synchronize(device)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            synchronize(device)
            times.append(time.perf_counter() - t0)
    return {"seconds": statistics.median(times), "seconds_all": times, "peak_extra_mib": _peak_mib(device, base)}


def _case(kind: str, args: dict) -> dict:
    """One measurement, run inside the child process."""
    from lmar.registry import BACKBONES, RESAMPLERS
    from lmar.runtime import resolve_device, setup

    setup(seed=0, threads=args.get("threads"))
    device = resolve_device(args["device"])
    hw = tuple(args.get("hw", UHD))
    x = torch.rand(1, 3, *hw, device=device)
    if kind == "resample":
        net = RESAMPLERS.build(args["resampler"]).to(device).eval()
        size = tuple(args["size"])
        out = _timed(lambda: net(x, size), device, args["repeats"], args["warmup"])
    elif kind == "deu":
        from lmar.pipeline import deu

        backbone = BACKBONES.build(args["backbone"]).to(device).eval()
        net = RESAMPLERS.build(args["resampler"]).to(device).eval()
        size = tuple(args["size"])
        out = _timed(lambda: deu(x, size, net, backbone), device, args["repeats"], args["warmup"])
    elif kind == "metric":
        from lmar.metrics import Scorer

        scorer = Scorer([args["metric"]], device, required=[args["metric"]])
        y = torch.rand_like(x)
        out = _timed(lambda: scorer(x[0], y[0]), device, args["repeats"], args["warmup"])
    elif kind == "decode":
        from lmar.data.images import read_image, write_png

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "frame.png"
            write_png((x[0] * 255).round().cpu() / 255, path)
            out = _timed(lambda: read_image(path), torch.device("cpu"), args["repeats"], args["warmup"])
    else:
        raise ValueError(kind)
    return {"device": device_label(device), **out}


def measure(kind: str, **args) -> dict:
    """Run one case in a fresh process (spawned, so CUDA and peak memory start clean)."""
    args.setdefault("repeats", 3)
    args.setdefault("warmup", 1)
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(_case, (kind, args))


def run_suite(device: str = "auto", backbones: dict | None = None, hw=UHD, threads: int | None = None,
              repeats: int | None = None, progress=print) -> dict:
    """LMAR vs bicubic resampling; DEU per resampler vs full-resolution enhancement for each
    backbone; pyiqa metric and PNG decoding throughput. All at ``hw`` (default 3840x2160)."""
    from lmar.runtime import resolve_device
    from lmar.targets import Target

    dev = resolve_device(device)
    heavy = repeats or (5 if dev.type == "cuda" else 1)
    light = repeats or 5
    backbones = backbones or {"unet": {"type": "lmar_unet", "params": {"width": 16}}}
    targets = [Target("x1.8", size=(round(hw[0] / 1.8), round(hw[1] / 1.8))), Target("x2", scale=2.0)]
    common = {"device": str(dev), "hw": list(hw), "threads": threads}
    result: dict = {"device": None, "input_hw": list(hw), "torch": torch.__version__, "cases": [], "ratios": {}}

    def case(kind, label, **args):
        progress(f"benchmark {kind} {label} ...")
        out = measure(kind, **common, **args)
        result["device"] = out.pop("device")
        result["cases"].append({"kind": kind, "label": label, **out})
        progress(f"  {out['seconds'] * 1e3:.1f} ms, peak extra {out['peak_extra_mib']:.0f} MiB")
        return out

    for t in targets:
        size = list(t.resolve(hw))
        bic = case("resample", f"bicubic {t.label}", resampler={"type": "bicubic"}, size=size, repeats=light)
        lm = case("resample", f"lmar {t.label}", resampler={"type": "lmar"}, size=size, repeats=heavy)
        result["ratios"][f"resample {t.label}: lmar / bicubic time"] = lm["seconds"] / bic["seconds"]
        result["ratios"][f"resample {t.label}: lmar / bicubic peak memory"] = (
            lm["peak_extra_mib"] / max(bic["peak_extra_mib"], 1e-6))
    for name, spec in backbones.items():
        full = case("deu", f"{name} full resolution", backbone=spec, resampler={"type": "full_resolution"},
                    size=list(hw), repeats=heavy)
        for t in targets:
            for r in ("bicubic", "lmar"):
                out = case("deu", f"{name} {r} {t.label}", backbone=spec, resampler={"type": r},
                           size=list(t.resolve(hw)), repeats=heavy)
                result["ratios"][f"DEU {name} {r} {t.label} / full resolution time"] = out["seconds"] / full["seconds"]
    for metric in ("psnr", "ssim"):
        out = case("metric", metric, metric=metric, repeats=light)
        result["ratios"][f"{metric} images per second"] = 1.0 / out["seconds"]
    out = case("decode", "png", repeats=light)
    result["ratios"]["png decode images per second"] = 1.0 / out["seconds"]
    return result
