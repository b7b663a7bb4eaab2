"""Resumable, checksummed downloads (plain HTTP and Google Drive) and the checksum lock file.

A download streams into ``<dest>.part`` and resumes it with an HTTP Range request after a cut;
the file appears under its final name only once complete and verified. Every failure the user
can act on is an :class:`~lmar.core.errors.LmarError` naming the URL or file and what to do by hand.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlencode, urljoin, urlsplit

import requests
import urllib3
from tqdm import tqdm

from lmar.core.atomic import write_json
from lmar.core.errors import LmarError

RETRIES = 4  # attempts in all, the first included
BACKOFF = 0.5  # seconds before the 2nd attempt, doubled before each further one
TIMEOUT = 30.0  # seconds to connect, and between two received bytes
CHUNK = 1 << 20
DISK_MARGIN = 256 * 2**20  # bytes to keep free beyond the download itself
GDRIVE_URL = "https://drive.usercontent.google.com/download"

T = TypeVar("T")


class _TransientError(Exception):
    """A failure worth another try (5xx answer, cut transfer); ``.part`` keeps what arrived."""


# Failures retried with backoff: no connection, timeouts, connections dropped mid-body, 5xx.
_RETRYABLE = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
              urllib3.exceptions.HTTPError, _TransientError)


@dataclass(frozen=True)
class _Transfer:
    """One file to fetch, and how."""

    url: str
    dest: Path
    manual: str  # what the user can do by hand; ends every error message
    session: requests.Session
    timeout: float
    progress: bool
    size: int | None  # expected size when the server does not tell

    @property
    def part(self) -> Path:
        return self.dest.with_name(self.dest.name + ".part")


# --------------------------------------------------------------------------- checksums


def sha256_file(path: str | os.PathLike) -> str:
    """The hex sha256 of a file's content."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def verify_or_record(lockfile: Path, key: str, path: Path) -> str:
    """Check ``path`` against the sha256 recorded under ``key`` in the JSON ``lockfile``, or record it.

    Returns the file's sha256. Raises LmarError when a recorded hash differs.
    """
    lockfile, path = Path(lockfile), Path(path)
    actual = sha256_file(path)
    with _exclusive(lockfile):
        entries = _read_lock(lockfile)
        expected = entries.get(key)
        if expected is None:
            _write_lock(lockfile, {**entries, key: actual})
    if expected is not None and expected != actual:
        raise LmarError(
            f"{path} does not match the checksum recorded for {key!r} in {lockfile}: expected sha256 {expected}, "
            f"got {actual}. The file is corrupt or a different version: delete {path} to download it again."
        )
    return actual


@contextlib.contextmanager
def _exclusive(lockfile: Path) -> Iterator[None]:
    """Hold an exclusive lock on a sidecar of ``lockfile``, so parallel jobs do not lose each other's entries."""
    import fcntl

    lockfile.parent.mkdir(parents=True, exist_ok=True)
    with open(lockfile.with_name(f".{lockfile.name}.lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _read_lock(lockfile: Path) -> dict[str, str]:
    if not lockfile.exists():
        return {}
    try:
        entries = json.loads(lockfile.read_text())
    except json.JSONDecodeError as e:
        raise LmarError(f"checksum lock file {lockfile} is not valid JSON ({e}); fix or delete it") from e
    if not isinstance(entries, dict):
        raise LmarError(f"checksum lock file {lockfile} must hold a JSON object of name: sha256; fix or delete it")
    return entries


def _write_lock(lockfile: Path, entries: dict[str, str]) -> None:
    write_json(lockfile, entries, sort_keys=True)


# --------------------------------------------------------------------------- plain HTTP


def download(url: str, dest: str | os.PathLike, *, sha256: str | None = None, size: int | None = None,
             retries: int = RETRIES, backoff: float = BACKOFF, timeout: float = TIMEOUT,
             session: requests.Session | None = None, progress: bool = True) -> Path:
    """Download ``url`` to ``dest``, resuming a previous ``.part`` and verifying ``sha256`` when given.

    An existing ``dest`` is used as is (after checking ``sha256``). ``size`` (bytes) serves the free-space
    check when the server does not announce a length. ``retries`` counts all attempts.
    """
    dest = Path(dest)
    if _present(dest, sha256):
        return dest
    with _session(session) as sess:
        _fetch(_Transfer(url, dest, f"download {url} by hand into {dest}", sess, timeout, progress, size),
               sha256, retries, backoff)
    return dest


def _present(dest: Path, sha256: str | None) -> bool:
    """Whether ``dest`` is already there and, when a checksum is given, matches it."""
    if not dest.exists():
        return False
    if sha256 is not None and (actual := sha256_file(dest)) != sha256.lower():
        raise LmarError(
            f"{dest} exists but does not match its checksum: expected sha256 {sha256}, got {actual}. "
            f"It is corrupt or a different version: delete {dest} to download it again."
        )
    return True


def _session(session: requests.Session | None) -> contextlib.AbstractContextManager[requests.Session]:
    """The caller's session (left open), or a new one closed on exit."""
    return contextlib.nullcontext(session) if session is not None else requests.Session()


def _fetch(t: _Transfer, sha256: str | None, retries: int, backoff: float) -> None:
    """Fill ``t.part`` (with retries), verify it and move it onto ``t.dest``."""
    t.dest.parent.mkdir(parents=True, exist_ok=True)
    _retrying(lambda: _attempt(t), t, retries, backoff)
    if sha256 is not None and (actual := sha256_file(t.part)) != sha256.lower():
        t.part.unlink()
        raise LmarError(
            f"checksum mismatch for {t.url}: expected sha256 {sha256}, got {actual}; the partial file was deleted. "
            f"The file changed on the server or was damaged in transit: run again, check the dataset registry "
            f"entry, or {t.manual}."
        )
    os.replace(t.part, t.dest)


def _retrying(step: Callable[[], T], t: _Transfer, retries: int, backoff: float) -> T:
    """Run ``step`` up to ``retries`` times, sleeping ``backoff * 2**i`` after the i-th retryable failure."""
    if retries < 1:
        raise ValueError(f"retries must be at least 1, got {retries}")
    for i in range(retries):
        try:
            return step()
        except _RETRYABLE as e:
            err = e
            if i + 1 < retries:
                time.sleep(backoff * 2**i)
    raise _gave_up(t, retries, err) from err


def _gave_up(t: _Transfer, tries: int, err: Exception) -> LmarError:
    if isinstance(err, requests.ConnectionError):
        host = urlsplit(t.url).netloc
        return LmarError(f"no internet connection: could not connect to {host} after {tries} tries; {t.manual}")
    return LmarError(f"could not download {t.url} after {tries} tries ({err}); run again to resume, or {t.manual}")


def _attempt(t: _Transfer) -> None:
    """One request: continue ``t.part`` from where it ends (or start it) until the body is complete."""
    have = t.part.stat().st_size if t.part.exists() else 0
    headers = {"Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    with t.session.get(t.url, headers=headers, stream=True, timeout=t.timeout) as r:
        start = _resume_point(r, t, have)
        if start is None:
            return
        total = _total_length(r, start)
        total = t.size if total is None else total
        if total is not None:
            _check_disk(t, total - start)
        _receive(r, t, start, total)


def _resume_point(r: requests.Response, t: _Transfer, have: int) -> int | None:
    """Where the body goes in ``t.part``: at ``have`` (206), at 0 (200), or nowhere when already whole (416)."""
    code = r.status_code
    if code == 416 and have:
        total = _content_range(r)[2]
        if total == have:
            return None
        t.part.unlink()
        raise _TransientError(f"the server cannot resume at byte {have} of {total}; starting over")
    if code >= 500:
        raise _TransientError(f"HTTP {code} {r.reason} from {t.url}")
    if code >= 400:
        raise LmarError(_http_error(code, t))
    if _is_html(r):
        raise LmarError(
            f"{t.url} answered with a web page instead of the file (a login, quota or confirmation page); {t.manual}"
        )
    if code == 206:
        if _content_range(r)[0] != have:
            t.part.unlink()
            raise _TransientError(f"the server resumed {t.url} at the wrong offset; starting over")
        return have
    if code == 200:
        return 0
    raise LmarError(f"unexpected HTTP {code} {r.reason} for {t.url}; {t.manual}")


def _http_error(code: int, t: _Transfer) -> str:
    reasons = {404: "the file is not there", 401: "it needs a login", 403: "access is denied"}
    what = reasons.get(code, "the request was refused")
    return f"HTTP {code} for {t.url}: {what}; check the dataset registry entry or {t.manual}"


def _is_html(r: requests.Response) -> bool:
    return r.headers.get("Content-Type", "").split(";")[0].strip().lower() == "text/html"


def _content_range(r: requests.Response) -> tuple[int | None, int | None, int | None]:
    """(first byte, last byte, total) of a ``Content-Range: bytes a-b/n`` header; None where unknown."""
    m = re.fullmatch(r"bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)", r.headers.get("Content-Range", "").strip())
    if m is None:
        return None, None, None
    return tuple(int(g) if g and g != "*" else None for g in m.groups())  # type: ignore[return-value]


def _total_length(r: requests.Response, start: int) -> int | None:
    """The full file's length in bytes, as the answer announces it."""
    if r.status_code == 206 and (total := _content_range(r)[2]) is not None:
        return total
    length = r.headers.get("Content-Length")
    return start + int(length) if length and length.isdigit() else None


def _check_disk(t: _Transfer, need: int) -> None:
    free = shutil.disk_usage(t.dest.parent).free
    if free < need + DISK_MARGIN:
        raise LmarError(
            f"not enough disk space for {t.dest}: {t.url} needs {_mib(need)} (plus {_mib(DISK_MARGIN)} to spare) "
            f"but {t.dest.parent} has {_mib(free)} free; free some space or put the resources on a larger disk"
        )


def _mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


def _receive(r: requests.Response, t: _Transfer, start: int, total: int | None) -> None:
    """Write the body into ``t.part`` from byte ``start``; a short body is retryable (what arrived is kept)."""
    got = start
    with open(t.part, "ab" if start else "wb") as f, \
            tqdm(total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024, desc=t.dest.name,
                 disable=not t.progress, file=sys.stderr, mininterval=1) as bar:
        for chunk in r.raw.stream(CHUNK, decode_content=False):
            f.write(chunk)
            got += len(chunk)
            bar.update(len(chunk))
    if total is not None and got < total:
        raise _TransientError(f"transfer cut after {got} of {total} bytes")


# --------------------------------------------------------------------------- Google Drive


def gdrive_download(file_id: str, dest: str | os.PathLike, *, sha256: str | None = None, base_url: str = GDRIVE_URL,
                    size: int | None = None, retries: int = RETRIES, backoff: float = BACKOFF,
                    timeout: float = TIMEOUT, session: requests.Session | None = None,
                    progress: bool = True) -> Path:
    """Download a public Google Drive file, passing the "file too large to scan" page; else as :func:`download`."""
    dest = Path(dest)
    if _present(dest, sha256):
        return dest
    url = f"{base_url}?{urlencode({'id': file_id, 'export': 'download'})}"
    manual = f"download it by hand from https://drive.google.com/file/d/{file_id} into {dest}"
    with _session(session) as sess:
        probe = _Transfer(url, dest, manual, sess, timeout, progress, size)
        file_url = _retrying(lambda: _gdrive_file_url(probe), probe, retries, backoff)
        _fetch(replace(probe, url=file_url), sha256, retries, backoff)
    return dest


def _gdrive_file_url(t: _Transfer) -> str:
    """The URL serving the file: ``t.url`` itself, or the target of Drive's confirmation form."""
    with t.session.get(t.url, stream=True, timeout=t.timeout) as r:
        if r.status_code >= 500:
            raise _TransientError(f"HTTP {r.status_code} {r.reason} from {t.url}")
        if r.status_code >= 400:
            raise LmarError(_http_error(r.status_code, t))
        if not _is_html(r):
            return t.url
        page, page_url = r.text, r.url
    form = _confirm_form(page)
    if form is None:
        raise LmarError(
            f"{t.url} answered with a web page instead of the file: this Google Drive file is not downloadable "
            f"automatically (its download quota is exceeded, or it is not public); {t.manual}"
        )
    action, fields = form
    return f"{urljoin(page_url, action)}?{urlencode(fields)}"


class _FormParser(HTMLParser):
    """Collects each ``<form>``'s action and hidden inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append((a.get("action", ""), {}))
            self._inside = True
        elif tag == "input" and self._inside and a.get("type", "").lower() == "hidden" and a.get("name"):
            self.forms[-1][1][a["name"]] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._inside = False


def _confirm_form(page: str) -> tuple[str, dict[str, str]] | None:
    """(action, hidden fields) of the page's "download anyway" form (the one with a ``confirm`` field)."""
    parser = _FormParser()
    parser.feed(page)
    return next(((action, fields) for action, fields in parser.forms if "confirm" in fields), None)


def gdrive_folder_download(folder_id: str, dest_dir: str | os.PathLike) -> Path:
    """Download a public Google Drive folder with gdown into ``dest_dir``.

    The files gather in ``<dest_dir>.part`` (resumed by a rerun); it becomes ``dest_dir`` once all arrived.
    An existing ``dest_dir`` is used as is.
    """
    import gdown

    dest_dir = Path(dest_dir)
    if dest_dir.exists():
        return dest_dir
    part = dest_dir.with_name(dest_dir.name + ".part")
    try:
        gdown.download_folder(id=folder_id, output=str(part), quiet=False, resume=True,
                              timeout=TIMEOUT, retries=RETRIES - 1)
    # gdown scrapes Drive's web pages: it fails with its own errors, requests' and parsing ones
    except (gdown.DownloadError, requests.RequestException, ValueError, KeyError, IndexError) as e:
        raise LmarError(
            f"could not download Google Drive folder {folder_id} ({e}); download it by hand from "
            f"https://drive.google.com/drive/folders/{folder_id} into {dest_dir}"
        ) from e
    os.replace(part, dest_dir)
    return dest_dir
