"""One GPU per job on a machine with several: concurrent jobs that ask for ``cuda`` (or ``auto``)
each take a distinct device.

A job claims a device by holding an exclusive ``flock`` on a lock file, one per device index, in
``$LMAR_GPU_LOCK_DIR`` (default: ``lmar-gpu-locks-<uid>`` in the system's temporary folder); it tries
the indices in order and takes the first free one. The lock lives as long as the process: the
operating system releases it when the job ends, however it ends (SIGKILL included), so no stale
claim survives a killed job. When every device is held, the job waits (polling) until one is
free; Snakemake's ``--resources gpu=N`` keeps at most N GPU jobs running, so with N set to the
number of devices it never waits. A scheduler that already gives each job its own devices
(SLURM sets ``CUDA_VISIBLE_DEVICES``) makes one device visible: there is nothing to choose, and
the lock is still taken (harmless). An explicit ``cuda:N`` is used as given, without a lock.
"""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
import time
from pathlib import Path

import torch

log = logging.getLogger(__name__)

LOCK_DIR_ENV = "LMAR_GPU_LOCK_DIR"
_held: list = []  # open lock files of this process (closing one would release its device)


def lock_dir() -> Path:
    folder = os.environ.get(LOCK_DIR_ENV) or Path(tempfile.gettempdir()) / f"lmar-gpu-locks-{os.getuid()}"
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def claim(count: int, wait_s: float = 0.5, timeout_s: float | None = None) -> int:
    """The index of a device this process now holds, among ``count``; waits while all are held."""
    folder, start = lock_dir(), time.monotonic()
    while True:
        for index in range(count):
            f = open(folder / f"cuda{index}.lock", "a+")  # noqa: SIM115 - held until the process ends
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.close()
                continue
            f.seek(0)
            f.truncate()
            f.write(f"{os.getpid()}\n")
            f.flush()
            _held.append(f)
            return index
        if timeout_s is not None and time.monotonic() - start > timeout_s:
            raise TimeoutError(f"all {count} GPUs stayed held for {timeout_s} s (locks in {folder})")
        time.sleep(wait_s)


def pick_cuda() -> torch.device:
    """``cuda:<index>`` of a device held by this job (see the module)."""
    count = torch.cuda.device_count()
    if count <= 1:
        return torch.device("cuda:0")
    index = claim(count)
    log.info("GPU %d of %d claimed (lock in %s)", index, count, lock_dir())
    torch.cuda.set_device(index)  # kernels launched on the current device (Triton's) go there too
    return torch.device(f"cuda:{index}")
