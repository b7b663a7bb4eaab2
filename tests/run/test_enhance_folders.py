"""``lmar enhance`` for real use: a folder in, a folder out (each output the single-image one, bit
for bit; other files skipped and counted; a failing image named while the rest are written), a
progress bar, and a resampler checkpoint refused with a backbone it was not trained against."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import entries, write_rgb

from lmar.cli import main
from lmar.run import checkpoint


def enhance(capsys, inp, out, backbone, *extra) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main([str(a) for a in ["enhance", inp, out, "--backbone", backbone, "--scale", "2", "--device", "cpu",
                                *extra]])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def lines_starting(text: str, prefix: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith(prefix)]


def write_jpeg(path, h, w, seed):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path, quality=90)
    return path


@pytest.fixture
def folder(tmp_path):
    """Three images of different sizes and formats, a text file and a sub-folder."""
    d = tmp_path / "in"
    write_rgb(d / "b_photo.png", 24, 36, seed=1)
    write_rgb(d / "a_photo.png", 30, 40, seed=2)
    write_jpeg(d / "c_photo.jpg", 26, 34, seed=3)
    (d / "notes.txt").write_text("not an image")
    (d / "sub").mkdir()
    write_rgb(d / "sub" / "nested.png", 24, 24)  # not in the folder itself: not enhanced
    return d


@pytest.fixture(scope="module")
def other_backbone(backbone_ckpt, tmp_path_factory):
    """The session's backbone with one weight changed: the same spec, another file (another sha256)."""
    ckpt = torch.load(backbone_ckpt, weights_only=True)
    key = next(iter(ckpt["state_dict"]))
    ckpt["state_dict"][key] = ckpt["state_dict"][key] + 0.01
    out = tmp_path_factory.mktemp("other") / "other_unet.pt"
    torch.save(ckpt, out)
    return out


@pytest.fixture(scope="module")
def unrecorded_lmar(lmar_ckpt, tmp_path_factory):
    """The session's LMAR checkpoint as an older one was written: no record of its backbone."""
    ckpt = torch.load(lmar_ckpt, weights_only=True)
    ckpt["meta"] = {k: v for k, v in ckpt["meta"].items() if not k.startswith("backbone_")}
    out = tmp_path_factory.mktemp("old") / "old_lmar.pt"
    torch.save(ckpt, out)
    return out


def test_the_checkpoint_records_its_backbone(backbone_ckpt, lmar_ckpt):
    meta = torch.load(lmar_ckpt, weights_only=True)["meta"]
    assert meta["backbone_sha256"] == hashlib.sha256(backbone_ckpt.read_bytes()).hexdigest()
    assert meta["backbone_spec"] == {"type": "unet_lite", "params": {"width": 8}}
    assert meta["backbone_file"] == backbone_ckpt.name


@pytest.mark.parametrize("resampler", ["lmar", "bicubic"])
def test_folder_outputs_are_the_single_image_outputs(capsys, folder, backbone_ckpt, lmar_ckpt, tmp_path,
                                                     resampler, monkeypatch):
    chosen = str(lmar_ckpt) if resampler == "lmar" else resampler
    loads = []
    real = checkpoint.load_backbone
    monkeypatch.setattr(checkpoint, "load_backbone", lambda *a, **k: loads.append(a) or real(*a, **k))
    out = tmp_path / "out" / "deeper"
    rc, stdout, err = enhance(capsys, folder, out, backbone_ckpt, "--resampler", chosen)
    assert rc == 0, err
    assert len(loads) == 1  # the models are loaded once for the folder
    names = ["a_photo.png", "b_photo.png", "c_photo.jpg"]
    assert entries(out) == names
    assert not lines_starting(err, "warning:") and not lines_starting(err, "error:"), err
    # one line per image, in name order, then the summary
    done = [ln for ln in stdout.splitlines() if " -> " in ln]
    assert [ln.split(" ")[0] for ln in done] == [str(folder / n) for n in names]
    assert lines_starting(stdout, "enhanced ") == [f"enhanced 3 of 3 image(s) from {folder} into {out}"]
    for name in names:
        single = tmp_path / "single" / name
        rc, _, err = enhance(capsys, folder / name, single, backbone_ckpt, "--resampler", chosen)
        assert rc == 0, err
        assert (out / name).read_bytes() == single.read_bytes(), name


def test_other_files_are_skipped_and_counted_in_one_line(capsys, folder, backbone_ckpt, tmp_path):
    rc, stdout, err = enhance(capsys, folder, tmp_path / "out", backbone_ckpt)
    assert rc == 0, err
    skipped = lines_starting(stdout, "skipped ")
    assert len(skipped) == 1, stdout
    assert skipped[0].startswith(f"skipped 2 file(s) in {folder} that are not images")
    assert skipped[0].endswith(": notes.txt, sub")
    assert entries(tmp_path / "out") == ["a_photo.png", "b_photo.png", "c_photo.jpg"]


def test_a_failing_image_is_named_and_the_others_are_written(capsys, folder, backbone_ckpt, tmp_path):
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    write_rgb(folder / "d_tiny.png", 12, 12)  # 6x6 at x2: below unet_lite's smallest input, 8x8
    out = tmp_path / "out"
    rc, stdout, err = enhance(capsys, folder, out, backbone_ckpt)
    assert rc == 1, err
    errors = lines_starting(err, "error: ")
    assert len(errors) == 2 and "Traceback" not in err, err
    assert errors[0].startswith("error: broken.png failed: ") and str(folder / "broken.png") in errors[0]
    assert errors[1].startswith("error: d_tiny.png failed: ") and "smallest input" in errors[1]
    assert entries(out) == ["a_photo.png", "b_photo.png", "c_photo.jpg"]
    assert lines_starting(stdout, "enhanced ") == [
        f"enhanced 3 of 5 image(s) from {folder} into {out}; 2 failed: broken.png, d_tiny.png"]


def test_suffix_sets_every_output_format(capsys, folder, backbone_ckpt, tmp_path):
    out = tmp_path / "out"
    rc, _, err = enhance(capsys, folder, out, backbone_ckpt, "--suffix", ".tif")
    assert rc == 0, err
    assert entries(out) == ["a_photo.tif", "b_photo.tif", "c_photo.tif"]
    for name in ("a_photo", "c_photo"):
        assert (out / f"{name}.tif").read_bytes()[:4] in (b"II*\x00", b"MM\x00*")
        single = tmp_path / "single" / f"{name}.tif"
        src = next(folder.glob(f"{name}.*"))
        assert enhance(capsys, src, single, backbone_ckpt)[0] == 0
        assert (out / f"{name}.tif").read_bytes() == single.read_bytes()


def test_two_images_with_one_output_name_are_refused(capsys, folder, backbone_ckpt, tmp_path):
    write_rgb(folder / "a_photo.bmp", 24, 24)
    rc, _, err = enhance(capsys, folder, tmp_path / "out", backbone_ckpt, "--suffix", "png")
    assert rc == 2 and len(lines_starting(err, "error: ")) == 1, err
    assert "a_photo.bmp and a_photo.png" in err and "--suffix" in err
    assert not (tmp_path / "out").exists()


def test_the_output_folder_is_never_the_input_folder(capsys, folder, backbone_ckpt):
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    rc, _, err = enhance(capsys, folder, folder, backbone_ckpt)
    assert rc == 2 and "is the input folder" in err, err
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before


def test_progress_is_shown(capsys, folder, backbone_ckpt, lmar_ckpt, tmp_path):
    rc, _, err = enhance(capsys, folder / "a_photo.png", tmp_path / "y.png", backbone_ckpt, "--resampler", lmar_ckpt)
    assert rc == 0, err
    # read, resample, enhance, upsample, write: the bar names each stage as it starts
    assert "5/5 stages" in err and all(s in err for s in ("read", "resample", "enhance", "upsample", "write")), err
    rc, _, err = enhance(capsys, folder, tmp_path / "out", backbone_ckpt)
    assert rc == 0 and "3/3" in err, err


@pytest.mark.parametrize("mode", ["file", "folder"])
def test_another_backbone_is_refused(capsys, folder, other_backbone, backbone_ckpt, lmar_ckpt, tmp_path, mode):
    inp = folder if mode == "folder" else folder / "a_photo.png"
    out = tmp_path / "out" / ("result" if mode == "folder" else "y.png")
    rc, _, err = enhance(capsys, inp, out, other_backbone, "--resampler", lmar_ckpt)
    assert rc == 2, err
    errors = lines_starting(err, "error: ")
    assert len(errors) == 1 and "Traceback" not in err, err
    line = errors[0]
    assert str(lmar_ckpt) in line and str(other_backbone) in line  # both files named
    assert 'unet_lite {"width": 8}' in line and backbone_ckpt.name in line  # what it was trained against
    assert "--force" in line
    assert not (tmp_path / "out").exists() or entries(tmp_path / "out") == []


def test_force_runs_it_with_one_warning(capsys, folder, other_backbone, lmar_ckpt, tmp_path):
    out = tmp_path / "out"
    rc, _, err = enhance(capsys, folder, out, other_backbone, "--resampler", lmar_ckpt, "--force")
    assert rc == 0, err
    warnings = lines_starting(err, "warning: ")
    assert len(warnings) == 1 and "trained against another backbone" in warnings[0], err
    assert entries(out) == ["a_photo.png", "b_photo.png", "c_photo.jpg"]


def test_a_checkpoint_without_the_record_is_warned_about(capsys, folder, backbone_ckpt, unrecorded_lmar, tmp_path):
    out = tmp_path / "out"
    rc, _, err = enhance(capsys, folder, out, backbone_ckpt, "--resampler", unrecorded_lmar)
    assert rc == 0, err
    warnings = lines_starting(err, "warning: ")
    assert len(warnings) == 1, err
    assert str(unrecorded_lmar) in warnings[0]
    assert "does not record the backbone it was trained against; cannot check" in warnings[0]
    assert entries(out) == ["a_photo.png", "b_photo.png", "c_photo.jpg"]
