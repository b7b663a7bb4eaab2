"""The device's two ceilings, measured here and now (not the datasheet's): a bf16 matrix product's rate
on random data (torch.matmul, n x n x n) and a device-to-device copy's bandwidth (bytes read plus bytes
written). Each is the median of ``repeats`` timed runs after 3 warm-ups, with CUDA events on CUDA (a
synchronised host timer elsewhere). Kernel times measured in the same call are read against these.
Prints one JSON line. Arguments: [device (default cuda)] [n (default 8192)] [copy MiB (default 2048)]
[repeats (default 10)].
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import torch


def _median_seconds(fn, device: torch.device, repeats: int) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
        else:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(device: str = "cuda", n: int = 8192, copy_mib: int = 2048, repeats: int = 10) -> None:
    dev = torch.device(device)
    gen = torch.Generator(device=dev).manual_seed(0)
    a, b = (torch.randn(n, n, device=dev, dtype=torch.bfloat16, generator=gen) for _ in range(2))
    matmul = _median_seconds(lambda: torch.matmul(a, b), dev, repeats)
    src = torch.rand(copy_mib * 2**20 // 4, device=dev, generator=gen)
    dst = torch.empty_like(src)
    copy = _median_seconds(lambda: dst.copy_(src), dev, repeats)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    print(json.dumps({"device": name, "torch": torch.__version__, "bf16_matmul_n": n,
                      "bf16_matmul_tflops": 2 * n**3 / matmul / 1e12, "copy_mib": copy_mib,
                      "copy_tb_per_s": 2 * src.numel() * 4 / copy / 1e12, "repeats": repeats}))


if __name__ == "__main__":
    sys.exit(main(*(f(a) for f, a in zip((str, int, int, int), sys.argv[1:]))))
