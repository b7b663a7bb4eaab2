"""Process-level set-up shared by the CLI verbs: device, threads, seeds, logging."""

from __future__ import annotations

import os
import random
from contextlib import contextmanager

import numpy as np
import torch

from lmar.core.errors import LmarError
from lmar.core.logs import log_to_stderr


def resolve_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA when there is any, else the CPU. ``cuda`` (and ``auto`` on CUDA): one device
    this job holds alone among several (:mod:`lmar.core.gpus`); ``cuda:N`` as given."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise LmarError(f"device {name!r} requested but CUDA is not available here; use cpu or auto instead "
                        "(the config's device: key, or --device on the command line)")
    if not (name == "cpu" or name.startswith("cuda")):
        raise LmarError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {name!r}")
    if name == "cuda":
        from lmar.core.gpus import pick_cuda

        return pick_cuda()
    return torch.device(name)


def positive_env(name: str, unit: str, default: int) -> int:
    """A positive whole number from environment variable ``name`` (``default`` when unset or empty);
    anything else is LmarError naming the variable and the ``unit`` it counts."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise LmarError(f"{name} must be a whole number of {unit}, got {raw!r}") from None
    if value < 1:
        raise LmarError(f"{name} must be a positive number of {unit}, got {raw!r}")
    return value


def usable_cpus() -> int:
    """The logical CPUs this process may run on: its affinity set where the system has one (a
    cluster job's share of the node), else every CPU of the machine."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def setup(seed: int | None = None, threads: int | None = None) -> None:
    """Seed every generator and bound intra-op threads (deterministic on CPU for a fixed thread count):
    ``threads`` at least 1 (else LmarError), at most the machine's cores (more are not used)."""
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise LmarError(f"--threads must be a whole number of at least 1, got {threads!r}")
        torch.set_num_threads(min(threads, os.cpu_count() or 1))
    if seed is not None:
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
    log_to_stderr()


@contextmanager
def noting_nondeterminism(device: torch.device, found: set):
    """On CUDA, run the body with ``torch.use_deterministic_algorithms(True, warn_only=True)`` and add
    to ``found`` the name of each op PyTorch warns has no deterministic implementation (the op runs
    as before: nothing is switched to another kernel). On a CPU, PyTorch's ops are deterministic for
    a fixed thread count: nothing to note."""
    if device.type != "cuda":
        yield
        return
    import warnings

    before, warn_only = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn_only)
    found.update(nondeterministic_ops(str(w.message) for w in caught))
    for w in caught:  # every other warning is shown as it would have been
        if NONDETERMINISTIC not in str(w.message):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


NONDETERMINISTIC = " does not have a deterministic implementation"


def nondeterministic_ops(messages) -> list[str]:
    """The op names in PyTorch's "<op> does not have a deterministic implementation" warnings."""
    return sorted({m.split(NONDETERMINISTIC)[0].strip().split()[-1] for m in messages if NONDETERMINISTIC in m})


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


PRECISIONS = ("fp32", "tf32", "bf16", "fp16")
"""Inference precisions: "fp32" (PyTorch's defaults: float32 matmuls at "highest"; cuDNN
convolutions may still use TF32 on GPUs), "tf32" (float32 matmul precision "high"), "bf16"
(bfloat16 autocast) or "fp16" (float16 autocast, as the authors ran LMAR's MLP). Both autocasts
run on CUDA and on CPU (float16 on CPU needs a torch whose CPU autocast accepts it, as the pinned
one does; else precision_mode raises LmarError). On CUDA, LMAR's fused kernel runs in tf32 and
bf16; under fp16 LMAR runs its PyTorch reference path (:mod:`lmar.parts.lmar.fused`)."""
AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}
"""The precisions that run under autocast, and its dtype."""


def check_precision(precision: str, key: str = "precision") -> str:
    """``precision`` if it is one of PRECISIONS; else LmarError naming ``key`` (a config key or option)."""
    if precision not in PRECISIONS:
        raise LmarError(f"{key} must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision


@contextmanager
def precision_mode(precision: str, device: torch.device):
    """Run the body at ``precision`` (one of PRECISIONS); restores the matmul precision after.

    LmarError if ``device``'s autocast does not take the precision's dtype (float16 on CPU
    under an older torch, whose autocast would warn and run the body in fp32 instead)."""
    check_precision(precision)
    dtype = AUTOCAST.get(precision)
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high" if precision == "tf32" else "highest")
    try:
        with torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            if dtype is not None and not (
                torch.is_autocast_enabled(device.type) and torch.get_autocast_dtype(device.type) == dtype
            ):
                raise LmarError(
                    f"precision {precision} ({dtype} autocast) is not supported on {device.type} by torch "
                    f"{torch.__version__}; use precision bf16 or fp32 there"
                )
            yield
    finally:
        torch.set_float32_matmul_precision(before)
