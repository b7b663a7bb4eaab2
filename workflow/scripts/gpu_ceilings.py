"""The device's two ceilings, measured here and now (not the datasheet's): a bf16 matrix product's rate
on random data (torch.matmul, n x n x n) and a device-to-device copy's bandwidth (bytes read plus bytes
written). Each is a median time by the launch sweep's timer (``lmar.bench.tuning``: CUDA events through
triton.testing.do_bench on a GPU, a few synchronised host-timed runs elsewhere). Kernel times measured in
the same call are read against these. Prints one JSON line.
Arguments: [device (default cuda)] [n (default 8192)] [copy MiB (default 2048)].
"""

from __future__ import annotations

import json
import sys

import torch

from lmar.bench.tuning import _milliseconds


def main(device: str = "cuda", n: int = 8192, copy_mib: int = 2048) -> None:
    dev = torch.device(device)
    gen = torch.Generator(device=dev).manual_seed(0)
    a, b = (torch.randn(n, n, device=dev, dtype=torch.bfloat16, generator=gen) for _ in range(2))
    matmul_ms = _milliseconds(lambda: torch.matmul(a, b), dev)
    src = torch.rand(copy_mib * 2**20 // 4, device=dev, generator=gen)
    dst = torch.empty_like(src)
    copy_ms = _milliseconds(lambda: dst.copy_(src), dev)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    print(json.dumps({"device": name, "torch": torch.__version__, "bf16_matmul_n": n,
                      "bf16_matmul_tflops": 2 * n**3 / matmul_ms / 1e9, "copy_mib": copy_mib,
                      "copy_tb_per_s": 2 * src.numel() * 4 / copy_ms / 1e9}))


if __name__ == "__main__":
    sys.exit(main(*(f(a) for f, a in zip((str, int, int), sys.argv[1:]))))
