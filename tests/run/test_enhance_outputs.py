"""``lmar enhance`` never loses data: it refuses to overwrite its input or write into a folder,
writes the format its output's suffix names (16-bit for a 16-bit input where the format holds
it), names a missing resampler checkpoint, and prints one summary line."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
from PIL import Image

from helpers import entries, write_rgb

from lmar.cli import main

MAGIC = {".png": b"\x89PNG\r\n\x1a\n", ".jpg": b"\xff\xd8\xff", ".jpeg": b"\xff\xd8\xff", ".tif": (b"II*\x00", b"MM\x00*"),
         ".bmp": b"BM"}


def enhance(capsys, inp, out, backbone, *extra) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main([str(a) for a in ["enhance", inp, out, "--backbone", backbone, "--scale", "2", "--device", "cpu", *extra]])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def one_error(rc, err) -> str:
    assert rc == 2, err
    lines = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def image(tmp_path):
    return write_rgb(tmp_path / "in" / "photo.png", 24, 36)


def test_the_input_is_never_overwritten(capsys, image, backbone_ckpt, tmp_path):
    before = image.read_bytes()
    line = one_error(*enhance(capsys, image, image, backbone_ckpt)[::2])
    assert "is the input" in line
    link = tmp_path / "in" / "link.png"
    os.link(image, link)  # the same file under another name
    line = one_error(*enhance(capsys, image, link, backbone_ckpt)[::2])
    assert "is the input" in line
    relative = os.path.relpath(image, os.getcwd())
    assert "is the input" in one_error(*enhance(capsys, image, relative, backbone_ckpt)[::2])
    assert image.read_bytes() == before and link.read_bytes() == before
    assert entries(tmp_path / "in") == ["link.png", "photo.png"]


def test_an_output_folder_is_refused(capsys, image, backbone_ckpt, tmp_path):
    folder = tmp_path / "outdir"
    folder.mkdir()
    line = one_error(*enhance(capsys, image, folder, backbone_ckpt)[::2])
    assert f"output {folder} is a folder" in line
    assert entries(folder) == []


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".jpeg", ".tif", ".bmp"])
def test_the_suffix_names_the_format(capsys, image, backbone_ckpt, tmp_path, suffix):
    out = tmp_path / "out" / f"y{suffix}"
    rc, stdout, err = enhance(capsys, image, out, backbone_ckpt, "--quality", "90")
    assert rc == 0, err
    assert out.read_bytes().startswith(MAGIC[suffix])
    with Image.open(out) as im:
        assert im.size == (36, 24) and im.mode == "RGB"
    assert entries(tmp_path / "out") == [out.name]
    # one summary line: sizes in and out, the target, the time
    lines = stdout.strip().splitlines()
    assert len(lines) == 1 and "24x36 ->" in lines[0] and "via 12x18 (x2, bicubic)" in lines[0], stdout
    assert lines[0].split(", ")[-1].split(" s on ")[0].replace(".", "").isdigit()


def test_jpeg_quality_changes_the_file(capsys, image, backbone_ckpt, tmp_path):
    sizes = []
    for q in ("20", "100"):
        out = tmp_path / f"q{q}.jpg"
        assert enhance(capsys, image, out, backbone_ckpt, "--quality", q)[0] == 0
        sizes.append(out.stat().st_size)
    assert sizes[0] < sizes[1]


def test_an_unknown_suffix_is_refused_before_any_work(capsys, image, backbone_ckpt, tmp_path):
    out = tmp_path / "out" / "y.webpx"
    line = one_error(*enhance(capsys, image, out, backbone_ckpt)[::2])
    assert "y.webpx" in line and ".png" in line
    assert not (tmp_path / "out").exists() or entries(tmp_path / "out") == []


@pytest.mark.parametrize("mode", ["file", "folder"])
def test_an_output_that_cannot_be_written_is_refused_before_the_models_load(capsys, image, backbone_ckpt, tmp_path,
                                                                            monkeypatch, mode):
    """A read-only place (the file system refuses the write: EROFS) is found before the work, not after it."""
    import errno

    import lmar.run.enhance as enhance_module
    from lmar.core import atomic

    def read_only(tmp):
        raise OSError(errno.EROFS, "Read-only file system", str(tmp))

    monkeypatch.setattr(atomic, "_make_file", read_only)
    monkeypatch.setattr(enhance_module, "load_models", lambda *a, **k: pytest.fail("the models were loaded"))
    inp, out = (image, tmp_path / "out" / "y.png") if mode == "file" else (image.parent, tmp_path / "out")
    line = one_error(*enhance(capsys, inp, out, backbone_ckpt)[::2])
    assert f"cannot write {out}: Read-only file system" in line, line
    assert entries(tmp_path / "out") == []


def test_a_16bit_input_gives_a_16bit_png_and_tiff(capsys, backbone_ckpt, tmp_path):
    rng = np.random.default_rng(0)
    src = tmp_path / "deep.png"
    cv2.imwrite(str(src), rng.integers(0, 65536, (24, 36, 3), dtype=np.uint16))
    for suffix in (".png", ".tif"):
        out = tmp_path / f"deep_out{suffix}"
        rc, stdout, err = enhance(capsys, src, out, backbone_ckpt)
        assert rc == 0, err
        back = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
        assert back.dtype == np.uint16 and back.shape == (24, 36, 3)
        assert "(16-bit)" in stdout
    # a JPEG holds 8 bits: the user asked for one, so it is written in 8 bits
    rc, stdout, err = enhance(capsys, src, tmp_path / "deep.jpg", backbone_ckpt)
    assert rc == 0 and "(8-bit)" in stdout, err


def test_a_resampler_checkpoint_that_does_not_exist_is_named(capsys, image, backbone_ckpt, tmp_path):
    missing = tmp_path / "models" / "resampler_lmar.pt"
    line = one_error(*enhance(capsys, image, tmp_path / "y.png", backbone_ckpt, "--resampler", missing)[::2])
    assert f"resampler checkpoint not found: {missing}" in line
    line = one_error(*enhance(capsys, image, tmp_path / "y.png", backbone_ckpt, "--resampler", "bicubix")[::2])
    assert "unknown resampler 'bicubix'" in line
    assert not (tmp_path / "y.png").exists()
