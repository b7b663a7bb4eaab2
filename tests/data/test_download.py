"""Downloads against a local HTTP server: resume, retries, checksums, disk check, Google Drive."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from pathlib import Path
from types import SimpleNamespace

import gdown
import pytest

from helpers.local_http import LocalServer, Payload, closed_port

from lmar.core.errors import LmarError
from lmar.data.download import download, gdrive_download, gdrive_folder_download, sha256_file, verify_or_record

DATA = random.Random(0).randbytes(300_000)
SHA = hashlib.sha256(DATA).hexdigest()
CUT = 100_000
FAST = {"backoff": 0, "progress": False}


@pytest.fixture
def server():
    with LocalServer() as s:
        yield s


def part_of(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def test_download_verifies_and_moves_into_place(server, tmp_path):
    url = server.add("/data/f.bin", DATA)
    dest = tmp_path / "sub" / "f.bin"
    assert download(url, dest, sha256=SHA, progress=True) == dest
    assert dest.read_bytes() == DATA
    assert sorted(p.name for p in dest.parent.iterdir()) == ["f.bin"]
    assert len(server.requests) == 1 and "Range" not in server.requests[0].headers


def test_cut_transfer_resumes_with_range(server, tmp_path):
    url = server.add("/f.bin", Payload(DATA, cut_after=CUT))
    dest = download(url, tmp_path / "f.bin", sha256=SHA, **FAST)
    assert dest.read_bytes() == DATA
    assert [r.headers.get("Range") for r in server.requests] == [None, f"bytes={CUT}-"]
    assert not part_of(dest).exists()


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    url = server.add("/f.bin", Payload(DATA, cut_after=CUT, ranges=False))
    dest = download(url, tmp_path / "f.bin", sha256=SHA, **FAST)
    assert dest.read_bytes() == DATA
    assert server.requests[1].headers.get("Range") == f"bytes={CUT}-"


def test_complete_part_is_finished_without_body(server, tmp_path):
    """A whole .part left by an earlier run: the server answers 416, the file is verified and moved."""
    url = server.add("/f.bin", DATA)
    dest = tmp_path / "f.bin"
    part_of(dest).write_bytes(DATA)
    download(url, dest, sha256=SHA, **FAST)
    assert dest.read_bytes() == DATA
    assert [r.headers.get("Range") for r in server.requests] == [f"bytes={len(DATA)}-"]


def test_part_longer_than_file_starts_over(server, tmp_path):
    url = server.add("/f.bin", DATA)
    dest = tmp_path / "f.bin"
    part_of(dest).write_bytes(DATA + b"stale tail")
    download(url, dest, sha256=SHA, **FAST)
    assert dest.read_bytes() == DATA
    assert [r.headers.get("Range") for r in server.requests] == [f"bytes={len(DATA) + 10}-", None]


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    url = server.add("/f.bin", DATA)
    dest = tmp_path / "f.bin"
    with pytest.raises(LmarError, match=f"checksum mismatch for {url}.*expected sha256 {'0' * 64}, got {SHA}"):
        download(url, dest, sha256="0" * 64, **FAST)
    assert list(tmp_path.iterdir()) == []


def test_404_fails_at_once(server, tmp_path):
    url = server.url("/missing.zip")
    dest = tmp_path / "missing.zip"
    with pytest.raises(LmarError, match=f"HTTP 404 for {url}: the file is not there.*by hand into {dest}"):
        download(url, dest, **FAST)
    assert len(server.requests) == 1
    assert list(tmp_path.iterdir()) == []


def test_server_errors_are_retried(server, tmp_path):
    url = server.add("/f.bin", Payload(DATA, errors=[500, 503]))
    dest = download(url, tmp_path / "f.bin", sha256=SHA, retries=3, **FAST)
    assert dest.read_bytes() == DATA
    assert len(server.requests) == 3


def test_persistent_server_error_gives_up_after_retries(server, tmp_path):
    url = server.add("/f.bin", Payload(DATA, errors=[500] * 10))
    with pytest.raises(LmarError, match=f"could not download {url} after 3 tries \\(HTTP 500.*by hand"):
        download(url, tmp_path / "f.bin", retries=3, **FAST)
    assert len(server.requests) == 3
    assert list(tmp_path.iterdir()) == []


def test_backoff_doubles(server, tmp_path, monkeypatch):
    sleeps: list[float] = []
    monkeypatch.setattr("lmar.data.download.time.sleep", sleeps.append)
    url = server.add("/f.bin", Payload(DATA, errors=[500] * 10))
    with pytest.raises(LmarError):
        download(url, tmp_path / "f.bin", retries=4, backoff=0.5, progress=False)
    assert sleeps == [0.5, 1.0, 2.0]


def test_connection_refused(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/f.bin"
    dest = tmp_path / "f.bin"
    with pytest.raises(LmarError, match=f"could not connect to 127.0.0.1:\\d+ after 2 tries.*{url} by hand into "
                                        f"{dest}"):
        download(url, dest, retries=2, **FAST)
    assert list(tmp_path.iterdir()) == []


def test_existing_dest_is_used_without_request(server, tmp_path):
    url = server.add("/f.bin", DATA)
    dest = tmp_path / "f.bin"
    dest.write_bytes(DATA)
    assert download(url, dest, sha256=SHA, **FAST) == dest
    assert download(url, dest, **FAST) == dest
    assert server.requests == []


def test_existing_dest_with_wrong_checksum_is_reported(server, tmp_path):
    url = server.add("/f.bin", DATA)
    dest = tmp_path / "f.bin"
    dest.write_bytes(b"something else")
    with pytest.raises(LmarError, match=f"{dest} exists but does not match.*delete"):
        download(url, dest, sha256=SHA, **FAST)
    assert dest.read_bytes() == b"something else" and server.requests == []


@pytest.mark.parametrize("send_length", [True, False], ids=["content-length", "size-argument"])
def test_too_little_disk_space(server, tmp_path, monkeypatch, send_length):
    monkeypatch.setattr(shutil, "disk_usage", lambda path: SimpleNamespace(total=10**6, used=10**6 - 1000, free=1000))
    url = server.add("/f.bin", Payload(DATA, send_length=send_length))
    dest = tmp_path / "f.bin"
    with pytest.raises(LmarError, match=f"not enough disk space for {dest}"):
        download(url, dest, size=len(DATA), **FAST)
    assert list(tmp_path.iterdir()) == []


def test_unknown_length_downloads_to_the_end(server, tmp_path):
    url = server.add("/f.bin", Payload(DATA, send_length=False))
    assert download(url, tmp_path / "f.bin", sha256=SHA, **FAST).read_bytes() == DATA


def test_html_answer_is_not_saved_as_the_file(server, tmp_path):
    url = server.add("/f.zip", Payload(b"<html>please log in</html>", content_type="text/html"))
    with pytest.raises(LmarError, match="answered with a web page"):
        download(url, tmp_path / "f.zip", **FAST)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- checksum lock file


def test_verify_or_record(tmp_path):
    lock, f = tmp_path / "checksums.json", tmp_path / "data.zip"
    f.write_bytes(DATA)
    assert verify_or_record(lock, "mini/data.zip", f) == SHA == sha256_file(f)
    assert json.loads(lock.read_text()) == {"mini/data.zip": SHA}
    assert verify_or_record(lock, "mini/data.zip", f) == SHA
    f.write_bytes(DATA[:-1])
    with pytest.raises(LmarError, match=f"{f} does not match .*'mini/data.zip' in {lock}: expected sha256 {SHA}, "
                                        f"got {sha256_file(f)}.*delete {f}"):
        verify_or_record(lock, "mini/data.zip", f)
    verify_or_record(lock, "other", f)
    assert set(json.loads(lock.read_text())) == {"mini/data.zip", "other"}


def test_broken_lock_file_is_reported(tmp_path):
    lock, f = tmp_path / "checksums.json", tmp_path / "f"
    lock.write_text("{not json")
    f.write_bytes(b"x")
    with pytest.raises(LmarError, match=f"checksum lock file {lock} is not valid JSON"):
        verify_or_record(lock, "k", f)


# --------------------------------------------------------------------------- Google Drive


def test_gdrive_passes_confirmation_page(server, tmp_path):
    base = server.add_drive_file("FILEID", DATA)
    dest = gdrive_download("FILEID", tmp_path / "f.zip", sha256=SHA, base_url=base, **FAST)
    assert dest.read_bytes() == DATA
    followed = server.requests[-1].path
    assert "confirm=t" in followed and "uuid=0b6c-uuid" in followed and "id=FILEID" in followed


def test_gdrive_resumes_after_confirmation(server, tmp_path):
    base = server.add_drive_file("FILEID", Payload(DATA, cut_after=CUT))
    dest = gdrive_download("FILEID", tmp_path / "f.zip", sha256=SHA, base_url=base, **FAST)
    assert dest.read_bytes() == DATA
    assert server.requests[-1].headers.get("Range") == f"bytes={CUT}-"


def test_gdrive_small_file_without_page(server, tmp_path):
    base = server.url("/download")
    server.add("/download?id=SMALL&export=download", DATA)
    assert gdrive_download("SMALL", tmp_path / "f.zip", base_url=base, **FAST).read_bytes() == DATA


def test_gdrive_page_without_form_asks_for_manual_download(server, tmp_path):
    base = server.add_drive_file("FILEID", DATA, downloadable=False)
    dest = tmp_path / "f.zip"
    with pytest.raises(LmarError, match=f"not downloadable automatically.*https://drive.google.com/file/d/FILEID "
                                        f"into {dest}"):
        gdrive_download("FILEID", dest, base_url=base, **FAST)
    assert list(tmp_path.iterdir()) == []


def test_gdrive_folder_wraps_gdown(tmp_path, monkeypatch):
    calls = []

    def fake(**kw):
        calls.append(kw)
        Path(kw["output"]).mkdir()
        (Path(kw["output"]) / "a.png").write_bytes(b"png")
        return [kw["output"] + "/a.png"]

    monkeypatch.setattr(gdown, "download_folder", fake)
    dest = tmp_path / "folder"
    assert gdrive_folder_download("FOLDERID", dest) == dest
    assert (dest / "a.png").read_bytes() == b"png"
    assert not part_of(dest).exists()
    [kw] = calls
    assert kw["id"] == "FOLDERID" and kw["output"] == str(part_of(dest))
    assert kw["quiet"] is False and kw["resume"] is True
    gdrive_folder_download("FOLDERID", dest)
    assert len(calls) == 1  # present: used as is


def test_gdrive_folder_failure_asks_for_manual_download(tmp_path, monkeypatch):
    def fake(**kw):
        raise gdown.exceptions.DownloadError("Failed to retrieve folder contents")

    monkeypatch.setattr(gdown, "download_folder", fake)
    dest = tmp_path / "folder"
    with pytest.raises(LmarError, match=f"Failed to retrieve.*https://drive.google.com/drive/folders/FOLDERID "
                                        f"into {dest}"):
        gdrive_folder_download("FOLDERID", dest)
    assert not dest.exists()
