"""Benchmark: LMAR vs bicubic resampling of one 3840x2160 image, time and peak memory.

Each measurement runs in a fresh child process so that its peak resident memory (ru_maxrss,
minus the level after the input tensor exists) belongs to that method alone. Figures are
reported as ratios to bicubic within one run, with the device named. Writes JSON.

    python tests/benchmarks/bench_resample_4k.py --out results/benchmarks/resample_4k.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

SIZE = (2160, 3840)  # H x W
TARGETS = {"x2": (1080, 1920), "x1.8": (1200, 2133)}


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def child(method: str, target: tuple[int, int], repeats: int, threads: int) -> dict:
    import torch

    from lmar.registry import RESAMPLERS

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = RESAMPLERS.build({"type": method}).eval()
    x = torch.rand(1, 3, *SIZE)
    base = _rss_mib()
    times = []
    with torch.no_grad():
        for _ in range(repeats):
            t0 = time.perf_counter()
            y = net(x, target)
            times.append(time.perf_counter() - t0)
    assert tuple(y.shape[-2:]) == tuple(target)
    return {"method": method, "seconds_median": statistics.median(times), "seconds_all": times,
            "peak_extra_mib": _rss_mib() - base, "threads": threads}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("results/benchmarks/resample_4k.json"))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--target", choices=sorted(TARGETS), default="x2")
    ap.add_argument("--repeats-lmar", type=int, default=2)
    ap.add_argument("--repeats-bicubic", type=int, default=5)
    ap.add_argument("--child", nargs=2, metavar=("METHOD", "REPEATS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    target = TARGETS[args.target]
    if args.child:
        print(json.dumps(child(args.child[0], target, int(args.child[1]), args.threads)))
        return 0
    runs = {}
    for method, repeats in (("bicubic", args.repeats_bicubic), ("lmar", args.repeats_lmar)):
        cmd = [sys.executable, __file__, "--child", method, str(repeats), "--threads", str(args.threads),
               "--target", args.target]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        runs[method] = json.loads(out.strip().splitlines()[-1])
        print(f"{method}: {runs[method]['seconds_median']:.4f} s, peak extra {runs[method]['peak_extra_mib']:.0f} MiB")
    import torch

    result = {
        "benchmark": "resample one 3840x2160 image (inference, fp32)",
        "input_hw": SIZE, "target_hw": target, "device": f"cpu:{platform.processor() or platform.machine()}",
        "threads": args.threads, "torch": torch.__version__, "runs": runs,
        "time_ratio_lmar_over_bicubic": runs["lmar"]["seconds_median"] / runs["bicubic"]["seconds_median"],
        "peak_memory_ratio_lmar_over_bicubic": runs["lmar"]["peak_extra_mib"] / max(runs["bicubic"]["peak_extra_mib"], 1e-9),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2))
    tmp.replace(args.out)
    print(f"time ratio lmar/bicubic {result['time_ratio_lmar_over_bicubic']:.0f}x; "
          f"peak memory ratio {result['peak_memory_ratio_lmar_over_bicubic']:.1f}x -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
