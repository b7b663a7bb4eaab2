"""A dataset's identity: a hash of what its files hold, not of when they were written.

Two folders with the same relative file names and the same bytes have the same identity, whatever
their modification times (a fresh clone, a copy or a re-extraction matches); one changed, added or
removed file changes it. Links are followed (a linked dataset is identified by what it links to);
anything that is not a regular file (a FIFO, a device) is refused, so hashing never blocks.

Hashing a large dataset reads all of it once; ``cache`` (a JSON file) keeps each file's digest
keyed by its path, size and modification time, so that later calls read only files that changed.
A stale cache entry cannot give a wrong identity for a changed file unless the file kept its size
and modification time to the nanosecond.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

from lmar.core.atomic import write_json
from lmar.core.errors import LmarError
from lmar.core.hashing import sha256_hex


def _regular(path: Path) -> os.stat_result:
    """``path``'s stat (links followed); LmarError for one that cannot be read or is not a regular file."""
    try:
        st = path.stat()
    except OSError as exc:
        raise LmarError(f"cannot read dataset file {path}: {exc.strerror}. Fix or remove it.") from None
    if not stat.S_ISREG(st.st_mode):
        raise LmarError(f"dataset file {path} is not a regular file (a FIFO, socket or device): remove it")
    return st


def _files(root: Path) -> list[Path]:
    """Every file under ``root`` (links followed), sorted by relative path (:func:`_hash_files` refuses
    the special ones before reading any)."""
    found = [Path(d) / name for d, dirs, names in os.walk(root, followlinks=True) for name in names]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def _hash_files(root: Path, files: list[Path], digest) -> str:
    """12 hex digits of sha256 over ``files`` (sorted by path relative to ``root``): each relative path
    and ``digest(path, stat)``, the sha256 of its bytes; every file checked regular before any is read."""
    stats = [_regular(path) for path in files]
    h = hashlib.sha256()
    for path, st in zip(files, stats):
        h.update(f"{path.relative_to(root).as_posix()}\0{digest(path, st)}\n".encode())
    return h.hexdigest()[:12]


def _read_cache(cache: Path | None) -> dict:
    if cache is None or not cache.is_file():
        return {}
    try:
        data = json.loads(cache.read_text())
    except (OSError, ValueError):
        return {}  # a torn or foreign cache only costs a re-read
    return data if isinstance(data, dict) else {}


def content_hash(root: str | Path, cache: str | Path | None = None) -> str:
    """12 hex digits of sha256 over ``root``'s files: each relative path and the sha256 of its bytes."""
    root = Path(root)
    if not root.is_dir():
        raise LmarError(f"dataset folder {root} does not exist or is not a folder")
    cache = Path(cache) if cache is not None else None
    known, fresh = _read_cache(cache), {}

    def digest(path: Path, st: os.stat_result) -> str:
        key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
        got = known.get(key)
        fresh[key] = got if isinstance(got, str) and len(got) == 64 else sha256_hex(path)
        return fresh[key]

    out = _hash_files(root, _files(root), digest)
    if cache is not None and fresh != known:
        write_json(cache, fresh, sort_keys=True)
    return out


def linked_folder(spec: dict) -> Path | None:
    """The folder a dataset entry links its data from (``params.local_path``, ``~`` expanded), else None."""
    local = (spec.get("params") or {}).get("local_path")
    return Path(local).expanduser() if local else None


def dataset_key(spec: dict, cache: str | Path | None = None) -> str:
    """12 hex digits naming a prepared dataset: a hash of its entry (``{type, params}``) and, for a
    dataset linked from ``params.local_path``, of what that folder holds (:func:`content_hash`).

    Two entries that differ in any param get different keys (their prepared folders are never
    shared); a linked folder with a file added, removed or changed gets a new key, and the same files
    elsewhere (a fresh clone, a copy with new modification times) keep it. A linked folder that does
    not exist yet is keyed as absent: preparing it then says what is missing."""
    from lmar.core.provenance import config_hash

    folder = linked_folder(spec)
    if folder is None:
        return config_hash(spec)
    files = content_hash(folder, cache) if folder.is_dir() else "absent"
    return config_hash({"spec": spec, "files": files})


def pairs_hash(pairs, root: str | Path) -> str:
    """12 hex digits of sha256 over the files of ``pairs`` (each pair's input and ground truth), as
    :func:`content_hash` hashes a folder: each path relative to ``root`` and the sha256 of its bytes,
    sorted by path. Of a split folder holding nothing but its pairs, it is that folder's content hash."""
    root = Path(root)
    files = sorted({Path(f) for p in pairs for f in (p.input, p.gt)}, key=lambda f: f.relative_to(root).as_posix())
    return _hash_files(root, files, lambda path, _st: sha256_hex(path))
