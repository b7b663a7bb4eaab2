"""How the fused kernel (:mod:`lmar.parts.lmar.fused.lmar_triton`) is launched: block shape, warps,
pipelining and persistence (:class:`Launch`), the launch per compute mode measured on GPUs
(:data:`LAUNCH`), and the environment variable that overrides it (:func:`launch_for`). Plain Python:
no Triton needed here."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import torch

from lmar.core.errors import LmarError


@dataclass(frozen=True)
class Launch:
    """How the kernel is launched: pixels per block (a power of two >= 16), warps per program,
    software-pipelining depth, whether the hidden-layer loop is unrolled, and ``persistent``:

    - 0: one program per block, each loading every weight matrix from L2 (at 128 pixels a block and
      the default MLP, 156 KiB of bf16 weights per 128 pixels: about 10 GB of L2 reads for a 4K image);
    - n >= 1: n programs per multiprocessor, each loading the weight matrices once into shared memory
      (156 KiB in bf16 for the default MLP, so one program fits a multiprocessor) and looping over
      every n-th block; the hidden layers are then always unrolled (``unroll`` has no effect), and
      ``num_stages`` pipelines the block loop (the next block's loads during this block's MLP).
    """

    block: int
    num_warps: int = 4
    num_stages: int = 3
    unroll: bool = False
    persistent: int = 0

    def __post_init__(self):
        if not (isinstance(self.block, int) and self.block >= 16 and not self.block & (self.block - 1)):
            raise ValueError(f"block={self.block!r} is not a power of two >= 16")
        if self.num_warps not in (1, 2, 4, 8, 16) or not (isinstance(self.num_stages, int) and self.num_stages >= 1):
            raise ValueError(f"num_warps={self.num_warps!r} (1, 2, 4, 8 or 16), num_stages={self.num_stages!r} (>= 1)")
        if not (isinstance(self.persistent, int) and not isinstance(self.persistent, bool) and self.persistent >= 0):
            raise ValueError(f"persistent={self.persistent!r} is not a count of programs per multiprocessor (>= 0)")

    def programs(self, n_blocks: int, batch: int, device: torch.device) -> int:
        """Programs per batch item for ``n_blocks`` blocks: n_blocks, or when persistent that many
        programs per multiprocessor in all (at least one per batch item, at most one per block).
        Triton's CPU interpreter has no multiprocessors: it is given INTERPRETER_MULTIPROCESSORS."""
        if not self.persistent:
            return n_blocks
        sms = (torch.cuda.get_device_properties(device).multi_processor_count if device.type == "cuda"
               else INTERPRETER_MULTIPROCESSORS)
        return max(1, min(n_blocks, -(-self.persistent * sms // batch)))


INTERPRETER_MULTIPROCESSORS = 2
"""What a persistent launch counts as multiprocessors under the interpreter: few, so that each program
loops over several blocks in the tests."""


LAUNCH = {
    "fp32": Launch(32, 8, 3, False),
    "tf32": Launch(128, 4, 1, True),
    "bf16": Launch(128, 4, 3, False),
}
"""The launch per compute mode for the default MLP (hidden 128, depth 5): the fastest correct
candidates of ``lmar tune-kernel`` for the compensatory map at 3840x2160 -> 1200x2133 (torch 2.11,
Triton 3.6). bf16: NVIDIA H100 80GB HBM3, 2026-11-26, 3.18 ms (the previous default, (64, 4, 3),
took 4.88 ms there); every bf16 candidate with num_stages=1 hit an illegal memory access in
Triton 3.6 on both H100 and H200 (see README, Speed), so the sweep runs each candidate in its own
process and keeps only those that match float64. fp32 (72 ms) and tf32 (15.8 ms): NVIDIA H200,
same day."""
LAUNCH_ENV = "LMAR_FUSED_LAUNCH"


def launch_for(compute: str) -> Launch:
    """LAUNCH[compute], unless the environment variable LMAR_FUSED_LAUNCH overrides it with JSON
    such as ``{"bf16": [128, 8, 3, true]}`` (block, num_warps, num_stages, unroll[, persistent]) to tune on
    another GPU (``lmar tune-kernel`` measures the candidates)."""
    raw = os.environ.get(LAUNCH_ENV)
    if raw:
        try:
            given = json.loads(raw)
            if compute in given:
                return Launch(*given[compute])
        except (ValueError, TypeError) as exc:
            raise LmarError(
                f"environment variable {LAUNCH_ENV}={raw!r} is not valid: {exc}; "
                'expected JSON like {"bf16": [128, 8, 3, true]} (block, num_warps, num_stages, unroll), or unset it'
            ) from exc
    return LAUNCH[compute]
