"""Write outputs all-or-nothing: into a temporary sibling, renamed into place on success.

The temporary sibling is hidden, sits in the target's folder (so the final ``os.replace`` stays on one file system)
and says who wrote it::

    .{name}.~{host}.{pid}.{token}.tmp{suffix}      e.g.  .model.pt.~node07.4242.9f3c2a1b0d4e5f60.tmp.pt

``host`` is the host name reduced to ``[A-Za-z0-9-]`` (no dots), ``pid`` decimal digits and ``token`` 16 hex
digits, so for a known target the name parses back unambiguously, whatever dots or dashes ``name`` holds. ``suffix``
is the target's own suffix (libraries such as PIL pick the format from it). A ``name`` too long to leave room for
the rest within the file system's 255 bytes is shortened in the temp's name to its start plus 8 hex digits of its
sha256 (still one name per target). A writer that is killed leaves its temp
behind; the next write of the same target on the same host removes the temps whose writer no longer runs.

Files are created with mode ``0o666`` and folders with ``0o777``, both less the process umask (the kernel applies
it), i.e. exactly what an ordinary ``open()`` or ``mkdir`` would give.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from lmar.core.errors import LmarError

log = logging.getLogger(__name__)

_TOKEN_HEX = 16
_HOST_MAX = 63
_NAME_MAX = 255  # bytes in one path component (Linux, macOS, Windows)
_PID_DIGITS = 20  # room kept for any pid a temp's name may hold


class TempOwner(NamedTuple):
    """Who wrote a temporary sibling, as read back from its name."""

    host: str
    pid: int
    token: str


def _host() -> str:
    """This machine's host name, reduced to ``[A-Za-z0-9-]`` so that it never holds the field separator."""
    host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:_HOST_MAX]
    return host or "unknown-host"


def temp_name(target: str | os.PathLike, host: str | None = None, pid: int | None = None,
              token: str | None = None) -> Path:
    """The temporary sibling of ``target`` written by ``pid`` on ``host`` (defaults: this process, a fresh token)."""
    target = Path(target)
    host = _host() if host is None else host
    pid = os.getpid() if pid is None else pid
    token = secrets.token_hex(_TOKEN_HEX // 2) if token is None else token
    if not re.fullmatch(r"[A-Za-z0-9-]+", host):
        raise ValueError(f"host {host!r} must match [A-Za-z0-9-]+")
    if not re.fullmatch(rf"[0-9a-f]{{{_TOKEN_HEX}}}", token):
        raise ValueError(f"token {token!r} must be {_TOKEN_HEX} lowercase hex digits")
    if pid <= 0:
        raise ValueError(f"pid {pid} must be positive")
    return target.with_name(f".{_temp_stem(target)}.~{host}.{pid}.{token}.tmp{target.suffix}")


def _temp_stem(target: Path) -> str:
    """``target``'s name as its temps hold it: whole where it fits, else its start and a hash of it."""
    room = _NAME_MAX - len(f"..~{'h' * _HOST_MAX}.{'9' * _PID_DIGITS}.{'0' * _TOKEN_HEX}.tmp{target.suffix}".encode())
    name = target.name
    if len(name.encode()) <= room:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return name.encode()[: max(room - 9, 1)].decode(errors="ignore") + "-" + digest


def _pattern(target: Path) -> re.Pattern[str]:
    return re.compile(
        rf"\.{re.escape(_temp_stem(target))}\.~(?P<host>[A-Za-z0-9-]+)\.(?P<pid>[1-9][0-9]*)"
        rf"\.(?P<token>[0-9a-f]{{{_TOKEN_HEX}}})\.tmp{re.escape(target.suffix)}"
    )


def parse_temp_name(target: str | os.PathLike, name: str) -> TempOwner | None:
    """The writer of ``name`` if it is, strictly, a temporary sibling of ``target``; otherwise ``None``."""
    m = _pattern(Path(target)).fullmatch(name)
    return TempOwner(m["host"], int(m["pid"]), m["token"]) if m else None


def _running(pid: int) -> bool:
    """Whether a process ``pid`` may exist on this host: False only when the system says there is none.

    One we may not signal counts as running. So does a pid beyond the range of the system's pid type
    (``os.kill`` raises OverflowError): no writer on this host can have made that temp, so it is not ours to
    remove; it is kept, and it never stops a write of the target."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # PermissionError (another user's process), a pid no process can have,
        return True  # or anything unexpected: keep the temp
    return True


def remove_stale_temps(target: str | os.PathLike) -> list[Path]:
    """Remove the temporary siblings of ``target`` left by writers on this host that no longer run.

    Temps of running processes, of pids no process here can have, of other hosts and anything not strictly of the
    target's pattern are kept.
    Returns what was removed; never raises for a temp it could not remove (it logs a warning instead).
    """
    target = Path(target)
    pattern, host, prefix = _pattern(target), _host(), f".{_temp_stem(target)}.~"
    removed = []
    try:
        entries = list(os.scandir(target.parent))
    except FileNotFoundError:
        return removed
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        m = pattern.fullmatch(entry.name)
        if not m or m["host"] != host or _running(int(m["pid"])):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            elif entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
            else:
                continue  # a link or something special: not what a writer here would have made
        except FileNotFoundError:
            continue  # another writer cleaned it up first
        except OSError as e:
            log.warning("could not remove stale temporary %s: %s", entry.path, e)
            continue
        log.info("removed stale temporary %s (writer pid %s on %s no longer runs)", entry.path, m["pid"], host)
        removed.append(Path(entry.path))
    return removed


def _create(target: Path, make) -> Path:
    """Create a fresh temporary sibling of ``target`` with ``make(path)``, retrying on a (very unlikely) clash."""
    for _ in range(100):
        tmp = temp_name(target)
        try:
            make(tmp)
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"could not create a temporary file beside {target}")


def _make_file(tmp: Path) -> None:
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o666))


def _prepare(path: str | os.PathLike) -> Path:
    """``path``'s folder made; one LmarError naming the path where it cannot be written there."""
    path = Path(path)
    if len(path.name.encode()) > _NAME_MAX:
        raise LmarError(f"cannot write {path}: its name is {len(path.name.encode())} bytes long, more than the "
                        f"{_NAME_MAX} a file name may have; choose a shorter name")
    blocker = next((p for p in (path.parent, *path.parent.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise LmarError(f"cannot write {path}: {blocker} is a file, not a folder; choose another output path "
                        "or move that file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LmarError(f"cannot write {path}: cannot make its folder {path.parent} ({exc.strerror or exc})") from None
    remove_stale_temps(path)
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary file path beside ``path``; move it onto ``path`` only if the block succeeds."""
    path = _prepare(path)
    tmp = _create(path, _make_file)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_json(path: str | os.PathLike, obj, sort_keys: bool = False) -> None:
    """``obj`` as indented JSON (and a final newline) at ``path``, all-or-nothing."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=sort_keys) + "\n")


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; it replaces ``path`` only if the block succeeds.
    A ``path`` that is a link or a file is refused before the block runs (replacing it would
    delete what it is, or fail after the work is done)."""
    path = Path(path)
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        what = "a symbolic link" if path.is_symlink() else "a file"
        raise LmarError(f"cannot write the folder {path}: it is {what}, which this run would replace; remove it or "
                        "choose another folder")
    path = _prepare(path)
    tmp = _create(path, lambda p: os.mkdir(p, 0o777))
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
