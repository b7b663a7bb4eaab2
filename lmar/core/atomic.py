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

A target that cannot be written (a read-only file system, no permission, a folder that cannot be made, a full disk)
is one :class:`LmarError` naming it, ``cannot write <path>: <reason>; <what to do>``, never an OSError traceback, and
leaves no temp behind. :func:`check_writable` (and :func:`check_outputs`, which also refuses an output that is one
of the inputs) says so before the work that makes an output, rather than after it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import socket
from collections.abc import Iterable, Iterator, Mapping
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
    except OSError as e:  # a folder we may write but not list: nothing to clean up here, and the write decides
        log.warning("could not look for stale temporaries of %s: %s", target, e)
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


# what to do about an OSError while writing, by its errno
_ADVICE = {
    errno.EROFS: "choose an output path on a file system you can write to",
    errno.EACCES: "choose another output path, or get permission to write in its folder",
    errno.EPERM: "choose another output path, or get permission to write in its folder",
    errno.ENOSPC: "free some space or choose an output path on another disk",
    errno.EDQUOT: "free some space within your quota or choose an output path on another disk",
    errno.EFBIG: "the file is larger than its file system allows; choose an output path on another disk",
    errno.ENOENT: "its folder does not exist and cannot be made; choose another output path",
    errno.ENOTDIR: "part of its folder path is a file, not a folder; choose another output path or move that file",
    errno.EISDIR: "it is a folder; give the path of a file",
    errno.ENAMETOOLONG: "the path is too long; choose a shorter one",
}


def _reason_and_advice(exc: OSError) -> tuple[str, str]:
    return exc.strerror or str(exc) or type(exc).__name__, _ADVICE.get(exc.errno, "choose another output path")


def write_error(path: str | os.PathLike, exc: OSError) -> LmarError:
    """The one error for an OSError ``exc`` met while writing ``path``: ``cannot write <path>: <reason>; <what
    to do>``, naming the target (never its temporary sibling)."""
    reason, advice = _reason_and_advice(exc)
    return LmarError(f"cannot write {path}: {reason}; {advice}")


def _create(target: Path, make) -> Path:
    """Create a fresh temporary sibling of ``target`` with ``make(path)``, retrying on a (very unlikely) clash;
    any other OSError (read-only file system, no permission, full disk) is :func:`write_error`."""
    for _ in range(100):
        tmp = temp_name(target)
        try:
            make(tmp)
        except FileExistsError:
            continue
        except OSError as exc:
            raise write_error(target, exc) from None
        return tmp
    raise LmarError(f"cannot write {target}: could not create a temporary file beside it after 100 tries; "
                    "remove the hidden .{name}.~*.tmp* files beside it and try again")


def _make_file(tmp: Path) -> None:
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o666))


def _unlink_quietly(tmp: Path) -> None:
    """Remove a temp file; one that cannot be removed is logged (the next write of its target removes it)."""
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("could not remove temporary %s: %s", tmp, exc)


def _rmtree_quietly(tmp: Path) -> None:
    """Remove a temp folder; one that cannot be removed is logged (the next write of its target removes it)."""
    try:
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp)
    except OSError as exc:
        log.warning("could not remove temporary %s: %s", tmp, exc)


def _prepare(path: str | os.PathLike, folder: bool = False, probe: bool = False) -> Path:
    """``path``'s folder made; one LmarError naming the path where it cannot be written there. ``folder``:
    ``path`` is to be a folder (else a file: an existing folder there is refused). ``probe``: also create and
    remove a temporary sibling, so that a folder that exists but cannot be written (read-only file system, no
    permission) is found now, before the work (:func:`check_writable`)."""
    path = Path(path)
    if len(path.name.encode()) > _NAME_MAX:
        raise LmarError(f"cannot write {path}: its name is {len(path.name.encode())} bytes long, more than the "
                        f"{_NAME_MAX} a file name may have; choose a shorter name")
    try:
        blocker = next((p for p in (path.parent, *path.parent.parents) if p.exists() and not p.is_dir()), None)
        is_dir = path.is_dir() and not path.is_symlink()
    except OSError as exc:  # a folder on the way that may not be searched
        raise write_error(path, exc) from None
    if blocker is not None:
        raise LmarError(f"cannot write {path}: {blocker} is a file, not a folder; choose another output path "
                        "or move that file")
    if is_dir and not folder:
        raise LmarError(f"cannot write {path}: it is a folder; give the path of a file (in it, or elsewhere)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason, advice = _reason_and_advice(exc)
        raise LmarError(f"cannot write {path}: cannot make its folder {path.parent} ({reason}); {advice}") from None
    remove_stale_temps(path)
    if probe:
        _unlink_quietly(_create(path, _make_file))
    return path


def check_writable(path: str | os.PathLike, folder: bool = False) -> Path:
    """Before the work that makes ``path`` (a file; a folder if ``folder``): its folder made, and a temporary
    sibling created and removed there, so that an output that could not be written (a file where its folder
    should be, a read-only file system, no permission) is one LmarError now rather than after the work. Returns
    ``path``; nothing is left beside it. A full disk may still be found only when the output is written."""
    path = Path(path)
    if folder:
        _refuse_link_or_file(path)
    return _prepare(path, folder=folder, probe=True)


def same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` are one file: the same path once resolved, or (both existing) the same inode."""
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def check_outputs(outputs: Mapping[str, str | os.PathLike | None], inputs: Iterable[str | os.PathLike]) -> None:
    """Before the work: refuse an output that is one of ``inputs`` or another output, naming both, and one that
    could not be written (:func:`check_writable`). ``outputs``: each output path by the flag or name that gave it
    (``{"--out-md": path}``; ``None`` where not given). The inputs are never overwritten."""
    given = [(name, Path(out)) for name, out in outputs.items() if out is not None]
    inputs = [Path(p) for p in inputs]
    for i, (name, out) in enumerate(given):
        hit = next((inp for inp in inputs if same_file(out, inp)), None)
        if hit is not None:
            shown = f"the input {hit}" if str(hit) == str(out) else f"the input {hit} ({out.resolve()})"
            raise LmarError(f"output {name} {out} is {shown}: choose another output path (the inputs are never "
                            "overwritten)")
        twin = next((other for other in given[:i] if same_file(out, other[1])), None)
        if twin is not None:
            raise LmarError(f"outputs {twin[0]} {twin[1]} and {name} {out} are the same file: give each its own path")
    for _, out in given:
        check_writable(out)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary file path beside ``path``; move it onto ``path`` only if the block succeeds."""
    path = _prepare(path)
    tmp = _create(path, _make_file)
    try:
        try:
            yield tmp
        except OSError as exc:
            if _writing(exc, tmp):
                raise write_error(path, exc) from None
            raise
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise write_error(path, exc) from None
    finally:
        _unlink_quietly(tmp)


# errnos that only a write can meet: where the block raises one without naming a file, it was writing the temp
_WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)


def _writing(exc: OSError, tmp: Path) -> bool:
    """Whether the block's OSError ``exc`` was met writing ``tmp`` (so the target could not be written), rather
    than reading an input, which stays the block's own error."""
    if exc.filename is not None:
        try:
            return Path(os.fsdecode(exc.filename)) == tmp
        except TypeError:  # a file descriptor
            return False
    return exc.errno in _WRITE_ERRNOS


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
    _refuse_link_or_file(path)
    path = _prepare(path, folder=True)
    tmp = _create(path, lambda p: os.mkdir(p, 0o777))
    aside = None  # the earlier folder, moved aside (not deleted) until the new one is in place
    try:
        try:
            yield tmp
        except OSError as exc:
            if _writing(exc, tmp) or (exc.filename is not None and _inside(exc.filename, tmp)):
                raise write_error(path, exc) from None
            raise
        try:
            if path.exists():
                moving = temp_name(path)
                os.replace(path, moving)
                aside = moving
            os.replace(tmp, path)
        except OSError as exc:
            if aside is not None:
                try:
                    os.replace(aside, path)  # the earlier folder back where it was
                except OSError as again:
                    log.warning("could not put the earlier %s back (%s); it is kept at %s", path, again, aside)
                aside = None
            raise write_error(path, exc) from None
    finally:
        _rmtree_quietly(tmp)
        if aside is not None:
            _rmtree_quietly(aside)


def _inside(filename, folder: Path) -> bool:
    try:
        return Path(os.fsdecode(filename)).is_relative_to(folder)
    except TypeError:
        return False


def _refuse_link_or_file(path: Path) -> None:
    """A folder output that is a link or a file is refused (replacing it would delete what it is, or fail after
    the work is done)."""
    try:
        link, file = path.is_symlink(), path.exists() and not path.is_dir()
    except OSError as exc:
        raise write_error(path, exc) from None
    if link or file:
        what = "a symbolic link" if link else "a file"
        raise LmarError(f"cannot write the folder {path}: it is {what}, which this run would replace; remove it or "
                        "choose another folder")
