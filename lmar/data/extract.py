"""Unpack downloaded archives (.zip, .tar, .tar.gz/.tgz, .tar.bz2, .tar.xz) safely and all-or-nothing.

Every member is checked before anything is written: no absolute paths, drive letters or ``..``
components, no links, devices or fifos, and bounded member count and unpacked size (enforced
again while writing). The archive unpacks into a temporary sibling renamed to ``dest`` on success.
"""

from __future__ import annotations

import contextlib
import gzip
import lzma
import re
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO

from lmar.core.atomic import atomic_dir
from lmar.core.errors import LmarError

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
CHUNK = 1 << 20
_CORRUPT = (tarfile.TarError, zipfile.BadZipFile, gzip.BadGzipFile, EOFError, zlib.error, lzma.LZMAError)
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class _Member:
    """One checked archive member: where it goes and how to read it."""

    name: str  # as written in the archive, for messages
    parts: tuple[str, ...]  # path components under dest
    size: int  # declared unpacked size in bytes (0 for a directory)
    open: Callable[[], IO[bytes]] | None  # None for a directory


Reader = Callable[[Path], contextlib.AbstractContextManager[Iterator[_Member]]]


def safe_extract(archive: str | Path, dest: str | Path, *, max_bytes: int = 200 * 2**30,
                 max_files: int = 1_000_000) -> Path:
    """Unpack ``archive`` into ``dest`` (replacing it only if everything succeeds); returns ``dest``."""
    archive, dest = Path(archive), Path(dest)
    if not archive.is_file():
        raise LmarError(f"archive {archive} not found; download it first")
    reader = _reader(archive)
    try:
        with reader(archive) as members, atomic_dir(dest) as tmp:
            _write(tmp, _checked(archive, members, max_bytes, max_files), archive)
    except _CORRUPT as e:
        raise LmarError(f"{archive} is corrupt or incomplete ({e}); delete it to download it again") from e
    except OSError as e:
        raise LmarError(f"could not extract {archive} into {dest}: {e}") from e
    return dest


def _reader(archive: Path) -> Reader:
    name = archive.name.lower()
    if name.endswith(".zip"):
        return _zip_members
    if name.endswith(TAR_SUFFIXES):
        return _tar_members
    raise LmarError(f"cannot unpack {archive}: unknown archive type (known: .zip, {', '.join(TAR_SUFFIXES)})")


def _refuse(archive: Path, name: str, why: str) -> LmarError:
    return LmarError(f"refusing to unpack {archive}: member {name!r} {why}; the archive is corrupt or unsafe")


def _parts(archive: Path, name: str) -> tuple[str, ...]:
    """The path components of member ``name``, which must stay inside the target folder."""
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        raise _refuse(archive, name, "has an absolute path")
    parts = tuple(p for p in re.split(r"[/\\]", name) if p not in ("", "."))
    if ".." in parts:
        raise _refuse(archive, name, "climbs out of the target folder ('..')")
    return parts


def _member(archive: Path, name: str, is_dir: bool, size: int, open_: Callable[[], IO[bytes]]) -> _Member:
    parts = _parts(archive, name)
    if is_dir:
        return _Member(name, parts, 0, None)
    if not parts:
        raise _refuse(archive, name, "is a file without a name")
    return _Member(name, parts, size, open_)


@contextlib.contextmanager
def _zip_members(archive: Path) -> Iterator[Iterator[_Member]]:
    with zipfile.ZipFile(archive) as zf:
        yield (_zip_member(archive, zf, info) for info in zf.infolist())


def _zip_member(archive: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> _Member:
    kind = stat.S_IFMT(info.external_attr >> 16)  # unix file type, 0 when the zip does not say
    if kind == stat.S_IFLNK:
        raise _refuse(archive, info.filename, "is a symbolic link (links are not unpacked)")
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise _refuse(archive, info.filename, "is a device, fifo or socket")
    if info.flag_bits & 0x1:
        raise _refuse(archive, info.filename, "is encrypted")
    return _member(archive, info.filename, info.is_dir(), info.file_size, partial(zf.open, info))


@contextlib.contextmanager
def _tar_members(archive: Path) -> Iterator[Iterator[_Member]]:
    with tarfile.open(archive, "r:*") as tf:
        yield (_tar_member(archive, tf, info) for info in tf)


def _tar_member(archive: Path, tf: tarfile.TarFile, info: tarfile.TarInfo) -> _Member:
    if info.issym() or info.islnk():
        raise _refuse(archive, info.name, f"is a link to {info.linkname!r} (links are not unpacked)")
    if info.isdev():
        raise _refuse(archive, info.name, "is a device or fifo")
    if not (info.isreg() or info.isdir()):
        raise _refuse(archive, info.name, f"has an unsupported type {info.type!r}")
    return _member(archive, info.name, info.isdir(), info.size, partial(tf.extractfile, info))


def _checked(archive: Path, members: Iterable[_Member], max_bytes: int, max_files: int) -> list[_Member]:
    """All members, read before anything is written; stops at the first one past a limit."""
    out: list[_Member] = []
    total = 0
    for m in members:
        out.append(m)
        total += m.size
        if len(out) > max_files:
            raise _refuse(archive, m.name, f"is one past the limit of {max_files} members (max_files)")
        if total > max_bytes:
            raise _refuse(archive, m.name, f"takes the unpacked size past the limit of {max_bytes} bytes (max_bytes)")
    return out


def _write(root: Path, members: list[_Member], archive: Path) -> None:
    """Write the members under ``root``. No file may outgrow its declared size (so neither may the checked total)."""
    for m in members:
        target = root.joinpath(*m.parts)
        if m.open is None:
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with m.open() as src, open(target, "wb") as dst:
            written = 0
            while chunk := src.read(CHUNK):
                written += len(chunk)
                if written > m.size:
                    raise _refuse(archive, m.name, f"unpacks to more than the {m.size} bytes its header declares")
                dst.write(chunk)
