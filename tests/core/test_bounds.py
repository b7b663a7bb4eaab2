"""Bounds from one place (issue 21, item 5): crafted inputs that claim huge sizes are refused from
their headers or specs, by one LmarError, before anything is decoded, allocated or read.

- images: width x height x samples per pixel x bytes per sample from the header, against
  LMAR_MAX_IMAGE_BYTES (the pixel limit LMAR_MAX_IMAGE_PIXELS still applies);
- parts: the memory a backbone or resampler needs, estimated on PyTorch's meta device at the planned
  sizes (lmar.run.job_resources), against LMAR_MAX_PART_BYTES, at plan time and from a checkpoint's spec;
- released and pretrained weights: regular files under a size limit only, hashed as they are read.

Fixtures are written here by hand (struct/zlib), expected numbers computed by hand.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import threading
import zlib

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from lmar.core.errors import LmarError
from lmar.data import images
from lmar.run import job_resources as jr
from lmar.run.config import check_parts

GIB = 2**30


# ---------------------------------------------------------------- images


def tiff_header_only(path, width: int, height: int, samples: int, bits: int):
    """A TIFF that is one IFD and no pixel data: its header claims ``samples`` samples per pixel."""
    entries = [(256, width), (257, height), (258, bits), (259, 1), (262, 1), (273, 0), (277, samples),
               (278, height), (279, 0), (284, 1)]
    ifd = struct.pack("<H", len(entries))
    for tag, value in entries:  # every value as a LONG (type 4), count 1
        ifd += struct.pack("<HHII", tag, 4, 1, value)
    path.write_bytes(b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0))
    return path


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(path, width: int, height: int, bits: int, colour_type: int):
    """A PNG whose IHDR claims ``width`` x ``height``, with an empty IDAT (no pixels behind it)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bits, colour_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b""))
                     + chunk(b"IEND", b""))
    return path


@pytest.fixture
def no_decoder(monkeypatch):
    """Every decoder the image reader can reach is replaced by one that records the call (the list
    returned) and fails."""
    calls = []

    def ran(*args, **kwargs):
        calls.append(args)
        raise AssertionError("a decoder ran on a file refused by its header")

    for name in ("_decode_pil", "_decode_cv2", "_tiff_pixels"):
        monkeypatch.setattr(images, name, ran)
    monkeypatch.setattr(tifffile.TiffPage, "asarray", ran)
    monkeypatch.setattr(Image.Image, "load", ran)
    monkeypatch.setattr(images.cv2, "imdecode", ran)
    return calls


@pytest.fixture
def default_limits(monkeypatch):
    monkeypatch.delenv("LMAR_MAX_IMAGE_PIXELS", raising=False)
    monkeypatch.delenv("LMAR_MAX_IMAGE_BYTES", raising=False)


@pytest.mark.parametrize("read", [images.read_image, images.image_size])
def test_a_tiff_claiming_8000_samples_per_pixel_is_refused_by_its_header(tmp_path, no_decoder, default_limits, read):
    bomb = tiff_header_only(tmp_path / "bomb.tif", 1000, 1000, 8000, 16)
    assert bomb.stat().st_size < 300
    assert 1000 * 1000 <= 2**28  # within the pixel limit: only the bytes tell
    with pytest.raises(LmarError) as err:
        read(bomb)
    text = str(err.value)
    assert str(bomb) in text and "1000x1000" in text and "8000 samples" in text and "2 bytes" in text
    assert str(1000 * 1000 * 8000 * 2) in text  # 16 000 000 000 bytes, by hand
    assert str(2**28 * 3 * 2) in text and "LMAR_MAX_IMAGE_BYTES" in text  # the default: 16-bit RGB at the pixel limit
    assert no_decoder == []


def test_a_png_claiming_more_bytes_than_the_limit_is_refused_by_its_header(tmp_path, no_decoder, default_limits):
    # 15000 x 15000 = 225 000 000 pixels, within 2**28; 16-bit RGBA: 1 800 000 000 bytes, over 1.5 GiB
    big = png_header_only(tmp_path / "big.png", 15000, 15000, 16, 6)
    with pytest.raises(LmarError) as err:
        images.read_image(big)
    text = str(err.value)
    assert str(big) in text and "15000x15000" in text and "4 samples" in text and "2 bytes" in text
    assert "1800000000 bytes" in text and "LMAR_MAX_IMAGE_BYTES" in text
    assert no_decoder == []


def test_a_png_over_the_pixel_limit_still_names_the_pixel_variable(tmp_path, no_decoder, default_limits):
    huge = png_header_only(tmp_path / "huge.png", 100000, 100000, 8, 2)
    with pytest.raises(LmarError, match=r"10000000000 pixels.*LMAR_MAX_IMAGE_PIXELS"):
        images.read_image(huge)
    assert no_decoder == []


def test_the_byte_limit_counts_16_bit_samples_at_two_bytes(tmp_path, monkeypatch, default_limits):
    """A real 16-bit RGB PNG of 20 x 20: 20 * 20 * 3 * 2 = 2400 bytes; a 16-bit TIFF of 10 x 10 x 3: 600."""
    png = tmp_path / "rgb16.png"
    arr = np.arange(20 * 20 * 3, dtype=np.uint16).reshape(20, 20, 3) * 50
    import cv2

    assert cv2.imwrite(str(png), arr[..., ::-1])
    tif = tmp_path / "rgb16.tif"
    tifffile.imwrite(tif, arr[:10, :10], photometric="rgb")
    for path, nbytes in ((png, 2400), (tif, 600)):
        monkeypatch.setenv("LMAR_MAX_IMAGE_BYTES", str(nbytes - 1))
        with pytest.raises(LmarError, match=rf"{nbytes} bytes decoded, over the limit of {nbytes - 1} bytes"):
            images.read_image(path)
        monkeypatch.setenv("LMAR_MAX_IMAGE_BYTES", str(nbytes))
        assert images.read_image(path).shape[1:] == (arr.shape[0] if path == png else 10,) * 2


def test_the_default_byte_limit_follows_the_pixel_variable(tmp_path, monkeypatch, no_decoder, default_limits):
    """With LMAR_MAX_IMAGE_PIXELS raised, the default byte limit is 6 bytes (16-bit RGB) per allowed pixel."""
    monkeypatch.setenv("LMAR_MAX_IMAGE_PIXELS", str(10**6))
    bomb = tiff_header_only(tmp_path / "bomb.tif", 1000, 1000, 8000, 16)
    with pytest.raises(LmarError, match=rf"over the limit of {6 * 10**6} bytes"):
        images.read_image(bomb)
    assert no_decoder == []


# ---------------------------------------------------------------- parts


def small_config() -> dict:
    return {
        "datasets": {"mini": {"type": "mini", "params": {"size": [36, 54], "test": ["astronaut"], "views": 1}}},
        "backbones": {"unet": {"type": "lmar_unet", "params": {"model_channel": 4},
                               "train": {"epochs": 1, "batch_size": 1, "size": [32, 48]}}},
        "resamplers": {"bicubic": {"type": "bicubic"},
                       "lmar": {"type": "lmar", "params": {"hidden": 16, "depth": 2},
                                "train": {"crop": 32, "target_min": 8, "target_max": 24, "target_step": 8}},
                       "full_resolution": {"type": "full_resolution"}},
        "evaluation": {"scales": [2]},
    }


@pytest.fixture
def default_part_limit(monkeypatch):
    monkeypatch.delenv("LMAR_MAX_PART_BYTES", raising=False)


def lmar_mlp_bytes(hidden: int, depth: int) -> int:
    """LMAR's MLP by hand: Linear(7, h) with its bias, depth - 1 Linear(h, h) and Linear(h, 81) without, float32."""
    return 4 * ((7 * hidden + hidden) + (depth - 1) * hidden * hidden + hidden * 81)


def test_the_small_config_passes(default_part_limit):
    check_parts(small_config())


def test_a_huge_hidden_width_is_refused_before_the_resampler_is_built(monkeypatch, default_part_limit):
    import lmar.run.config

    built = []
    monkeypatch.setattr(lmar.run.config, "_construct", lambda *a: built.append(a))  # the real build, for real
    cfg = small_config()
    cfg["resamplers"]["lmar"]["params"]["hidden"] = 10**9
    with pytest.raises(LmarError) as err:
        check_parts(cfg)
    text = str(err.value)
    assert "config key resamplers.lmar" in text and "LMAR_MAX_PART_BYTES" in text and f"{64 * GIB} bytes" in text
    assert f"{lmar_mlp_bytes(10**9, 2) / GIB:.3g} GiB" in text  # the estimate: 4 bytes x (10**18 + ...) params
    assert not any(section == "resamplers" and cls.__name__ == "LMAR" for section, cls, *_ in built)


def test_a_huge_backbone_width_is_refused_naming_its_key(default_part_limit):
    cfg = small_config()
    cfg["backbones"]["unet"]["params"]["model_channel"] = 10**6
    with pytest.raises(LmarError, match=r"config key backbones\.unet: the backbone needs about .* over the limit of "
                                        r"64 GiB .*LMAR_MAX_PART_BYTES"):
        check_parts(cfg)


def test_the_estimate_is_the_real_parameter_bytes_and_the_limit_is_exact(monkeypatch):
    spec = {"type": "lmar", "params": {"hidden": 16, "depth": 3}}
    from lmar.core.registry import RESAMPLERS

    real = RESAMPLERS.build(spec, "test")  # on the CPU, for real
    nbytes = sum(t.numel() * t.element_size() for t in (*real.parameters(), *real.buffers()))
    assert nbytes >= lmar_mlp_bytes(16, 3)
    monkeypatch.setenv("LMAR_MAX_PART_BYTES", str(nbytes))
    assert jr.check_part_memory("resampler", spec, "test").params == nbytes
    monkeypatch.setenv("LMAR_MAX_PART_BYTES", str(nbytes - 1))
    with pytest.raises(LmarError, match=rf"test: the resampler needs about .* over the limit .*\({nbytes - 1} bytes\)"):
        jr.check_part_memory("resampler", spec, "test")


def test_a_huge_evaluation_size_is_refused_at_plan_time(default_part_limit):
    cfg = small_config()
    cfg["evaluation"] = {"scales": [2], "sizes": [{"name": "big", "size": [100000, 100000]}]}
    with pytest.raises(LmarError) as err:
        check_parts(cfg)
    text = str(err.value)
    assert "config key backbones.unet" in text and "config key evaluation.sizes[0]" in text
    assert "1x3x100000x100000" in text and "over the limit of 64 GiB" in text and "LMAR_MAX_PART_BYTES" in text


def test_the_activation_estimate_grows_with_the_planned_size(monkeypatch, default_part_limit):
    """A 1x3x1000x1000 input alone is 12 000 000 bytes; its forward keeps at least its output as large."""
    spec = {"type": "lmar_unet", "params": {"model_channel": 4}}
    small = jr.part_memory("backbone", spec, "b", batch_hw=(1, 100, 100))
    large = jr.part_memory("backbone", spec, "b", batch_hw=(1, 1000, 1000))
    assert large.how == "meta forward" and large.activations >= 2 * 3 * 1000 * 1000 * 4
    assert large.activations > 50 * small.activations
    monkeypatch.setenv("LMAR_MAX_PART_BYTES", str(large.total - 1))
    with pytest.raises(LmarError, match=r"b at test: the backbone needs"):
        jr.check_part_memory("backbone", spec, "b", batch_hw=(1, 1000, 1000), why="at test")


def test_the_forward_counts_the_peak_of_live_tensors_not_their_sum():
    """By hand: a (4000 bytes), b = a + 1 (8000 live), a freed (4000), c = b * 2 (8000), a view of c (no
    new storage), b freed, d = c.sum() (4 bytes more): the peak is 8000 bytes, the sum of all 12 004."""
    x = torch.empty(1000, device="meta")
    mode = jr._PeakBytes(stop_at=10**9, seconds=60)
    with mode:
        a = x + 0
        b = a + 1
        del a
        c = b * 2
        view = c.view(10, 100)
        del b
        d = c.sum()
    assert mode.peak == 8000 and mode.now == 4000 + 4  # c (with its view) and d still alive
    del c, view, d
    assert mode.now == 0


def test_a_huge_training_size_is_refused_at_plan_time(default_part_limit):
    cfg = small_config()
    cfg["backbones"]["unet"]["train"]["size"] = [30000, 30000]
    with pytest.raises(LmarError, match=r"config key backbones\.unet training \(config key backbones\.unet\.train"):
        check_parts(cfg)


def test_a_checkpoint_spec_over_the_limit_is_refused_before_it_is_built(tmp_path, default_part_limit):
    from lmar.run.checkpoint import build_resampler, load_backbone

    path = tmp_path / "b.pt"
    torch.save({"kind": "backbone", "spec": {"type": "lmar_unet", "params": {"model_channel": 10**6}},
                "state_dict": {}, "meta": {"spec_version": 2}}, path)
    with pytest.raises(LmarError, match=rf"backbone checkpoint {path}: spec: the backbone needs about .*"
                                        r"over the limit of 64 GiB .*LMAR_MAX_PART_BYTES"):
        load_backbone(path, torch.device("cpu"))
    with pytest.raises(LmarError, match=r"resampler checkpoint r\.pt: spec: the resampler needs about .*"
                                        r"over the limit"):
        build_resampler({"type": "lmar", "params": {"hidden": 10**9}}, tmp_path / "r.pt", torch.device("cpu"),
                        "resampler checkpoint r.pt: spec", allow=())


# ---------------------------------------------------------------- released and pretrained weights


def finishes(fn, seconds: float = 20.0):
    """(finished in time, the exception it raised or None); the call runs in a daemon thread."""
    out: dict = {}

    def run():
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            out["exc"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    return not t.is_alive(), out.get("exc")


def release(fifo) -> None:
    """A reader still blocked on ``fifo`` (the bound broken) gets end-of-file and ends."""
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:  # no reader: nothing to release
        pass


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "fifo.bin"
    os.mkfifo(path)
    yield path
    release(path)


def sparse(path, nbytes: int = 5 * GIB):
    with open(path, "wb") as f:
        f.truncate(nbytes)  # no disk used
    return path


def released_refusal(path):
    from lmar.parts.lmar.released import read_released

    done, exc = finishes(lambda: read_released(path, "backbone"))
    assert done, f"reading {path} did not finish"
    assert isinstance(exc, LmarError), exc
    return str(exc)


def test_a_released_fifo_is_refused_without_waiting(fifo):
    assert f"{fifo} is a FIFO" in released_refusal(fifo)


def test_dev_zero_as_a_released_file_is_refused():
    assert "/dev/zero is a device" in released_refusal("/dev/zero")


def test_a_5_gib_released_file_is_refused_before_it_is_read(tmp_path):
    big = sparse(tmp_path / "base_model.bin")
    text = released_refusal(big)
    assert f"{5 * GIB} bytes" in text and f"{256 * 2**20} bytes at most" in text


def test_a_directory_as_a_released_file_is_refused(tmp_path):
    assert "is a directory" in released_refusal(tmp_path)


def test_a_released_file_is_hashed_and_the_same_bytes_loaded(tmp_path, monkeypatch):
    import lmar.parts.lmar.released

    buf = io.BytesIO()
    torch.save({"state_dict": {"w": torch.arange(5.0)}}, buf)
    path = tmp_path / "base_model.bin"
    path.write_bytes(buf.getvalue())
    monkeypatch.setitem(lmar.parts.lmar.released.FILES, "backbone", ("base_model.bin", hashlib.sha256(buf.getvalue()).hexdigest()))
    assert torch.equal(lmar.parts.lmar.released.read_released(path, "backbone")["state_dict"]["w"], torch.arange(5.0))
    monkeypatch.setitem(lmar.parts.lmar.released.FILES, "backbone", ("base_model.bin", "0" * 64))
    with pytest.raises(LmarError, match="is not the authors' base_model.bin"):
        lmar.parts.lmar.released.read_released(path, "backbone")


def weights_refusal(home):
    from lmar.parts.weights import load_state_dict

    done, exc = finishes(lambda: load_state_dict("lpips_alex", home))
    assert done, "loading the weights did not finish"
    assert isinstance(exc, LmarError), exc
    return str(exc)


def test_weights_that_are_a_fifo_dev_zero_or_5_gib_are_refused(tmp_path):
    from lmar.parts.weights import weight_path

    target = weight_path("lpips_alex", tmp_path)
    target.parent.mkdir(parents=True)
    os.mkfifo(target)
    try:
        assert "is a FIFO" in weights_refusal(tmp_path)
    finally:
        release(target)
    target.unlink()
    target.symlink_to("/dev/zero")
    assert "/dev/zero" not in str(target) and "is a device" in weights_refusal(tmp_path)
    target.unlink()
    sparse(target)
    text = weights_refusal(tmp_path)
    assert f"{5 * GIB} bytes" in text and f"{2 * GIB} bytes at most" in text


def test_weights_are_hashed_as_they_are_read_and_those_bytes_loaded(tmp_path, monkeypatch):
    import lmar.core.hashing
    import lmar.parts.weights

    buf = io.BytesIO()
    torch.save({"w": torch.ones(3)}, buf)
    target = lmar.parts.weights.weight_path("lpips_alex", tmp_path)
    target.parent.mkdir(parents=True)
    target.write_bytes(buf.getvalue())
    monkeypatch.setitem(lmar.parts.weights.EXPECTED_SHA256, "lpips_alex", hashlib.sha256(buf.getvalue()).hexdigest())
    assert torch.equal(lmar.parts.weights.load_state_dict("lpips_alex", tmp_path)["w"], torch.ones(3))
    data, digest = lmar.core.hashing.read_file_checked(target, len(buf.getvalue()), "weights")
    assert data == buf.getvalue() and digest == hashlib.sha256(buf.getvalue()).hexdigest()
    with pytest.raises(LmarError, match=rf"is {len(data)} bytes, more than any real one \({len(data) - 1} bytes"):
        lmar.core.hashing.read_file_checked(target, len(data) - 1, "weights")


def test_a_file_that_grows_past_the_limit_while_it_is_read_is_refused(tmp_path, monkeypatch):
    """As if the file grew after the size check: the read itself stops at the limit."""
    import lmar.core.hashing

    path = tmp_path / "w.pth"
    path.write_bytes(b"x" * 100)
    monkeypatch.setattr(lmar.core.hashing, "_check_regular", lambda *args: None)
    with pytest.raises(LmarError, match=rf"weights {path} grew past 50 bytes while it was read"):
        lmar.core.hashing.read_file_checked(path, 50, "weights")
