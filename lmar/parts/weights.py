"""Pretrained weights that pyiqa's LPIPS and LMAR's resize loss need, pre-seeded under
``$TORCH_HOME`` so compute nodes without internet never download at run time.

- ``alexnet`` and ``vgg16``: torchvision's ImageNet files in ``$TORCH_HOME/hub/checkpoints/``
  (the 8 hex digits in each name are the start of the file's sha256, checked here);
- ``lpips_alex``: the LPIPS v0.1 linear layers, copied from the PyPI package ``lpips``.

Weight files are pickles: never hand their paths to a library (torchvision, torch.hub and pyiqa unpickle
with ``weights_only=False``, so a planted file runs code). Load them with ``load_state_dict``: it reads the
file once, checks the sha256 of those bytes against ``EXPECTED_SHA256`` and only then unpickles the same
bytes with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

from lmar.core.atomic import atomic_path, write_json
from lmar.core.errors import LmarError
from lmar.core.hashing import read_file_checked, sha256_hex

TORCHVISION_URL = "https://download.pytorch.org/models/"
TORCHVISION_FILES = {"alexnet": "alexnet-owt-7be5be79.pth", "vgg16": "vgg16-397923af.pth"}
LPIPS_LINEAR = "lpips/v0.1/alex.pth"  # relative to TORCH_HOME
NAMES = ("alexnet", "vgg16", "lpips_alex")
LPIPS_PACKAGE_FILE = "weights/v0.1/alex.pth"  # relative to the installed ``lpips`` package

# sha256 of lpips 0.1.4's lpips/weights/v0.1/alex.pth (the file seed_weights copies).
LPIPS_ALEX_SHA256 = "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0"
# The expected sha256 of each weight, as a hex prefix (at least 8 digits): torchvision's files carry the first
# 8 digits in their names; the LPIPS linear layers have the full digest. Read at call time, so tests can
# monkeypatch an entry (monkeypatch.setitem(EXPECTED_SHA256, "alexnet", ...)) for stand-in files.
EXPECTED_SHA256 = {
    **{name: file.rsplit("-", 1)[1].split(".")[0] for name, file in TORCHVISION_FILES.items()},
    "lpips_alex": LPIPS_ALEX_SHA256,
}
# The largest weight file read (bytes): 4x VGG16's 528 MB, the largest of them; anything bigger is not one.
MAX_WEIGHT_BYTES = 2 * 2**30
_RESEED = "Delete it and re-run the seed_weights step (python -m lmar seed-weights)."


class WeightHashError(LmarError):
    """A weight file whose sha256 is not the expected one; it was not unpickled."""


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


def _expected_sha256(name: str) -> str:
    expected = str(EXPECTED_SHA256[name]).lower()
    if len(expected) < 8 or len(expected) > 64 or any(c not in "0123456789abcdef" for c in expected):
        raise LmarError(f"internal error: expected sha256 for {name!r} is not 8 to 64 hex digits: {expected!r}")
    return expected


def _describe_expected(name: str) -> str:
    expected = _expected_sha256(name)
    if len(expected) < 64:
        return f"a sha256 starting with {expected}"
    return f"sha256 {expected}"


def _hash_ok(digest: str, name: str) -> bool:
    return digest.startswith(_expected_sha256(name))


def _hash_prefix_ok(path: Path, name: str) -> bool:
    return _hash_ok(sha256_hex(path), name)


def load_state_dict(name: str, home: Path | None = None) -> dict:
    """The tensors of weight ``name``, loaded safely: {key: Tensor} on the CPU.

    The file is read once (a regular file of at most MAX_WEIGHT_BYTES, hashed as it is read:
    :func:`read_file_checked`); its sha256 is checked before anything is unpickled (``WeightHashError``
    on a mismatch), and the same bytes are then loaded with ``torch.load(weights_only=True)``, so the file
    cannot change between the check and the load. Anything else wrong raises ``LmarError`` naming the file.
    """
    import torch

    path = weight_path(name, home)
    data, digest = read_file_checked(path, MAX_WEIGHT_BYTES, "weights")
    if not _hash_ok(digest, name):
        raise WeightHashError(
            f"sha256 mismatch for {path}: expected {_describe_expected(name)}, got {digest}; "
            f"it was not loaded. {_RESEED}"
        )
    try:
        obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only refuses anything but tensors and plain containers
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        raise LmarError(f"refused to load weights {path}: {type(exc).__name__}: {first}. {_RESEED}") from exc
    if not isinstance(obj, dict) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in obj.items()):
        raise LmarError(f"weights {path} are not a state dict of tensors. {_RESEED}")
    return dict(obj)


def _seed_one(name: str, home: Path, base_url: str) -> None:
    path = weight_path(name, home)
    if name == "lpips_alex":
        import lpips

        shipped = Path(lpips.__file__).parent / LPIPS_PACKAGE_FILE
        if not shipped.is_file():
            raise LmarError(f"the lpips package has no {shipped}; reinstall it (make setup)")
        if not _hash_prefix_ok(shipped, name):
            raise LmarError(
                f"the lpips package's {shipped} does not have {_describe_expected(name)} (lpips 0.1.4's); "
                "reinstall it (make setup)"
            )
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
