"""Test pairs decoded in parallel worker processes for the evaluation, each read once per job.

Workers return the pixels as stored (8 or 16 bits, upright), timed, so that a quarter of the bytes of
a float image cross from the workers and to the device; the evaluating process turns them into floats on
the device (:func:`lmar.data.images.to_float`). On CUDA the batches come in pinned memory and are copied
without blocking. A file the reader refuses is one ``LmarError`` naming it, raised in the evaluating
process (not a worker's traceback).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, Dataset

from lmar.core.errors import LmarError
from lmar.core.runtime import usable_cpus
from lmar.data.images import read_image_array, to_float
from lmar.data.pairs import Pair

PREFETCH = 4  # pairs each worker decodes ahead
PRELOAD_MAX = 64  # datasets up to this many pairs are decoded once and kept in memory (lmar.run.train)


@dataclass
class Decoded:
    """One pair as read: the names, the stored pixels (H, W, C) and bit depths, and the worker's seconds."""

    name: str
    x: torch.Tensor
    x_bits: int
    gt: torch.Tensor
    gt_bits: int
    decode_s: float

    def pin_memory(self):  # DataLoader's pin_memory thread calls this on a custom batch
        self.x, self.gt = self.x.pin_memory(), self.gt.pin_memory()
        return self

    def on(self, device: torch.device) -> tuple[torch.Tensor, int, torch.Tensor]:
        """(input (3, H, W) float on ``device``, its bit depth, ground truth (3, H, W) float on ``device``)."""
        non_blocking = device.type == "cuda" and self.x.is_pinned()
        x = self.x.to(device, non_blocking=non_blocking)
        gt = self.gt.to(device, non_blocking=non_blocking)
        return to_float(x, self.x_bits), self.x_bits, to_float(gt, self.gt_bits)


class _Pairs(Dataset):
    def __init__(self, pairs: list[Pair]):
        self.pairs = pairs

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int):
        pair = self.pairs[i]
        t0 = time.perf_counter()
        try:
            (x, xb), (gt, gb) = read_image_array(pair.input), read_image_array(pair.gt)
        except LmarError as exc:  # carried to the evaluating process as text, raised there
            return str(exc)
        return Decoded(pair.name, torch.from_numpy(x), xb, torch.from_numpy(gt), gb, time.perf_counter() - t0)


def _one(batch: list):
    return batch[0]


def resolve_workers(workers, device: torch.device, threads: int | None = None) -> int:
    """The loader's worker processes for ``evaluation.workers``: a whole number >= 0 as given (0: decode in
    the evaluating process), or "auto": on CUDA one fewer than the job's threads (``threads``, default
    the CPUs this process may use), at least 1; on a CPU 0: the job computes with every CPU it may use,
    and a worker decoding beside a timed pass would take CPU time from it (its times would then measure
    the decoding too), so each pair is decoded between the passes."""
    if workers == "auto" or workers is None:
        if device.type != "cuda":
            return 0
        if not threads:
            threads = usable_cpus()
        return max(1, int(threads) - 1)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise LmarError(f"config key evaluation.workers must be 'auto' or a whole number >= 0, got {workers!r}")
    return workers


def decoded_pairs(pairs: list[Pair], device: torch.device, workers: int):
    """Yield a :class:`Decoded` per pair, in order, decoded ``workers`` at a time (0: here)."""
    loader = DataLoader(
        _Pairs(pairs),
        batch_size=1,
        shuffle=False,
        num_workers=workers,
        collate_fn=_one,
        pin_memory=device.type == "cuda",
        prefetch_factor=PREFETCH if workers else None,
        persistent_workers=False,
    )
    for item in loader:
        if isinstance(item, str):
            raise LmarError(item)
        yield item
