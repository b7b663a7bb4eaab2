"""All-or-nothing writes: ordinary permissions, nothing left on failure, and cleanup after a killed writer."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helpers import ROOT

from lmar.core import atomic
from lmar.core.atomic import atomic_dir, atomic_path, parse_temp_name, temp_name, write_json

TOKEN = "0123456789abcdef"


@pytest.fixture
def umask():
    """Set the process umask for one test and always put the old one back."""
    old = os.umask(0o022)
    os.umask(old)

    def set_umask(value: int) -> None:
        os.umask(value)

    try:
        yield set_umask
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def hidden_temps(folder: Path, target: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if parse_temp_name(target, p.name))


# --- permissions -------------------------------------------------------------------------------------------------

UMASKS = [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700), (0o002, 0o664, 0o775)]


@pytest.mark.parametrize("mask, file_mode, dir_mode", UMASKS)
def test_atomic_path_respects_umask(tmp_path, umask, mask, file_mode, dir_mode):
    umask(mask)
    target = tmp_path / "out.bin"
    with atomic_path(target) as tmp:
        assert mode(tmp) == file_mode  # already while being written
        tmp.write_bytes(b"data")
    assert target.read_bytes() == b"data"
    assert mode(target) == file_mode


@pytest.mark.parametrize("mask, file_mode, dir_mode", UMASKS)
def test_write_json_respects_umask(tmp_path, umask, mask, file_mode, dir_mode):
    umask(mask)
    target = tmp_path / "sub" / "out.json"
    write_json(target, {"b": 1, "a": 2}, sort_keys=True)
    assert json.loads(target.read_text()) == {"a": 2, "b": 1}
    assert target.read_text().endswith("\n")
    assert mode(target) == file_mode


@pytest.mark.parametrize("mask, file_mode, dir_mode", UMASKS)
def test_atomic_dir_respects_umask(tmp_path, umask, mask, file_mode, dir_mode):
    umask(mask)
    target = tmp_path / "folder"
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("a")
    assert (target / "a.txt").read_text() == "a"
    assert mode(target) == dir_mode
    assert mode(target / "a.txt") == file_mode


# --- naming --------------------------------------------------------------------------------------------------------

def test_temp_is_a_hidden_sibling_with_the_target_suffix(tmp_path):
    target = tmp_path / "plot.v2.png"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path
        assert tmp.name.startswith(".plot.v2.png.~")
        assert tmp.suffix == ".png"
        owner = parse_temp_name(target, tmp.name)
        assert owner is not None and owner.pid == os.getpid()
        tmp.write_bytes(b"x")
    assert list(tmp_path.iterdir()) == [target]


@pytest.mark.parametrize("name", ["a", "a.b.c", "x-y.~h.1.tar.gz", ".hidden", "my-run.2024-01-01.pt", "x.tmp"])
def test_temp_name_parses_back(tmp_path, name):
    target = tmp_path / name
    tmp = temp_name(target, host="node-7", pid=4242, token=TOKEN)
    assert tmp.parent == tmp_path and tmp.name.startswith("." + name + ".~")
    assert parse_temp_name(target, tmp.name) == ("node-7", 4242, TOKEN)
    # not a temp of another target whose name is a prefix, an extension or an alteration of this one
    for other in {name + ".bak", name[:-1] or "z", "b" + name}:
        assert parse_temp_name(tmp_path / other, tmp.name) is None


def test_host_is_sanitized(monkeypatch, tmp_path):
    monkeypatch.setattr(atomic.socket, "gethostname", lambda: "node_1.cluster.example.org")
    target = tmp_path / "t.pt"
    tmp = temp_name(target, pid=7, token=TOKEN)
    assert tmp.name == f".t.pt.~node-1-cluster-example-org.7.{TOKEN}.tmp.pt"
    assert parse_temp_name(target, tmp.name).host == "node-1-cluster-example-org"


@pytest.mark.parametrize("bad", [
    ".out.bin.~host.12.{t}.tmp.bin.x",     # trailing junk
    "out.bin.~host.12.{t}.tmp.bin",        # not hidden
    ".out.bin.~ho.st.12.{t}.tmp.bin",      # host with a dot
    ".out.bin.~host.12a.{t}.tmp.bin",      # pid not a number
    ".out.bin.~host.0.{t}.tmp.bin",        # pid 0 (os.kill(0, ...) means the process group)
    ".out.bin.~host.12.{t}0.tmp.bin",      # token too long
    ".out.bin.~host.12.ABCDEF0123456789.tmp.bin",  # token not lowercase hex
    ".out.bin.~host.12.{t}.tmp",           # suffix missing
    ".out.bin.~.12.{t}.tmp.bin",           # host empty
])
def test_parse_rejects_near_misses(tmp_path, bad):
    assert parse_temp_name(tmp_path / "out.bin", bad.format(t=TOKEN)) is None


# --- failures -----------------------------------------------------------------------------------------------------

def test_exception_leaves_nothing(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_exception_keeps_existing_file(tmp_path):
    target = tmp_path / "out.json"
    write_json(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("garbage")
        raise RuntimeError("boom")
    assert json.loads(target.read_text()) == {"v": 1}
    assert list(tmp_path.iterdir()) == [target]


def test_dir_exception_leaves_nothing_and_keeps_existing(tmp_path):
    target = tmp_path / "folder"
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "a").write_text("half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []

    with atomic_dir(target) as tmp:
        (tmp / "old").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "new").write_text("new")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == [target]
    assert [p.name for p in target.iterdir()] == ["old"]


def test_dir_replaces_existing(tmp_path):
    target = tmp_path / "folder"
    for name in ("one", "two"):
        with atomic_dir(target) as tmp:
            (tmp / name).write_text(name)
    assert [p.name for p in target.iterdir()] == ["two"]


# --- a writer killed mid-write -----------------------------------------------------------------------------------

CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from lmar.core.atomic import atomic_dir, atomic_path
    kind, target = sys.argv[1], sys.argv[2]
    with (atomic_path if kind == "file" else atomic_dir)(target) as tmp:
        if kind == "file":
            tmp.write_bytes(b"partial")
        else:
            (tmp / "part.txt").write_text("partial")
        print("ready", flush=True)
        time.sleep(120)
""")


def kill_writer(kind: str, target: Path) -> int:
    """Start a child that writes ``target``, SIGKILL it mid-write and return its (now dead) PID."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    child = subprocess.Popen([sys.executable, "-c", CHILD, kind, str(target)], stdout=subprocess.PIPE, text=True,
                             cwd=ROOT, env=env)
    try:
        assert child.stdout.readline().strip() == "ready"
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
    return child.pid


def make_temp(path: Path, kind: str) -> Path:
    if kind == "file":
        path.write_bytes(b"someone else's")
    else:
        path.mkdir()
        (path / "x").write_text("someone else's")
    return path


@pytest.mark.parametrize("kind", ["file", "dir"])
def test_killed_writer_leaves_temp_that_next_write_removes(tmp_path, caplog, kind):
    target = tmp_path / ("model.pt" if kind == "file" else "images")
    dead = kill_writer(kind, target)

    assert not target.exists()
    (stale,) = hidden_temps(tmp_path, target)  # exactly one, and it is the child's
    assert stale.name.startswith(".") and parse_temp_name(target, stale.name).pid == dead
    assert stale.is_file() if kind == "file" else stale.is_dir()

    # temps that must survive: a live writer here, a dead PID on another host, another target's temp, near misses
    keep = [
        make_temp(temp_name(target, pid=os.getpid(), token=TOKEN), kind),
        make_temp(temp_name(target, host="another-host", pid=dead, token=TOKEN), kind),
        make_temp(temp_name(tmp_path / "other.pt", pid=dead, token=TOKEN), kind),
        make_temp(temp_name(tmp_path / (target.name + ".bak"), pid=dead, token=TOKEN), kind),
        make_temp(tmp_path / (temp_name(target, pid=dead, token=TOKEN).name + ".orig"), kind),
        make_temp(tmp_path / temp_name(target, pid=dead, token=TOKEN).name[1:], kind),  # not hidden
    ]

    with caplog.at_level(logging.INFO, logger="lmar.core.atomic"):
        if kind == "file":
            with atomic_path(target) as tmp:
                tmp.write_bytes(b"new")
        else:
            with atomic_dir(target) as tmp:
                (tmp / "new.txt").write_text("new")

    if kind == "file":
        assert target.read_bytes() == b"new"
    else:
        assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert not stale.exists()
    assert any(str(stale) in r.getMessage() for r in caplog.records)
    assert sorted(tmp_path.iterdir()) == sorted([target, *keep])


def test_cleanup_only_for_the_same_target(tmp_path):
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    dead = kill_writer("file", a)
    (stale,) = hidden_temps(tmp_path, a)
    with atomic_path(b) as tmp:
        tmp.write_bytes(b"b")
    assert stale.exists()  # writing b.bin does not touch a.bin's leftovers
    write_json(a, {})
    assert not stale.exists()
    assert dead > 0
