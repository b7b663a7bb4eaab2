"""What produced a result: config hash, code version, device, library versions."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from functools import lru_cache
from pathlib import Path

import torch

import lmar


def config_hash(obj) -> str:
    """A short hash of a JSON-able config slice (key order does not matter)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


@lru_cache(maxsize=1)
def code_version() -> str:
    """``git describe --always --dirty`` of the checkout, else the package version."""
    root = Path(lmar.__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True, text=True, timeout=10, check=True,
        )
        return out.stdout.strip() or lmar.__version__
    except (OSError, subprocess.SubprocessError):
        return lmar.__version__


def device_name(device: torch.device) -> str:
    if device.type == "cuda":  # the index too: jobs on one machine run on distinct GPUs (lmar.core.gpus)
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index}:{torch.cuda.get_device_name(device)}"
    return f"cpu:{platform.processor() or platform.machine()}x{torch.get_num_threads()}"
