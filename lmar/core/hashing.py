"""sha256 of files and bytes, and a regular file read once with its sha256 (a size limit, nothing but a
regular file): how the weights, the released models, the zoo and the datasets are identified and
checked before anything is unpickled."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from lmar.core.errors import LmarError


def sha256_hex(source: Path | bytes) -> str:
    """The sha256 (hex) of a file, read in blocks, or of bytes already read."""
    h = hashlib.sha256()
    if isinstance(source, (bytes, bytearray, memoryview)):
        h.update(source)
    else:
        with open(source, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def read_file_checked(path: Path, limit: int, what: str) -> tuple[bytes, str]:
    """(the bytes of the regular file ``path``, their sha256 hex), hashed block by block as they are read.
    Anything but a regular file (a FIFO, a device such as /dev/zero, a directory) and a file over ``limit``
    bytes are refused before a byte is read, by one LmarError naming ``what`` and the path; the file is
    opened without blocking (a FIFO never waits for a writer) and checked again once open, and a file
    that grows past ``limit`` while it is read is refused too."""
    try:
        _check_regular(path, os.stat(path), limit, what)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise LmarError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    h, data = hashlib.sha256(), bytearray()
    with os.fdopen(fd, "rb") as f:
        _check_regular(path, os.fstat(f.fileno()), limit, what)
        while block := f.read(min(1 << 20, limit + 1 - len(data))):
            h.update(block)
            data += block
            if len(data) > limit:
                raise LmarError(f"{what} {path} grew past {limit} bytes while it was read; it was not loaded")
    return bytes(data), h.hexdigest()


def _check_regular(path: Path, st: os.stat_result, limit: int, what: str) -> None:
    if not stat.S_ISREG(st.st_mode):
        kind = ("a directory" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode)
                else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else "not a regular file")
        raise LmarError(f"{what} {path} is {kind}, not a regular file; it was not read. Give the path of the file itself")
    if st.st_size > limit:
        raise LmarError(f"{what} {path} is {st.st_size} bytes, more than any real one ({limit} bytes at most); "
                        "it was not read. Delete it and fetch it again")
