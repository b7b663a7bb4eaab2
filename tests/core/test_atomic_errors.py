"""An output that cannot be written (a read-only file system, no permission, a full disk, a folder that
cannot be made) is one LmarError naming it and what to do, never an OSError traceback, and nothing
half-written is left: no temp, and an earlier output as it was. ``check_writable`` and
``check_outputs`` say so before the work; ``check_outputs`` also refuses an output that is an input.

The tests run as root, where permissions do not stop a write: the file system's refusals are
simulated by making ``os`` functions raise the OSError the kernel gives (errno EROFS, EACCES, ENOSPC)
for paths under the test's folder only."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from lmar.core import atomic
from lmar.core.atomic import atomic_dir, atomic_path, check_outputs, check_writable, temp_name, write_json
from lmar.core.errors import LmarError

STRERROR = {errno.EROFS: "Read-only file system", errno.EACCES: "Permission denied",
            errno.ENOSPC: "No space left on device"}


def refuse(monkeypatch, name: str, under: Path, code: int, only=lambda path: True) -> None:
    """``os.<name>`` raises OSError(``code``) for a first path argument in ``under`` (and ``only(path)``)."""
    real = getattr(os, name)

    def fake(path, *args, **kwargs):
        p = Path(os.fsdecode(path))
        if p != under and p.is_relative_to(under) and only(p):
            raise OSError(code, STRERROR[code], os.fsdecode(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, name, fake)


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# --- a temp that cannot be created: read-only file system, no permission -------------------------------------------

@pytest.mark.parametrize("code, advice", [(errno.EROFS, "a file system you can write to"),
                                          (errno.EACCES, "permission to write in its folder")])
def test_a_file_that_cannot_be_created_is_one_error_naming_it(tmp_path, monkeypatch, code, advice):
    target = tmp_path / "ro" / "out.json"
    target.parent.mkdir()
    refuse(monkeypatch, "open", tmp_path / "ro", code)
    with pytest.raises(LmarError) as exc:
        write_json(target, {"a": 1})
    assert str(exc.value) == f"cannot write {target}: {STRERROR[code]}; choose " + (
        "an output path on a file system you can write to" if code == errno.EROFS else
        "another output path, or get permission to write in its folder")
    assert advice in str(exc.value) and ".tmp" not in str(exc.value)  # the target, not its temp
    assert listing(tmp_path) == ["ro"]


def test_a_folder_that_cannot_be_created_is_one_error_naming_it(tmp_path, monkeypatch):
    (tmp_path / "ro").mkdir()
    refuse(monkeypatch, "mkdir", tmp_path / "ro", errno.EROFS)
    ran = []
    with pytest.raises(LmarError, match=f"^cannot write {tmp_path / 'ro' / 'images'}: Read-only file system; "):
        with atomic_dir(tmp_path / "ro" / "images"):
            ran.append(1)
    assert ran == [] and listing(tmp_path) == ["ro"]


def test_a_parent_that_cannot_be_made_is_one_error(tmp_path, monkeypatch):
    refuse(monkeypatch, "mkdir", tmp_path / "ro", errno.EROFS)
    target = tmp_path / "ro" / "deeper" / "t.md"
    with pytest.raises(LmarError, match=f"cannot write {target}: cannot make its folder .*Read-only file system"):
        with atomic_path(target):
            pass
    assert listing(tmp_path) == []


# --- the move into place fails: the target as it was, no temp left ---------------------------------------------------

@pytest.mark.parametrize("code", [errno.EROFS, errno.ENOSPC])
def test_a_failed_replace_keeps_the_earlier_file_and_leaves_no_temp(tmp_path, monkeypatch, code):
    target = tmp_path / "out.json"
    write_json(target, {"v": 1})
    refuse(monkeypatch, "replace", tmp_path, code)
    with pytest.raises(LmarError, match=f"^cannot write {target}: {STRERROR[code]}; "):
        write_json(target, {"v": 2})
    assert json.loads(target.read_text()) == {"v": 1} and listing(tmp_path) == ["out.json"]


def test_a_failed_folder_replace_puts_the_earlier_folder_back(tmp_path, monkeypatch):
    target = tmp_path / "images"
    with atomic_dir(target) as tmp:
        (tmp / "old.png").write_bytes(b"old")
    # the earlier folder is moved aside, then the new one cannot be moved into place
    refuse(monkeypatch, "replace", tmp_path, errno.EACCES, only=lambda p: (p / "new.png").exists())
    with pytest.raises(LmarError, match=f"^cannot write {target}: Permission denied; "), atomic_dir(target) as tmp:
        (tmp / "new.png").write_bytes(b"new")
    assert listing(tmp_path) == ["images", "images/old.png"]
    assert (target / "old.png").read_bytes() == b"old"


def test_an_earlier_folder_that_cannot_be_put_back_is_kept_not_deleted(tmp_path, monkeypatch, caplog):
    target = tmp_path / "images"
    with atomic_dir(target) as tmp:
        (tmp / "old.png").write_bytes(b"old")
    refuse(monkeypatch, "replace", tmp_path, errno.EACCES, only=lambda p: p.name != "images")
    with pytest.raises(LmarError, match=f"^cannot write {target}: Permission denied; "), atomic_dir(target) as tmp:
        (tmp / "new.png").write_bytes(b"new")
    (kept,) = [p for p in tmp_path.iterdir()]
    assert (kept / "old.png").read_bytes() == b"old" and listing(tmp_path) == [kept.name, f"{kept.name}/old.png"]
    assert f"it is kept at {kept}" in caplog.text


def test_a_folder_is_still_replaced_whole(tmp_path):
    target = tmp_path / "images"
    for name in ("one", "two"):
        with atomic_dir(target) as tmp:
            (tmp / name).write_text(name)
    assert listing(tmp_path) == ["images", "images/two"]


# --- the block's own writes: a full disk is the target's error, an input's error stays its own -------------------------

def test_a_full_disk_while_writing_is_one_error_and_leaves_nothing(tmp_path):
    target = tmp_path / "out.png"
    with pytest.raises(LmarError, match=f"^cannot write {target}: No space left on device; free some space or "
                                        "choose an output path on another disk$"), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert listing(tmp_path) == []


def test_a_write_error_naming_the_temp_names_the_target(tmp_path):
    target = tmp_path / "images"
    with pytest.raises(LmarError, match=f"^cannot write {target}: Permission denied; "), atomic_dir(target) as tmp:
        raise OSError(errno.EACCES, "Permission denied", str(tmp / "a.png"))
    assert listing(tmp_path) == []


def test_an_input_that_cannot_be_read_is_not_called_a_write_error(tmp_path):
    with pytest.raises(FileNotFoundError), atomic_path(tmp_path / "out.png"):
        (tmp_path / "absent.png").read_bytes()
    assert listing(tmp_path) == []


def test_a_folder_that_cannot_be_listed_does_not_stop_a_write(tmp_path, monkeypatch):
    (tmp_path / "wo").mkdir()
    refuse(monkeypatch, "scandir", tmp_path, errno.EACCES)  # tmp_path/wo may be written, not listed
    write_json(tmp_path / "wo" / "out.json", {"a": 1})
    assert json.loads((tmp_path / "wo" / "out.json").read_text()) == {"a": 1}


# --- before the work: check_writable -------------------------------------------------------------------------------

def test_check_writable_finds_a_read_only_folder_before_the_work(tmp_path, monkeypatch):
    (tmp_path / "ro").mkdir()
    refuse(monkeypatch, "open", tmp_path / "ro", errno.EROFS)
    with pytest.raises(LmarError, match=f"^cannot write {tmp_path / 'ro' / 'out.png'}: Read-only file system; "):
        check_writable(tmp_path / "ro" / "out.png")
    assert listing(tmp_path) == ["ro"]


def test_check_writable_leaves_nothing_but_the_folder(tmp_path):
    assert check_writable(tmp_path / "sub" / "out.png") == tmp_path / "sub" / "out.png"
    assert check_writable(tmp_path / "folder", folder=True) == tmp_path / "folder"
    assert listing(tmp_path) == ["sub"]


@pytest.mark.parametrize("parent", ["afile", "afile/deeper"])
def test_check_writable_under_a_file(tmp_path, parent):
    (tmp_path / "afile").write_text("a file")
    target = tmp_path / parent / "out.png"
    with pytest.raises(LmarError, match=f"cannot write {target}: {tmp_path / 'afile'} is a file, not a folder"):
        check_writable(target)
    assert listing(tmp_path) == ["afile"]


def test_a_file_output_that_is_a_folder_is_refused_before_the_work(tmp_path):
    (tmp_path / "t.md").mkdir()
    with pytest.raises(LmarError, match=f"cannot write {tmp_path / 't.md'}: it is a folder"):
        check_writable(tmp_path / "t.md")
    ran = []
    with pytest.raises(LmarError, match="it is a folder"), atomic_path(tmp_path / "t.md"):
        ran.append(1)
    assert ran == [] and listing(tmp_path) == ["t.md"]


@pytest.mark.parametrize("kind", ["link", "file"])
def test_check_writable_refuses_a_folder_output_that_is_a_link_or_a_file(tmp_path, kind):
    target = tmp_path / "images"
    if kind == "link":
        (tmp_path / "elsewhere").mkdir()
        target.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    else:
        target.write_text("a file")
    with pytest.raises(LmarError, match=f"cannot write the folder {target}: it is a"):
        check_writable(target, folder=True)


# --- before the work: check_outputs --------------------------------------------------------------------------------

def test_an_output_that_is_an_input_is_refused_naming_both(tmp_path, monkeypatch):
    inp = tmp_path / "v3.csv"
    inp.write_text("data")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x").mkdir()
    os.link(inp, tmp_path / "hard.csv")
    (tmp_path / "soft.csv").symlink_to(inp)
    for out in (Path("v3.csv"), Path("x/../v3.csv"), tmp_path / "v3.csv", Path("hard.csv"), Path("soft.csv")):
        with pytest.raises(LmarError, match=rf"^output --out-md {out} is the input v3\.csv\b.*: choose another output "
                                            r"path \(the inputs are never overwritten\)"):
            check_outputs({"--out-csv": None, "--out-md": out}, [Path("v3.csv")])
    assert inp.read_text() == "data" and listing(tmp_path) == ["hard.csv", "soft.csv", "v3.csv", "x"]


def test_two_outputs_that_are_one_file_are_refused(tmp_path):
    with pytest.raises(LmarError, match=f"^outputs --out-md {tmp_path / 't.md'} and --out-csv {tmp_path}/x/../t.md "
                                        "are the same file"):
        check_outputs({"--out-md": tmp_path / "t.md", "--out-csv": f"{tmp_path}/x/../t.md"}, [])


def test_check_outputs_checks_that_each_can_be_written(tmp_path, monkeypatch):
    (tmp_path / "ro").mkdir()
    refuse(monkeypatch, "open", tmp_path / "ro", errno.EROFS)
    check_outputs({"--out-md": tmp_path / "ok" / "t.md", "--out-csv": None}, [tmp_path / "in.csv"])
    with pytest.raises(LmarError, match=f"^cannot write {tmp_path / 'ro' / 't.csv'}: Read-only file system"):
        check_outputs({"--out-md": tmp_path / "ok" / "t.md", "--out-csv": tmp_path / "ro" / "t.csv"}, [])
    assert listing(tmp_path) == ["ok", "ro"]


def test_a_stale_temp_beside_the_target_is_still_cleaned(tmp_path, monkeypatch):
    target = tmp_path / "t.md"
    stale = temp_name(target, pid=999_999, token="0" * 16)
    stale.write_text("")
    monkeypatch.setattr(atomic, "_running", lambda pid: False)
    check_writable(target)
    assert listing(tmp_path) == []
