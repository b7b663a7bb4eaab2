"""lmar.data.images on crafted files: bit depth, EXIF orientation, alpha, size limits, writing.

Fixtures are written with Pillow, OpenCV, tifffile or by hand (struct/zlib), and expected values come
from hand-built arrays or from PIL.ImageOps.exif_transpose, never from the code under test.
"""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest
import tifffile
import torch
from PIL import Image, ImageFile, ImageOps

from lmar.core.errors import LmarError
from lmar.data.image_write import OUTPUT_SUFFIXES, check_output_suffix, quantize, to_uint8, write_image, write_png
from lmar.data.images import image_size, read_image, read_image_bits

ENV = "LMAR_MAX_IMAGE_PIXELS"
# values that are not multiples of 257, so keeping only the high byte would show
V16 = np.array(
    [
        [[0, 257, 32768], [65535, 1, 300], [12345, 54321, 2], [40000, 65534, 255]],
        [[256, 511, 1000], [30001, 7, 65280], [9999, 123, 45678], [60000, 3, 32767]],
    ],
    dtype=np.uint16,
)  # (H=2, W=4, 3)


def entries(folder):
    return sorted(p.name for p in folder.iterdir())


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png16_by_hand(arr: np.ndarray, colour_type: int, before_idat: bytes = b"", after_idat: bytes = b"") -> bytes:
    """A 16-bit PNG: (H, W) grey (type 0) or (H, W, C) samples, big-endian rows with filter 0."""
    h, w = arr.shape[:2]
    rows = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + before_idat
        + chunk(b"IDAT", zlib.compress(rows))
        + after_idat
        + chunk(b"IEND", b"")
    )


def exif_bytes(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def exif_chunk(orientation: int) -> bytes:
    data = exif_bytes(orientation)
    return chunk(b"eXIf", data[6:] if data.startswith(b"Exif\x00\x00") else data)


def expected16(arr: np.ndarray) -> torch.Tensor:
    """(H, W[, 3]) uint16 -> (3, H, W) float32 value/65535, computed in float64."""
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    return torch.from_numpy((arr.astype(np.float64) / 65535).astype(np.float32)).permute(2, 0, 1)


def expected8(arr: np.ndarray) -> torch.Tensor:
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    return torch.from_numpy((arr.astype(np.float64) / 255).astype(np.float32)).permute(2, 0, 1)


def assert_close(x, y):
    torch.testing.assert_close(x, y, rtol=0, atol=1e-7)


def gradient(h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x * 7 + y * 13) % 256], 2).astype(np.uint8)


# ---------------------------------------------------------------- bit depth


def test_16bit_grey_png(tmp_path):
    path = tmp_path / "grey16.png"
    grey = V16[..., 0]
    assert cv2.imwrite(str(path), grey)
    with Image.open(path) as im:
        assert im.mode.startswith("I")  # Pillow sees 16-bit grey
    x, bits = read_image_bits(path)
    assert bits == 16 and x.dtype == torch.float32 and x.shape == (3, 2, 4)
    assert_close(x, expected16(grey))
    assert_close(read_image(path), expected16(grey))
    assert image_size(path) == (2, 4)


def test_16bit_rgb_png(tmp_path):
    path = tmp_path / "rgb16.png"
    assert cv2.imwrite(str(path), V16[..., ::-1])  # OpenCV takes BGR
    with Image.open(path) as im:
        assert im.mode == "RGB"  # what Pillow alone would truncate to 8 bits
    x, bits = read_image_bits(path)
    assert bits == 16
    assert_close(x, expected16(V16))


def test_16bit_png_written_by_hand_at_an_odd_path(tmp_path):
    path = tmp_path / "ünï cödé #1 [x].png"
    path.write_bytes(png16_by_hand(V16, colour_type=2))
    x, bits = read_image_bits(path)
    assert bits == 16
    assert_close(x, expected16(V16))


@pytest.mark.parametrize("planar", ["contig", "separate"])
def test_16bit_rgb_tiff(tmp_path, planar):
    path = tmp_path / "rgb16.tif"
    data = V16 if planar == "contig" else V16.transpose(2, 0, 1)  # separate planes are (S, H, W)
    tifffile.imwrite(path, data, photometric="rgb", planarconfig=planar)
    x, bits = read_image_bits(path)
    assert bits == 16
    assert_close(x, expected16(V16))
    assert image_size(path) == (2, 4)


def test_16bit_lzw_tiff_written_by_opencv(tmp_path):
    """OpenCV writes LZW, which tifffile cannot decode without imagecodecs: read all the same."""
    path = tmp_path / "lzw16.tif"
    assert cv2.imwrite(str(path), V16[..., ::-1])
    x, bits = read_image_bits(path)
    assert bits == 16
    assert_close(x, expected16(V16))


def test_16bit_grey_tiff(tmp_path):
    path = tmp_path / "grey16.tiff"
    tifffile.imwrite(path, V16[..., 1], photometric="minisblack")
    x, bits = read_image_bits(path)
    assert bits == 16
    assert_close(x, expected16(V16[..., 1]))


def test_float_tiff_with_whole_16bit_values_is_read_and_others_refused(tmp_path):
    ok = tmp_path / "ok.tif"
    tifffile.imwrite(ok, V16.astype(np.float32), photometric="rgb")
    x, bits = read_image_bits(ok)
    assert bits == 16
    assert_close(x, expected16(V16))

    for name, arr in [
        ("fraction.tif", np.full((2, 3), 0.5, np.float32)),
        ("big.tif", np.full((2, 3), 70000, np.int32)),
        ("negative.tif", np.full((2, 3), -1, np.int32)),
    ]:
        tifffile.imwrite(tmp_path / name, arr)
        with pytest.raises(LmarError, match="16-bit") as exc:
            read_image(tmp_path / name)
        assert str(tmp_path / name) in str(exc.value)


def test_8bit_rgb_png_reads_as_before(tmp_path):
    arr = gradient(5, 7)
    Image.fromarray(arr).save(tmp_path / "a.png")
    x, bits = read_image_bits(tmp_path / "a.png")
    assert bits == 8 and x.dtype == torch.float32
    assert torch.equal(x, torch.from_numpy(arr).permute(2, 0, 1).float().div(255.0))
    assert image_size(tmp_path / "a.png") == (5, 7)


def test_8bit_grey_and_tiff(tmp_path):
    grey = gradient(4, 6)[..., 0]
    Image.fromarray(grey).save(tmp_path / "g.png")
    tifffile.imwrite(tmp_path / "rgb8.tif", gradient(4, 6), photometric="rgb", compression="zlib")
    assert read_image_bits(tmp_path / "g.png")[1] == 8
    assert_close(read_image(tmp_path / "g.png"), expected8(grey))
    x, bits = read_image_bits(tmp_path / "rgb8.tif")
    assert bits == 8
    assert_close(x, expected8(gradient(4, 6)))


# ---------------------------------------------------------------- orientation


@pytest.mark.parametrize("orientation", [2, 3, 4, 5, 6, 7, 8])
def test_exif_orientation_jpeg_matches_pil(tmp_path, orientation):
    path = tmp_path / f"o{orientation}.jpg"
    Image.fromarray(gradient(16, 24)).save(path, format="JPEG", quality=95, exif=exif_bytes(orientation))
    with Image.open(path) as im:
        ref = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    x = read_image(path)
    assert x.shape == (3, *ref.shape[:2])
    assert torch.equal(x, torch.from_numpy(ref.copy()).permute(2, 0, 1).float().div(255.0))
    assert image_size(path) == ref.shape[:2]
    assert image_size(path) == ((24, 16) if orientation >= 5 else (16, 24))


def test_exif_orientation_8bit_png(tmp_path):
    path = tmp_path / "o6.png"
    Image.fromarray(gradient(3, 5)).save(path, exif=exif_bytes(6))
    with Image.open(path) as im:
        ref = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    assert ref.shape[:2] == (5, 3)
    assert_close(read_image(path), expected8(ref))
    assert image_size(path) == (5, 3)


@pytest.mark.parametrize("where", ["before", "after"])
def test_exif_orientation_16bit_png(tmp_path, where):
    """The eXIf chunk may follow the pixel data; image_size still finds it without decoding."""
    grey = V16[..., 2]
    path = tmp_path / "o8.png"
    extra = {"before_idat" if where == "before" else "after_idat": exif_chunk(8)}
    path.write_bytes(png16_by_hand(grey, colour_type=0, **extra))
    with Image.open(path) as im:
        ref = np.asarray(ImageOps.exif_transpose(im)).astype(np.uint16)  # exact for 16-bit grey
    assert ref.shape == (4, 2)
    x, bits = read_image_bits(path)
    assert bits == 16
    assert_close(x, expected16(ref))
    assert image_size(path) == (4, 2)


def test_exif_orientation_16bit_rgb_png(tmp_path):
    path = tmp_path / "o2.png"
    path.write_bytes(png16_by_hand(V16, colour_type=2, before_idat=exif_chunk(2)))
    assert_close(read_image(path), expected16(V16[:, ::-1]))  # 2: mirrored left-right


@pytest.mark.parametrize("orientation", [2, 3, 4, 5, 6, 7, 8])
def test_tiff_orientation_matches_pil(tmp_path, orientation):
    """Pillow turns an RGB TIFF by its Orientation tag while loading: the reference for 8-bit; the 16-bit
    copy of the same picture must come out turned the same way."""
    rgb8 = gradient(4, 6)
    tag = [(274, "H", 1, orientation, True)]
    tifffile.imwrite(tmp_path / "o8.tif", rgb8, photometric="rgb", compression="zlib", extratags=tag)
    tifffile.imwrite(tmp_path / "o16.tif", rgb8.astype(np.uint16) * 257, photometric="rgb", extratags=tag)
    with Image.open(tmp_path / "o8.tif") as im:
        ref = np.asarray(im.convert("RGB"))
    assert ref.shape[:2] == ((6, 4) if orientation >= 5 else (4, 6))
    for name, bits in (("o8.tif", 8), ("o16.tif", 16)):
        x, got_bits = read_image_bits(tmp_path / name)
        assert got_bits == bits
        assert_close(x, expected8(ref))
        assert image_size(tmp_path / name) == ref.shape[:2]


def test_tiff_orientation_16bit_grey(tmp_path):
    path = tmp_path / "o6.tif"
    tifffile.imwrite(path, V16[..., 0], extratags=[(274, "H", 1, 6, True)])
    assert_close(read_image(path), expected16(np.rot90(V16[..., 0], -1)))  # 6: turn a quarter clockwise
    assert image_size(path) == (4, 2)


# ---------------------------------------------------------------- alpha


def test_opaque_alpha_is_dropped(tmp_path):
    rgb = gradient(3, 4)
    Image.fromarray(np.dstack([rgb, np.full((3, 4), 255, np.uint8)])).save(tmp_path / "a.png")
    x, bits = read_image_bits(tmp_path / "a.png")
    assert bits == 8
    assert_close(x, expected8(rgb))
    rgba16 = np.dstack([V16, np.full((2, 4), 65535, np.uint16)])
    assert cv2.imwrite(str(tmp_path / "a16.png"), rgba16[..., [2, 1, 0, 3]])
    x, bits = read_image_bits(tmp_path / "a16.png")
    assert bits == 16
    assert_close(x, expected16(V16))


def test_transparency_is_refused(tmp_path):
    rgba = np.dstack([gradient(3, 4), np.full((3, 4), 255, np.uint8)])
    rgba[1, 2, 3] = 254
    Image.fromarray(rgba).save(tmp_path / "t.png")
    rgba16 = np.dstack([V16, np.full((2, 4), 65535, np.uint16)])
    rgba16[0, 0, 3] = 0
    assert cv2.imwrite(str(tmp_path / "t16.png"), rgba16[..., [2, 1, 0, 3]])
    tifffile.imwrite(tmp_path / "t16.tif", rgba16, photometric="rgb", extrasamples=[2])
    key = tmp_path / "key16.png"  # 16-bit grey with a transparent colour that occurs
    key.write_bytes(png16_by_hand(V16[..., 0], 0, before_idat=chunk(b"tRNS", struct.pack(">H", 12345))))
    pal = Image.new("P", (2, 2), 1)
    pal.putpalette([0, 0, 0, 255, 255, 255])
    pal.save(tmp_path / "pal.png", transparency=1)
    for name in ("t.png", "t16.png", "t16.tif", "key16.png", "pal.png"):
        with pytest.raises(LmarError, match="transparency") as exc:
            read_image(tmp_path / name)
        assert str(tmp_path / name) in str(exc.value) and "flatten" in str(exc.value)


def test_unused_transparent_colour_is_accepted(tmp_path):
    path = tmp_path / "key16.png"
    path.write_bytes(png16_by_hand(V16[..., 0], 0, before_idat=chunk(b"tRNS", struct.pack(">H", 4321))))
    assert_close(read_image(path), expected16(V16[..., 0]))


# ---------------------------------------------------------------- size limit


def bomb_png(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")
    )


def test_bomb_header_is_refused_before_decoding(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb_png(20000, 20000))
    decoded = []
    original = ImageFile.ImageFile.load

    def spy(self):
        decoded.append(self)
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    monkeypatch.setattr(cv2, "imdecode", lambda *a, **k: decoded.append(a))
    pil_limit = Image.MAX_IMAGE_PIXELS
    for fn in (read_image, read_image_bits, image_size):
        with pytest.raises(LmarError) as exc:
            fn(path)
        msg = str(exc.value)
        assert str(path) in msg and "400000000" in msg and str(2**28) in msg
        assert f"set {ENV} to raise it" in msg and "\n" not in msg
    assert decoded == []  # no decoder was ever called
    assert Image.MAX_IMAGE_PIXELS == pil_limit  # Pillow's own limit is left as it was
    assert entries(tmp_path) == ["bomb.png"]


def test_pils_limit_does_not_speak_below_ours(tmp_path, monkeypatch):
    """15000x15000 is over Pillow's error threshold (2 * ~89M pixels) but under ours (2**28)."""
    monkeypatch.delenv(ENV, raising=False)
    path = tmp_path / "big.png"
    path.write_bytes(bomb_png(15000, 15000))
    assert 15000 * 15000 > 2 * Image.MAX_IMAGE_PIXELS
    assert image_size(path) == (15000, 15000)


def test_limit_from_the_environment(tmp_path, monkeypatch):
    small = tmp_path / "small.png"
    Image.fromarray(gradient(4, 4)).save(small)
    monkeypatch.setenv(ENV, "10")
    for fn in (read_image, image_size):
        with pytest.raises(LmarError, match=ENV) as exc:
            fn(small)
        assert "16 pixels" in str(exc.value) and str(small) in str(exc.value)
    monkeypatch.setenv(ENV, "16")
    assert read_image(small).shape == (3, 4, 4)
    big = tmp_path / "bomb.png"
    big.write_bytes(bomb_png(20000, 20000))
    monkeypatch.setenv(ENV, str(10**9))
    assert image_size(big) == (20000, 20000)
    for bad in ("lots", "1e6", "-5"):
        monkeypatch.setenv(ENV, bad)
        with pytest.raises(LmarError, match=ENV):
            image_size(small)


def test_16bit_tiff_over_the_limit(tmp_path, monkeypatch):
    path = tmp_path / "f.tif"
    tifffile.imwrite(path, np.zeros((4, 5), np.float32))  # a layout Pillow cannot open
    monkeypatch.setenv(ENV, "19")
    with pytest.raises(LmarError, match=ENV):
        read_image(path)
    with pytest.raises(LmarError, match=ENV):
        image_size(path)
    monkeypatch.setenv(ENV, "20")
    assert image_size(path) == (4, 5)


# ---------------------------------------------------------------- decode errors


def test_decode_errors_are_one_line_naming_the_file(tmp_path):
    good = png16_by_hand(np.tile(V16, (20, 20, 1)), colour_type=2)
    cases = {
        "trunc16.png": good[: len(good) // 2],
        "garbage.tif": b"II*\x00" + b"\xff" * 40,
        "garbage.jpg": b"\xff\xd8\xff" + b"\x00" * 40,
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(LmarError, match="cannot read image") as exc:
            read_image(tmp_path / name)
        msg = str(exc.value)
        assert str(tmp_path / name) in msg and "\n" not in msg and msg.endswith("Replace or delete the file.")
    with pytest.raises(LmarError, match="image not found"):
        read_image_bits(tmp_path / "absent.png")


# ---------------------------------------------------------------- writing


def column(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32).view(1, 1, -1).expand(3, 1, -1)


@pytest.mark.parametrize("bits", [8, 16])
def test_quantize_rounds_to_nearest_and_clamps(bits):
    scale = 2**bits - 1
    levels = [0.3, 0.7, 41.49, 41.51, scale - 0.2]  # away from ties
    q = quantize(column([v / scale for v in levels] + [-0.5, 0.0, 1.0, 1.7, float("nan")]), bits)
    assert q.dtype == (np.uint8 if bits == 8 else np.uint16) and q.shape == (1, 10, 3)
    assert q[0, :, 0].tolist() == [0, 1, 41, 42, scale, 0, 0, scale, scale, 0]
    assert np.array_equal(q[..., 0], q[..., 2])
    # exact ties (k + 0.5 survives the float32 round trip for these k): half to even, like numpy
    ties = [2.5, 3.5, 10.5, 11.5]
    x = column([t / scale for t in ties])
    assert (x[0, 0] * scale).tolist() == ties
    assert quantize(x, bits)[0, :, 0].tolist() == np.round(ties).tolist() == [2, 4, 10, 12]


def test_to_uint8_is_quantize_8_and_bits_are_checked():
    x = torch.rand(3, 5, 6)
    assert np.array_equal(to_uint8(x), quantize(x, 8))
    with pytest.raises(LmarError, match="8 or 16"):
        quantize(x, 12)


def test_quantize_bf16_goes_through_float32():
    x16 = torch.from_numpy(V16.astype(np.float32) / 65535).permute(2, 0, 1)
    assert np.array_equal(quantize(x16, 16), V16)
    xb = torch.rand(3, 4, 5).to(torch.bfloat16)
    assert np.array_equal(quantize(xb, 8), quantize(xb.float(), 8))


def test_write_image_16bit_round_trips(tmp_path):
    x = torch.from_numpy(V16.astype(np.float64) / 65535).float().permute(2, 0, 1)
    write_image(x, tmp_path / "a.png", bits=16)
    write_image(x, tmp_path / "a.TIF", bits=16)
    back = cv2.imdecode(np.fromfile(tmp_path / "a.png", np.uint8), cv2.IMREAD_UNCHANGED)
    assert back.dtype == np.uint16 and np.array_equal(back[..., ::-1], V16)
    assert np.array_equal(tifffile.imread(tmp_path / "a.TIF"), V16)
    for name in ("a.png", "a.TIF"):
        y, bits = read_image_bits(tmp_path / name)
        assert bits == 16
        assert_close(y, expected16(V16))
    assert entries(tmp_path) == ["a.TIF", "a.png"]  # no temporary file left


def test_write_image_formats_by_suffix(tmp_path):
    arr = gradient(6, 8)
    x = torch.from_numpy(arr).permute(2, 0, 1).float() / 255
    magic = {
        "a.png": b"\x89PNG\r\n\x1a\n",
        "a.jpg": b"\xff\xd8\xff",
        "a.JPEG": b"\xff\xd8\xff",
        "a.tif": (b"II*\x00", b"MM\x00*"),
        "a.tiff": (b"II*\x00", b"MM\x00*"),
        "a.bmp": b"BM",
    }
    for name, head in magic.items():
        write_image(x, tmp_path / name)
        assert (tmp_path / name).read_bytes().startswith(head), name
    for name in ("a.png", "a.tif", "a.tiff", "a.bmp"):  # lossless: exact
        assert np.array_equal(np.asarray(Image.open(tmp_path / name).convert("RGB")), arr), name
        assert read_image_bits(tmp_path / name)[1] == 8
    write_image(x, tmp_path / "q10.jpg", quality=10)
    assert (tmp_path / "q10.jpg").stat().st_size < (tmp_path / "a.jpg").stat().st_size
    assert sorted(OUTPUT_SUFFIXES) == sorted([".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"])


def test_write_image_refusals_leave_nothing(tmp_path):
    x = torch.rand(3, 4, 5)
    for name, bits, match in [
        ("a.gif", 8, r"\.png"),
        ("noext", 8, "suffix"),
        ("a.jpg", 16, r"\.png or \.tif"),
        ("a.jpeg", 16, r"\.png or \.tif"),
        ("a.bmp", 16, r"\.png or \.tif"),
        ("a.png", 12, "8 or 16"),
    ]:
        with pytest.raises(LmarError, match=match) as exc:
            write_image(x, tmp_path / name, bits=bits)
        assert str(tmp_path / name) in str(exc.value)
        with pytest.raises(LmarError, match=match):
            check_output_suffix(tmp_path / name, bits)
    with pytest.raises(LmarError, match="quality"):
        write_image(x, tmp_path / "a.jpg", quality=0)
    assert entries(tmp_path) == []
    assert check_output_suffix(tmp_path / "x.PNG", 16) == "PNG"
    assert check_output_suffix(tmp_path / "x.jpeg", 8) == "JPEG"


def test_write_png_still_writes_8bit_png(tmp_path):
    arr = gradient(3, 5)
    write_png(torch.from_numpy(arr).permute(2, 0, 1).float() / 255, tmp_path / "a.png")
    write_png(arr, tmp_path / "b.png")
    for name in ("a.png", "b.png"):
        with Image.open(tmp_path / name) as im:
            assert im.format == "PNG" and im.mode == "RGB"
            assert np.array_equal(np.asarray(im), arr)
    assert entries(tmp_path) == ["a.png", "b.png"]


@pytest.mark.parametrize("name, bits, expected", [
    ("a.png", 16, 16), ("a.tif", 16, 16), ("a.TIFF", 8, 8), ("a.jpg", 16, 8), ("a.bmp", 16, 8), ("a.jpeg", 8, 8)])
def test_output_depth_keeps_16_bits_where_the_format_holds_them(name, bits, expected):
    from lmar.data.image_write import output_depth

    assert output_depth(name, bits) == expected


def test_output_depth_refuses_an_unknown_suffix():
    from lmar.data.image_write import output_depth

    with pytest.raises(LmarError, match="unsupported suffix '.webp'"):
        output_depth("a.webp", 8)


EPS = b"""%!PS-Adobe-3.0 EPSF-3.0
%%BoundingBox: 0 0 32 32
%%EndComments
newpath 0 0 moveto 32 32 lineto stroke
showpage
%%EOF
"""


@pytest.mark.parametrize("name", ["planted.png", "planted.jpg", "planted.tif"])
def test_a_file_in_another_format_is_refused_by_content_not_decoded(tmp_path, monkeypatch, name):
    """Pillow picks a decoder by content: a PostScript file named .png would go to Ghostscript (a
    program run on the file). Only the decoders of the accepted extensions may read it."""
    import subprocess

    from PIL import EpsImagePlugin

    calls = []
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", "gs", raising=False)  # as if Ghostscript were installed
    monkeypatch.setattr(subprocess, "check_call", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a))
    path = tmp_path / name
    path.write_bytes(EPS)
    with pytest.raises(LmarError, match=f"cannot read image {path}"):
        image_size(path)
    with pytest.raises(LmarError, match=f"cannot read image {path}"):
        read_image(path)
    assert calls == []
