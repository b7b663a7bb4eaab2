"""safe_extract: the right layout for good archives; unsafe or oversized ones refused with nothing left."""

from __future__ import annotations

import io
import re
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from lmar.core.errors import LmarError
from lmar.data.extract import safe_extract

FILES = {"ds/train/a.png": b"A" * 1000, "ds/test/b.png": b"B" * 10, "ds/README": b"hello"}
TAR_MODES = {".tar": "w", ".tar.gz": "w:gz", ".tgz": "w:gz", ".tar.bz2": "w:bz2", ".tar.xz": "w:xz"}


def make_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    mode = next(m for suffix, m in TAR_MODES.items() if path.name.endswith(suffix))
    with tarfile.open(path, mode) as tf:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            tf.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def tar_file(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def tar_special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info, b""


def make_zip(path: Path, members: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


def zip_symlink(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def assert_refused(archive: Path, dest: Path, member: str, why: str, **limits: int) -> None:
    """safe_extract refuses naming the archive and member, and leaves nothing beside the archive."""
    before = sorted(archive.parent.iterdir())
    with pytest.raises(LmarError, match=f"refusing to unpack {re.escape(str(archive))}: member "
                                        f"{re.escape(repr(member))} {why}"):
        safe_extract(archive, dest, **limits)
    assert not dest.exists()
    assert sorted(archive.parent.iterdir()) == before


def test_zip_unpacks_in_layout(tmp_path):
    archive = make_zip(tmp_path / "ds.zip", [("ds/", b""), *FILES.items()])
    dest = tmp_path / "out"
    assert safe_extract(archive, dest) == dest
    assert tree(dest) == FILES
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds.zip", "out"]


@pytest.mark.parametrize("suffix", TAR_MODES)
def test_tar_unpacks_in_layout(tmp_path, suffix):
    members = [tar_special("ds", tarfile.DIRTYPE), *(tar_file(n, d) for n, d in FILES.items())]
    archive = make_tar(tmp_path / f"ds{suffix}", members)
    dest = safe_extract(archive, tmp_path / "out")
    assert tree(dest) == FILES


@pytest.mark.parametrize("name", ["../evil.txt", "ds/../../evil.txt", "ds\\..\\..\\evil.txt"])
@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_parent_components_refused(tmp_path, name, kind):
    if kind == "zip":
        archive = make_zip(tmp_path / "a.zip", [("ok.txt", b"fine"), (name, b"evil")])
    else:
        archive = make_tar(tmp_path / "a.tar.gz", [tar_file("ok.txt"), tar_file(name)])
    assert_refused(archive, tmp_path / "out", name, "climbs out of the target folder")
    assert not (tmp_path / "evil.txt").exists()


@pytest.mark.parametrize("name", ["/tmp/evil.txt", "C:/evil.txt", "c:evil.txt", "\\evil.txt"])
def test_absolute_paths_refused(tmp_path, name):
    archive = make_zip(tmp_path / "a.zip", [(zipfile.ZipInfo(name), b"evil")])
    assert_refused(archive, tmp_path / "out", name, "has an absolute path")


def test_absolute_tar_path_refused(tmp_path):
    archive = make_tar(tmp_path / "a.tar", [tar_file("/tmp/evil.txt")])
    assert_refused(archive, tmp_path / "out", "/tmp/evil.txt", "has an absolute path")


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE], ids=["symlink", "hardlink"])
def test_tar_links_refused(tmp_path, kind):
    archive = make_tar(tmp_path / "a.tar.gz", [tar_special("ds/link", kind, "../../../etc/passwd"),
                                               tar_file("ds/link/x", b"overwrite")])
    assert_refused(archive, tmp_path / "out", "ds/link", "is a link to '../../../etc/passwd'")


@pytest.mark.parametrize("kind", [tarfile.FIFOTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE])
def test_tar_devices_refused(tmp_path, kind):
    archive = make_tar(tmp_path / "a.tar", [tar_special("dev", kind)])
    assert_refused(archive, tmp_path / "out", "dev", "is a device or fifo")


def test_zip_symlink_refused(tmp_path):
    archive = make_zip(tmp_path / "a.zip", [("ok.txt", b"fine"), zip_symlink("link", "../../outside")])
    assert_refused(archive, tmp_path / "out", "link", "is a symbolic link")


def test_too_many_bytes_refused(tmp_path):
    archive = make_zip(tmp_path / "a.zip", list(FILES.items()))
    assert_refused(archive, tmp_path / "out", "ds/README", "takes the unpacked size past the limit of 1012 bytes",
                   max_bytes=1012)


def test_too_many_files_refused(tmp_path):
    archive = make_tar(tmp_path / "a.tar.xz", [tar_file(f"f{i}") for i in range(5)])
    assert_refused(archive, tmp_path / "out", "f3", "is one past the limit of 3 members", max_files=3)


def test_member_longer_than_its_header_refused(tmp_path, monkeypatch):
    """A reader yielding more than the declared size (a lying header) is stopped while writing."""
    archive = make_tar(tmp_path / "a.tar", [tar_file("big", b"12345")])
    monkeypatch.setattr(tarfile.TarFile, "extractfile", lambda self, info: io.BytesIO(b"x" * 100))
    assert_refused(archive, tmp_path / "out", "big", "unpacks to more than the 5 bytes its header declares")


def test_failure_keeps_previous_dest(tmp_path):
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    archive = make_zip(tmp_path / "a.zip", [("new.txt", b"new"), ("../evil", b"")])
    with pytest.raises(LmarError):
        safe_extract(archive, dest)
    assert tree(dest) == {"old.txt": b"old"}
    assert safe_extract(make_zip(tmp_path / "b.zip", [("new.txt", b"new")]), dest) == dest
    assert tree(dest) == {"new.txt": b"new"}


def test_truncated_archive_reported_as_corrupt(tmp_path):
    archive = make_tar(tmp_path / "a.tar.gz", [tar_file("big", bytes(range(256)) * 4000)])
    archive.write_bytes(archive.read_bytes()[:2000])
    with pytest.raises(LmarError, match=f"{re.escape(str(archive))} is corrupt or incomplete.*delete it"):
        safe_extract(archive, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tar.gz"]


def test_unknown_type_and_missing_archive(tmp_path):
    (tmp_path / "a.rar").write_bytes(b"Rar!")
    with pytest.raises(LmarError, match="unknown archive type"):
        safe_extract(tmp_path / "a.rar", tmp_path / "out")
    with pytest.raises(LmarError, match="not found; download it first"):
        safe_extract(tmp_path / "nope.zip", tmp_path / "out")
