"""Where an evaluation job's time and memory go: a dict of seconds by part, filled as the job runs.

The parts (BREAKDOWN): ``first_wait_s`` the evaluating process waited for the first decoded pair (the
workers' start-up and one decode), ``wait_s`` it waited for each later one (the device idles for the disk), ``decode_s`` the decoding workers' own seconds (CPU time, overlapped with the
rest when there are workers), ``transfer_s`` pixels to the device and to float, ``resample_s``,
``enhance_s`` and ``upsample_s`` the three stages of every image and target, ``score_s`` quantising
and the metrics, ``write_s`` the evaluating process's part of writing the saved sample (the encoding
runs in background threads) and the wait for it at the end, ``count_flops_s`` counting FLOPs once a
target. ``setup_s`` is building the models and metrics, ``loop_s`` the pairs' loop and ``wall_s`` the
whole call. Peaks: ``peak_device_mib`` allocated on CUDA (NaN elsewhere), ``peak_host_mib`` the
process's resident set and ``peak_workers_host_mib`` the largest finished worker's.
"""

from __future__ import annotations

import contextlib
import math
import time

import torch

from lmar.core.runtime import synchronize

BREAKDOWN = ("first_wait_s", "wait_s", "decode_s", "transfer_s", "resample_s", "enhance_s", "upsample_s", "score_s", "write_s",
             "count_flops_s")


def start(parts: dict, device: torch.device, **fields) -> dict:
    """``parts`` with every part at 0 s, the device peak at 0 MiB (NaN off CUDA) and ``fields`` set."""
    parts.update(dict.fromkeys(BREAKDOWN, 0.0), peak_device_mib=0.0 if device.type == "cuda" else math.nan, **fields)
    return parts


@contextlib.contextmanager
def clock(parts: dict, key: str, device: torch.device):
    """Add the seconds of the block, the device synchronised at its end, to ``parts[key]``."""
    t0 = time.perf_counter()
    yield
    synchronize(device)
    parts[key] += time.perf_counter() - t0


def timed_iter(iterable, parts: dict, key: str, first_key: str):
    """``iterable``'s items, the seconds spent waiting for the first in ``parts[first_key]`` (for the
    decoded pairs: the workers' start-up and one decode) and for each later one added to ``parts[key]``."""
    it = iter(iterable)
    target = first_key
    while True:
        t0 = time.perf_counter()
        try:
            item = next(it)
        except StopIteration:
            return
        finally:
            parts[target] += time.perf_counter() - t0
            target = key
        yield item


def note_device_peak(parts: dict, peaks_mib) -> None:
    """Raise ``parts["peak_device_mib"]`` to the largest of ``peaks_mib``."""
    if peaks_mib:
        parts["peak_device_mib"] = max(parts["peak_device_mib"], *peaks_mib)


@contextlib.contextmanager
def device_peak_over(parts: dict, device: torch.device):
    """On CUDA, the block's peak allocated memory raises ``parts["peak_device_mib"]``."""
    if device.type != "cuda":
        yield
        return
    torch.cuda.reset_peak_memory_stats(device)
    yield
    note_device_peak(parts, [torch.cuda.max_memory_allocated(device) / 2**20])
