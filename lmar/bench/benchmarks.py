"""Benchmarks: speed and memory as ratios within one run, with the device named.

On CPU each case runs in a fresh child process (multiprocessing, spawn) so that its peak memory
is its own: the growth of the peak resident set (``ru_maxrss``) from before the warm-up. On CUDA
the cases share one process and the peak is ``torch.cuda.max_memory_allocated`` over what was
allocated before the case, in two parts: ``peak_extra_mib`` over the timed calls (the steady
state) and ``peak_extra_mib_warmup`` over the warm-up (first calls: cuDNN's algorithm search with
its trial workspaces, compilation, caches). Times are medians of ``repeats`` runs after the warm-up. A "profile"
case then runs ``repeats`` more under torch.profiler: the time per call by op (see _profiled).

Precision (``precision`` of a case): "fp32" (PyTorch's defaults: float32 matmuls at "highest";
note that cuDNN convolutions may use TF32 on GPUs, PyTorch's default), "tf32" (float32 matmul
precision "high") or "bf16" (bf16 autocast). The fused LMAR kernel follows the same settings.
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

from lmar.core.runtime import PRECISIONS, precision_mode, synchronize

UHD = (2160, 3840)  # H x W of a 4K frame
DEU_VARIANTS = {  # label -> case arguments; "lmar bf16" runs only the resampler under bf16 autocast
    "fp32": {"precision": "fp32"},
    "bf16": {"precision": "bf16"},
    "bf16 channels-last": {"precision": "bf16", "channels_last": True},
    "fp32, resampler bf16": {"precision": "fp32", "resampler_precision": "bf16"},
}
TRAIN_OPTIONS = {  # label -> the training speed options (lmar.parts.recipes.SpeedOptions)
    "fp32": {},
    "bf16": {"amp": "bf16"},
    "bf16 channels-last": {"amp": "bf16", "channels_last": True},
    "bf16 channels-last compile": {"amp": "bf16", "channels_last": True, "compile": True},
}


def device_label(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    checks = (getattr(torch.cpu, name, lambda: False) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))
    bf16 = ", bf16 instructions" if any(check() for check in checks) else ""
    return (f"cpu:{platform.processor() or platform.machine()} {torch.backends.cpu.get_cpu_capability()}{bf16} "
            f"({torch.get_num_threads()} threads)")


def _peak_mib(device: torch.device, base: float) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20 - base
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0 - base


def _base_mib(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        return torch.cuda.memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _wall(fn, device: torch.device, repeats: int) -> list[float]:
    """Host seconds of each of ``repeats`` calls of ``fn()``, the device synchronised after each."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - t0)
    return times


def _timed(fn, device: torch.device, repeats: int, warmup: int, grad: bool = False) -> dict:
    """Median seconds of ``fn()`` and its peak extra memory (MiB): on CUDA over the timed runs, with
    the warm-up's apart (``peak_extra_mib_warmup``); on CPU over both (the peak resident set only
    grows, so its baseline is taken before the warm-up)."""
    with torch.set_grad_enabled(grad):
        base = _base_mib(device)
        for _ in range(warmup):
            fn()
        synchronize(device)
        first = {}
        if device.type == "cuda":
            first["peak_extra_mib_warmup"] = _peak_mib(device, base)
            torch.cuda.reset_peak_memory_stats(device)
        times = _wall(fn, device, repeats)
    return {"seconds": statistics.median(times), "seconds_all": times, "peak_extra_mib": _peak_mib(device, base), **first}


PROFILE_ROWS = 15  # ops listed per profile; the rest are summed as "other"
_NAME_CHARS = 160  # CUDA kernel names (templates) can run to kilobytes


def _op_rows(events, column: str, calls: int, top: int = PROFILE_ROWS) -> dict:
    """The ``top`` events by ``column`` (a FunctionEventAvg attribute in microseconds), per call of
    the profiled function: name, calls, ms and share of the column's total over ``events``."""
    total = sum(getattr(e, column) for e in events)
    ranked = sorted((e for e in events if getattr(e, column) > 0), key=lambda e: -getattr(e, column))

    def row(e):
        us = getattr(e, column)
        return {"name": e.key[:_NAME_CHARS], "calls": e.count / calls, "ms": us / 1e3 / calls,
                "share": us / total}

    rest = sum(getattr(e, column) for e in ranked[top:])
    return {"column": column, "total_ms": total / 1e3 / calls, "ops": [row(e) for e in ranked[:top]],
            "other": {"kinds": len(ranked[top:]), "ms": rest / 1e3 / calls, "share": rest / total if total else 0.0}}


def _profiled(fn, device: torch.device, repeats: int, warmup: int) -> dict:
    """_timed's measurement of ``fn()`` (inference), then ``repeats`` more calls under
    torch.profiler: where the time per call goes. On CUDA the ops are the device's kernels and
    copies by self device time ("total_ms": the device busy per call; "busy_over_wall" below 1 is
    time the device waits on the host, e.g. launch latency), and "host" the CPU ops by self CPU
    time; on CPU the ops by self CPU time ("busy_over_wall": the share of the wall time in ops)."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    out = _timed(fn, device, repeats, warmup)
    cuda = device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with torch.no_grad(), profile(activities=activities) as prof:
        profiled = _wall(fn, device, repeats)
    events = prof.key_averages()
    cpu = [e for e in events if e.device_type == DeviceType.CPU]
    if cuda:  # kernels, copies and fills; not the user annotations (ranges) on the device's timeline
        main = _op_rows([e for e in events if e.device_type != DeviceType.CPU and not e.is_user_annotation],
                        "self_device_time_total", repeats)
        main["host"] = _op_rows(cpu, "self_cpu_time_total", repeats)
    else:
        main = _op_rows(cpu, "self_cpu_time_total", repeats)
    main["busy_over_wall"] = main["total_ms"] / 1e3 / out["seconds"]
    return {**out, "profiled_seconds": statistics.median(profiled), **main}


class _AtPrecision(torch.nn.Module):
    """A resampler run at its own precision (see precision_mode) inside DEU."""

    def __init__(self, resampler, precision: str, device: torch.device):
        super().__init__()
        self.resampler, self.precision, self.device = resampler, precision, device
        self.is_identity = resampler.is_identity

    def forward(self, x, size):
        with precision_mode(self.precision, self.device):
            return self.resampler(x, size).to(x.dtype)


def _train_step_fn(args: dict, device: torch.device):
    """One LMAR training step (LMARLoss against a frozen backbone, Adam) on a random square crop,
    with the training speed options ``args["options"]``; target sizes cycle through a seeded list."""
    from lmar.core.registry import BACKBONES, RESAMPLERS
    from lmar.parts.lmar.losses import LMARLoss
    from lmar.run.train import _speed, recipe

    crop = int(args["crop"])
    backbone = BACKBONES.build(args["backbone"]).to(device).eval().requires_grad_(False)
    spec = args.get("resampler", {"type": "lmar"})
    net = RESAMPLERS.build(spec).to(device).train()
    cfg = recipe(type(net), {"train": {**args.get("options", {}), "resize_loss": "l1"}}, "benchmark")
    loss_fn = LMARLoss(backbone, net, cfg, device)
    opt = torch.optim.Adam(net.parameters(), lr=float(cfg["lr"]))
    autocast, fmt = _speed(cfg, device, net, [backbone])
    gen = torch.Generator().manual_seed(0)
    sizes = torch.randint(crop // 4, crop, (64,), generator=gen).tolist()
    x = torch.rand(1, 3, crop, crop, device=device).to(memory_format=fmt)
    step = iter(range(10**9))

    def fn():
        s = sizes[next(step) % len(sizes)]
        with autocast():
            loss, _ = loss_fn(x, x, (s, s), 1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return fn


def _case(kind: str, args: dict) -> dict:
    """One measurement (in a child process on CPU, in-process on CUDA)."""
    from lmar.core.registry import BACKBONES, RESAMPLERS
    from lmar.core.runtime import resolve_device, setup

    setup(seed=0, threads=args.get("threads"))
    device = resolve_device(args["device"])
    # Fixed shapes: let cuDNN pick its kernels. Not for training steps, whose target sizes vary
    # (cuDNN would search again at every new size: seconds per step).
    torch.backends.cudnn.benchmark = device.type == "cuda" and kind != "train_step"
    hw = tuple(args.get("hw", UHD))
    fmt = torch.channels_last if args.get("channels_last") else torch.contiguous_format
    x = torch.rand(1, 3, *hw, device=device).to(memory_format=fmt)
    timing = {"repeats": args["repeats"], "warmup": args["warmup"]}
    with precision_mode(args.get("precision", "fp32"), device):
        if kind in ("resample", "profile"):
            net = RESAMPLERS.build(args["resampler"]).to(device).eval()
            size = tuple(args["size"])
            out = (_timed if kind == "resample" else _profiled)(lambda: net(x, size), device, **timing)
        elif kind == "deu":
            from lmar.run.pipeline import deu

            backbone = BACKBONES.build(args["backbone"]).to(device, memory_format=fmt).eval()
            net = RESAMPLERS.build(args["resampler"]).to(device).eval()
            if "resampler_precision" in args:  # the resampler alone at another precision
                net = _AtPrecision(net, args["resampler_precision"], device)
            size = tuple(args["size"])
            out = _timed(lambda: deu(x, size, net, backbone), device, **timing)
        elif kind == "train_step":
            out = _timed(_train_step_fn(args, device), device, grad=True, **timing)
        elif kind == "metric":
            from lmar.run.metrics import Scorer

            scorer = Scorer([args["metric"]], device, required=[args["metric"]])
            y = torch.rand_like(x)
            out = _timed(lambda: scorer(x[0], y[0]), device, **timing)
        elif kind == "decode":
            from lmar.data.image_write import write_png
            from lmar.data.images import read_image

            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "frame.png"
                write_png((x[0] * 255).round().cpu() / 255, path)
                out = _timed(lambda: read_image(path), torch.device("cpu"), **timing)
        else:
            raise ValueError(kind)
    return {"device": device_label(device), **out}


def measure(kind: str, **args) -> dict:
    """Run one case: in a fresh spawned process on CPU (its own peak memory), in this one on CUDA."""
    args.setdefault("repeats", 3)
    args.setdefault("warmup", 1)
    if str(args.get("device", "cpu")).startswith("cuda"):
        return _case(kind, args)
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(_case, (kind, args))


def _variants(device: torch.device) -> dict:
    """Which variants each group of cases runs: on CUDA every precision, LMAR's PyTorch reference
    path beside the fused kernel, and every training speed option at 1024x1024 crops; on CPU fp32
    and bf16 autocast at 256x256 crops (no TF32 there, and LMAR always runs the reference). bf16
    matters on a CPU with bf16 instructions (the device label names the CPU's vector extension):
    on the AVX512-BF16 reference machine it ran LMAR 2.4x and its training 2x faster than fp32."""
    if device.type == "cuda":
        return {"resample": PRECISIONS, "reference": True, "deu": tuple(DEU_VARIANTS), "train": tuple(TRAIN_OPTIONS),
                "crop": 1024}
    return {"resample": ("fp32", "bf16"), "reference": False, "deu": ("fp32", "fp32, resampler bf16"),
            "train": ("fp32", "bf16"), "crop": 256}


def _pyiqa_missing() -> str | None:
    try:
        import pyiqa  # noqa: F401
    except ImportError as exc:
        return f"pyiqa does not import here ({exc})"
    return None


SECTIONS = ("resample", "profile", "deu", "train", "metrics", "decode")


def run_suite(device: str = "auto", backbones: dict | None = None, hw=UHD, threads: int | None = None,
              repeats: int | None = None, train_crop: int | None = None, progress=print,
              sections=SECTIONS, train_options=None, partial=None) -> dict:
    """LMAR (fused and reference, per precision) vs bicubic resampling, and the authors' lanczos3
    resize vs bicubic at x2; where LMAR's time goes at x1.8 per precision (torch.profiler, see
    _profiled); DEU per resampler vs full-resolution enhancement for each backbone; LMAR training
    steps per second; pyiqa metric and PNG decoding throughput. All at ``hw`` (default 3840x2160). ``sections``: which of
    SECTIONS to run; ``train_options``: labels of TRAIN_OPTIONS (default: per device);
    ``partial(result)``: called after each case with the result so far ("complete": false).
    A case that raises is recorded under "failed" (label -> error) and the rest still run."""
    from lmar.core.errors import LmarError, first_line
    from lmar.core.runtime import resolve_device
    from lmar.run.targets import Target

    unknown = sorted(set(sections) - set(SECTIONS)) + sorted(set(train_options or ()) - set(TRAIN_OPTIONS))
    if unknown:
        raise LmarError(f"bench: unknown section or training option {unknown}; sections: {', '.join(SECTIONS)}; "
                        f"training options: {', '.join(map(repr, TRAIN_OPTIONS))}")
    dev = resolve_device(device)
    cuda = dev.type == "cuda"
    heavy = repeats or (10 if cuda else 1)
    light = repeats or (10 if cuda else 5)
    warm = 3 if cuda else 1
    variants = _variants(dev)
    backbones = backbones or {"unet": {"type": "unet_lite", "params": {"width": 16}}}
    targets = [Target("x1.8", size=(round(hw[0] / 1.8), round(hw[1] / 1.8))), Target("x2", scale=2.0)]
    common = {"device": str(dev), "hw": list(hw), "threads": threads}
    result: dict = {"device": None, "input_hw": list(hw), "torch": torch.__version__, "complete": False,
                    "cases": [], "ratios": {}, "skipped": {}, "failed": {}}

    def case(kind, label, **args):
        """One case's measurement, or None when it raised: the error is recorded under "failed"
        and the suite goes on (on a GPU, one kernel that fails to compile need not cost the rest)."""
        progress(f"benchmark {kind} {label} ...")
        try:
            out = measure(kind, **{"warmup": warm, **common, **args})
        except Exception as exc:  # noqa: BLE001 - recorded, reported, and `lmar bench` exits non-zero
            result["failed"][label] = first_line(exc, 500)
            progress(f"  FAILED: {result['failed'][label]}")
            out = None
        else:
            result["device"] = out.pop("device")
            result["cases"].append({"kind": kind, "label": label, **args, **out})
            first = out.get("peak_extra_mib_warmup")
            progress(f"  {out['seconds'] * 1e3:.2f} ms, peak extra {out['peak_extra_mib']:.0f} MiB"
                     + (f" (warm-up {first:.0f} MiB)" if first is not None else ""))
        if partial is not None:
            partial(result)
        return out

    def ratio(name, a, b, key="seconds"):
        if a is not None and b is not None:
            result["ratios"][name] = a[key] / max(b[key], 1e-9)

    def rate(name, out):
        if out is not None:
            result["ratios"][name] = 1.0 / out["seconds"]

    for t in targets if "resample" in sections else ():
        size = list(t.resolve(hw))
        bic = case("resample", f"bicubic {t.label}", resampler={"type": "bicubic"}, size=size, repeats=light)
        if t.label == "x2":  # the authors' resize (lanczos3, zero outside the image), 3840x2160 -> 1920x1080
            lz = case("resample", f"lanczos3 {t.label}", resampler={"type": "lanczos3"}, size=size, repeats=light)
            ratio(f"resample {t.label}: lanczos3 / bicubic time", lz, bic)
        lmar = {}
        for p in variants["resample"]:
            lmar[p] = case("resample", f"lmar {t.label} {p}", resampler={"type": "lmar"}, size=size, repeats=heavy,
                           precision=p)
            ratio(f"resample {t.label}: lmar {p} / bicubic time", lmar[p], bic)
            ratio(f"resample {t.label}: lmar {p} / bicubic peak memory", lmar[p], bic, "peak_extra_mib")
        for p in variants["resample"] if variants["reference"] else ():  # the PyTorch path, forced
            ref = case("resample", f"lmar {t.label} {p} reference", resampler={"type": "lmar",
                       "params": {"fused": "never"}}, size=size, repeats=heavy, precision=p)
            ratio(f"resample {t.label}: lmar {p} reference / default path time", ref, lmar[p])
    x18 = next(t for t in targets if t.label == "x1.8")  # profiled at this target only
    for p in variants["resample"] if "profile" in sections else ():
        out = case("profile", f"lmar {x18.label} {p} profile", resampler={"type": "lmar"},
                   size=list(x18.resolve(hw)), repeats=heavy, precision=p)
        if out is None:
            continue
        busy = "device" if cuda else "CPU op"
        result["ratios"][f"profile {x18.label}: lmar {p} {busy} busy / wall time"] = out["busy_over_wall"]
        for row in out["ops"][:5]:
            progress(f"    {row['share']:6.1%} {row['ms']:9.3f} ms {row['calls']:5g}x {row['name'][:100]}")
    for name, spec in backbones.items() if "deu" in sections else ():
        full_fp32 = None
        for tag in variants["deu"]:
            extra = DEU_VARIANTS[tag]
            full = case("deu", f"{name} full resolution {tag}", backbone=spec, resampler={"type": "full_resolution"},
                        size=list(hw), repeats=heavy, **extra)
            full_fp32 = full_fp32 or full
            for t in targets:
                for r in ("bicubic", "lmar"):
                    out = case("deu", f"{name} {r} {t.label} {tag}", backbone=spec, resampler={"type": r},
                               size=list(t.resolve(hw)), repeats=heavy, **extra)
                    ratio(f"DEU {name} {r} {t.label} / full resolution time ({tag} both)", out, full)
                    if full is not full_fp32:
                        ratio(f"DEU {name} {r} {t.label} {tag} / full resolution fp32 time", out, full_fp32)
    crop = train_crop or variants["crop"]
    spec = next(iter(backbones.values()))
    for label in (train_options or variants["train"]) if "train" in sections else ():
        out = case("train_step", f"lmar train step {crop}x{crop} {label}", backbone=spec, crop=crop,
                   options=TRAIN_OPTIONS[label], repeats=repeats or (10 if cuda else 3), warmup=5 if "compile" in label else warm)
        rate(f"lmar training steps per second at {crop}x{crop} crops ({label})", out)
    reason = _pyiqa_missing() if "metrics" in sections else None
    for metric in ("psnr", "ssim") if "metrics" in sections and reason is None else ():
        rate(f"{metric} images per second", case("metric", metric, metric=metric, repeats=light))
    if reason is not None:
        result["skipped"]["metrics"] = reason
        progress(f"metrics skipped: {reason}")
    if "decode" in sections:
        rate("png decode images per second", case("decode", "png", repeats=light))
    result["complete"] = True
    return result
