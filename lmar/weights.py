"""Pretrained weights that pyiqa's LPIPS and LMAR's resize loss need, pre-seeded under
``$TORCH_HOME`` so compute nodes without internet never download at run time.

- ``alexnet`` and ``vgg16``: torchvision's ImageNet files in ``$TORCH_HOME/hub/checkpoints/``
  (the 8 hex digits in each name are the start of the file's sha256, checked here);
- ``lpips_alex``: the LPIPS v0.1 linear layers, copied from the PyPI package ``lpips``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from lmar.atomic import atomic_path, write_json
from lmar.errors import LmarError

TORCHVISION_URL = "https://download.pytorch.org/models/"
TORCHVISION_FILES = {"alexnet": "alexnet-owt-7be5be79.pth", "vgg16": "vgg16-397923af.pth"}
LPIPS_LINEAR = "lpips/v0.1/alex.pth"  # relative to TORCH_HOME
NAMES = ("alexnet", "vgg16", "lpips_alex")


def torch_home() -> Path:
    import torch

    return Path(torch.hub.get_dir()).parent


def weight_path(name: str, home: Path | None = None) -> Path:
    home = Path(home) if home else torch_home()
    if name in TORCHVISION_FILES:
        return home / "hub" / "checkpoints" / TORCHVISION_FILES[name]
    if name == "lpips_alex":
        return home / LPIPS_LINEAR
    raise LmarError(f"unknown weight {name!r}; known: {', '.join(NAMES)}")


def _hash_prefix_ok(path: Path, name: str) -> bool:
    prefix = TORCHVISION_FILES[name].rsplit("-", 1)[1].split(".")[0]
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest().startswith(prefix)


def _seed_one(name: str, home: Path, base_url: str) -> None:
    path = weight_path(name, home)
    if name == "lpips_alex":
        import lpips

        shipped = Path(lpips.__file__).parent / "weights" / "v0.1" / "alex.pth"
        if not shipped.is_file():
            raise LmarError(f"the lpips package has no {shipped}; reinstall it (make setup)")
        with atomic_path(path) as tmp:
            shutil.copyfile(shipped, tmp)
        return
    if path.is_file() and _hash_prefix_ok(path, name):
        return
    from lmar.data.download import download

    download(base_url + TORCHVISION_FILES[name], path, retries=2)
    if not _hash_prefix_ok(path, name):
        path.unlink()
        raise LmarError(f"downloaded {TORCHVISION_FILES[name]} does not match the sha256 in its name; deleted it")


def seed_weights(home: Path, names=NAMES, required=(), base_url: str = TORCHVISION_URL) -> dict:
    """Fetch or copy each weight into ``home``; returns {name: {"ok", "path", "reason"}}.
    A failure raises only for a name in ``required``; otherwise it is reported and skipped."""
    status = {}
    for name in names:
        try:
            _seed_one(name, Path(home), base_url)
            status[name] = {"ok": True, "path": str(weight_path(name, home)), "reason": ""}
        except LmarError as exc:
            if name in required:
                raise
            status[name] = {"ok": False, "path": str(weight_path(name, home)), "reason": str(exc).splitlines()[0]}
    return status


def write_status(status: dict, path: Path) -> None:
    write_json(path, status, sort_keys=True)


def missing_reason(names, home: Path | None = None) -> str:
    """'' when every named weight file is present, else a one-line reason."""
    missing = [str(weight_path(n, home)) for n in names if not weight_path(n, home).is_file()]
    if not missing:
        return ""
    return f"weights not found: {', '.join(missing)} (TORCH_HOME={os.environ.get('TORCH_HOME', 'unset')}; run the seed_weights step)"
