"""Where an output cannot be written, one error names it before anything is written: a file where
its folder should be, a name longer than a file name may be. A long name that fits still gets a
temp of its own (shortened with a hash), which the next write finds and removes when stale."""

from __future__ import annotations

import os

import pytest

from lmar.cli import main
from lmar.core import atomic
from lmar.core.atomic import atomic_dir, atomic_path, parse_temp_name, remove_stale_temps, temp_name, write_json
from lmar.core.errors import LmarError


def test_a_file_where_the_folder_should_be(tmp_path):
    (tmp_path / "blocker").write_text("a file")
    for target in (tmp_path / "blocker" / "out.json", tmp_path / "blocker" / "deeper" / "out.json"):
        with pytest.raises(LmarError, match=f"cannot write {target}: {tmp_path / 'blocker'} is a file, not a folder"):
            write_json(target, {"a": 1})
        with pytest.raises(LmarError, match="is a file, not a folder"):
            with atomic_dir(target):
                pass
    assert (tmp_path / "blocker").read_text() == "a file" and sorted(os.listdir(tmp_path)) == ["blocker"]


def test_a_name_longer_than_a_file_name_may_be(tmp_path):
    target = tmp_path / ("n" * 252 + ".png")
    with pytest.raises(LmarError, match="its name is 256 bytes long, more than the 255"):
        with atomic_path(target):
            pass
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("length", [200, 240, 251])
def test_a_long_name_that_fits_is_written_and_its_stale_temp_found(tmp_path, length, monkeypatch):
    target = tmp_path / ("x" * (length - 4) + ".png")
    assert len(target.name) == length
    with atomic_path(target) as tmp:
        assert len(tmp.name.encode()) <= 255 and tmp.suffix == ".png"
        tmp.write_bytes(b"data")
    assert target.read_bytes() == b"data"
    # a writer that died left its temp; the next write of the same target removes it, not another's
    stale = temp_name(target, pid=999_999, token="0" * 16)
    other = temp_name(tmp_path / ("x" * (length - 5) + "y.png"), pid=999_999, token="0" * 16)
    assert stale != other and parse_temp_name(target, stale.name) is not None
    assert parse_temp_name(target, other.name) is None
    stale.write_bytes(b"")
    other.write_bytes(b"")
    monkeypatch.setattr(atomic, "_running", lambda pid: False)
    assert remove_stale_temps(target) == [stale]
    assert other.exists()


def test_the_cli_says_it_in_one_line(tmp_path, capsys, lmar_eval):
    _, csv, _ = lmar_eval
    (tmp_path / "blocker").write_text("")
    rc = main(["table", str(csv), "--out-md", str(tmp_path / "blocker" / "t.md")])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert len([ln for ln in err.splitlines() if ln.startswith("error: ")]) == 1


@pytest.mark.parametrize("kind", ["link", "file"])
def test_a_folder_output_that_is_a_link_or_a_file_is_refused_before_the_work(tmp_path, kind):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.png").write_bytes(b"x")
    target = tmp_path / "images"
    if kind == "link":
        target.symlink_to(elsewhere, target_is_directory=True)
    else:
        target.write_text("a file")
    ran = []
    with pytest.raises(LmarError, match=f"cannot write the folder {target}: it is a"):
        with atomic_dir(target):
            ran.append(1)
    assert ran == [] and (elsewhere / "keep.png").exists()
    assert target.is_symlink() if kind == "link" else target.read_text() == "a file"


def test_evaluate_with_a_linked_images_folder_writes_nothing(tmp_path, capsys, mini_data, backbone_ckpt):
    import json

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "img").symlink_to(elsewhere, target_is_directory=True)
    labels = json.dumps({"dataset": "mini", "backbone": "unet", "resampler": "bicubic", "config_hash": "x"})
    rc = main(["evaluate", "--data", str(mini_data), "--backbone", str(backbone_ckpt), "--resampler-spec",
               '{"type": "bicubic"}', "--evaluation", '{"scales": [2]}', "--labels", labels,
               "--out", str(tmp_path / "out" / "m.csv"), "--images", str(tmp_path / "out" / "img"), "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err and "it is a symbolic link" in err, err
    assert not (tmp_path / "out" / "m.csv").exists() and list(elsewhere.iterdir()) == []
