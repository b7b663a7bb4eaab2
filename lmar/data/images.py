"""Reading images as float tensors in [0, 1], (3, H, W).

Reading (``read_image``, ``read_image_bits``, ``image_size``):

- Bit depth: 8-bit data is scaled by 1/255 and 16-bit data (PNG and TIFF, greyscale or RGB) by 1/65535.
  16-bit PNG is decoded with OpenCV (Pillow drops the low byte of 16-bit RGB). A TIFF's header and
  orientation are read with tifffile (Pillow turns some TIFFs by their orientation itself, not always
  right), its pixels with tifffile, with Pillow when plain upright 8-bit, or with OpenCV when tifffile lacks
  the codec (LZW, JPEG: no imagecodecs). Float or 32-bit integer samples are accepted only when they are
  whole numbers in 0..65535 (then read as 16-bit); anything else is refused.
- Greyscale is replicated to 3 channels.
- EXIF orientation (tags 2..8) is applied on every path, so the tensor is upright; ``image_size`` returns
  the oriented (H, W) from the header, without decoding the pixels.
- Alpha: an alpha channel (or a PNG/GIF transparent colour) is accepted only when every pixel is fully
  opaque, and is then dropped. An image with any transparency is refused: flatten it first.
- Decompression bombs: the header's numbers are checked before any decoder runs: width * height against
  the environment variable LMAR_MAX_IMAGE_PIXELS (default 2**28 pixels when unset or empty, read at each
  call), and the bytes the decoded samples take, width * height * samples per pixel * bytes per sample
  (a TIFF may claim thousands of samples per pixel), against LMAR_MAX_IMAGE_BYTES (default: the pixel
  limit times 6, the bytes of a 16-bit RGB image: 1.5 GiB with the default pixel limit). Pillow's own limit is switched off only while this module uses Pillow (under a lock, and put back
  afterwards), so ours is the one that applies. (OpenCV keeps its own limit of 2**30 pixels.)
- Every problem with a file is one ``LmarError`` line naming it.

Writing is in :mod:`lmar.data.image_write`.
"""

from __future__ import annotations

import contextlib
import os
import struct
import threading
from pathlib import Path

import cv2
import numpy as np
import tifffile
import torch
from PIL import Image

from lmar.core.errors import LmarError
from lmar.core.runtime import positive_env

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
# the decoders Pillow may pick (it picks by content, not by name): those of EXTENSIONS only, so that a
# file named .png that holds PostScript is refused rather than handed to Ghostscript
PIL_FORMATS = ("PNG", "JPEG", "BMP", "TIFF")

MAX_PIXELS_ENV = "LMAR_MAX_IMAGE_PIXELS"
DEFAULT_MAX_IMAGE_PIXELS = 2**28
MAX_BYTES_ENV = "LMAR_MAX_IMAGE_BYTES"
DEFAULT_BYTES_PER_PIXEL = 3 * 2  # the byte limit's default, per pixel of the pixel limit: 16-bit RGB

_ORIENTATION_TAG = 0x0112
_ALPHA_MODES = ("RGBA", "LA", "PA", "La", "RGBa")
_WIDE_MODES = ("I", "F", "I;16", "I;16L", "I;16B", "I;16N")
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_PIL_LOCK = threading.RLock()


# ---------------------------------------------------------------- limits


def max_image_pixels() -> int:
    """The largest width * height read, from LMAR_MAX_IMAGE_PIXELS (default 2**28)."""
    return positive_env(MAX_PIXELS_ENV, "pixels", DEFAULT_MAX_IMAGE_PIXELS)


def max_image_bytes() -> int:
    """The most bytes an image's decoded samples may take, from LMAR_MAX_IMAGE_BYTES (default: the pixel
    limit of :func:`max_image_pixels` times 6, so that a 16-bit RGB image within it always fits)."""
    return positive_env(MAX_BYTES_ENV, "bytes", max_image_pixels() * DEFAULT_BYTES_PER_PIXEL)


def _check_size(path: Path, width: int, height: int, samples: int, sample_bytes: int) -> None:
    """Refuse, from the header's numbers, an image over the pixel or the byte limit (one line naming the
    file, the numbers and the variable that raises the limit)."""
    pixels = int(width) * int(height)
    limit = max_image_pixels()
    if pixels > limit:
        raise LmarError(
            f"image {path} is {width}x{height} = {pixels} pixels, over the limit of {limit} pixels "
            f"(a guard against decompression bombs); if the image is genuine, set {MAX_PIXELS_ENV} to raise it"
        )
    nbytes, limit = pixels * int(samples) * int(sample_bytes), max_image_bytes()
    if nbytes > limit:
        raise LmarError(
            f"image {path}: its header says {width}x{height} pixels x {samples} samples per pixel x {sample_bytes} "
            f"bytes per sample = {nbytes} bytes decoded, over the limit of {limit} bytes (a guard against "
            f"decompression bombs); if the image is genuine, set {MAX_BYTES_ENV} to raise it"
        )


def _pil_sample_bytes(im: Image.Image) -> int:
    """Bytes per decoded sample of an image Pillow opened (header only): 16-bit PNG 2 (OpenCV decodes it),
    Pillow's 16-bit modes 2, its 32-bit ones 4, else 1."""
    if im.format == "PNG" and _png_is_16bit(im):
        return 2
    if im.mode.startswith("I;16"):
        return 2
    return 4 if im.mode in ("I", "F") else 1


@contextlib.contextmanager
def _own_pixel_limit():
    """Pillow's bomb check off while we use Pillow (ours has run, or runs, on the header before any
    decoding); the global is put back afterwards, and the lock keeps our own calls from interleaving."""
    with _PIL_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


# ---------------------------------------------------------------- reading


def read_image_array(path: str | Path) -> tuple[np.ndarray, int]:
    """(the pixels as stored, upright: a contiguous (H, W, 1 or 3) uint8 or uint16 array, and the bit depth:
    8 or 16). :func:`to_float` makes the tensor :func:`read_image_bits` returns; the evaluation's loader
    workers stop here, so that a quarter of the bytes cross to the device."""
    path = Path(path)
    arr, orientation, _ = _load(path, decode=True)
    bits = 16 if arr.dtype == np.uint16 else 8
    arr = np.ascontiguousarray(_orient(arr, orientation))
    if not arr.flags.writeable:
        arr = arr.copy()
    return arr, bits


def to_float(pixels: torch.Tensor, bits: int) -> torch.Tensor:
    """(H, W, 1 or 3) integer pixels (on any device) -> float32 (3, H, W) in [0, 1]: divided by 255 or 65535."""
    if pixels.shape[2] == 1:
        pixels = pixels.expand(-1, -1, 3)
    return pixels.permute(2, 0, 1).float().div_(65535.0 if bits == 16 else 255.0)


def read_image_bits(path: str | Path) -> tuple[torch.Tensor, int]:
    """(float32 tensor (3, H, W) in [0, 1], upright, and the file's bit depth: 8 or 16)."""
    arr, bits = read_image_array(path)
    return to_float(torch.from_numpy(arr), bits), bits


def read_image(path: str | Path) -> torch.Tensor:
    """Float32 tensor (3, H, W) in [0, 1], upright (see the module docstring)."""
    return read_image_bits(path)[0]


def image_size(path: str | Path) -> tuple[int, int]:
    """Upright (H, W) from the header, without decoding the pixels."""
    _, orientation, (height, width) = _load(Path(path), decode=False)
    return (width, height) if orientation >= 5 else (height, width)


def _load(path: Path, decode: bool) -> tuple[np.ndarray | None, int, tuple[int, int]]:
    """(pixels (H, W, 1 or 3) uint8 or uint16 as stored, or None; EXIF orientation; stored (H, W))."""
    max_image_bytes()  # a bad limit variable is named before the file is opened
    try:
        with _own_pixel_limit():
            if _is_tiff(path):  # Pillow turns some TIFFs by their orientation itself, not always right
                return _load_tiff(path, decode)
            with Image.open(path, formats=PIL_FORMATS) as im:
                _check_size(path, im.width, im.height, len(im.getbands()), _pil_sample_bytes(im))
                orientation = _pil_orientation(im, path)
                arr = _decode_pil(im, path) if decode else None
                return arr, orientation, (im.height, im.width)
    except (LmarError, MemoryError):
        raise
    except FileNotFoundError:
        raise LmarError(f"image not found: {path}") from None
    except Exception as exc:  # noqa: BLE001 - any decoder failure: one line naming the file
        raise LmarError(f"cannot read image {path}: {_describe(exc)}. Replace or delete the file.") from None


def _describe(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    text = next((line.strip() for line in lines if line.strip()), "") or type(exc).__name__
    return text[:300].rstrip(".")


def _is_tiff(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) in _TIFF_MAGIC


def _valid_orientation(value) -> int:
    return value if isinstance(value, int) and 2 <= value <= 8 else 1


def _pil_orientation(im: Image.Image, path: Path) -> int:
    """The EXIF orientation from the header; Pillow finds a PNG eXIf chunk after the pixel data only by
    decoding them, so such a chunk is found by walking the chunk list instead."""
    try:
        if im.format == "PNG" and "exif" not in im.info:
            late = _png_late_exif(path)
            if late is not None:
                im.info["exif"] = late
        return _valid_orientation(Image.Image.getexif(im).get(_ORIENTATION_TAG))  # the base class never decodes
    except Exception:  # noqa: BLE001 - unreadable EXIF: the pixels are still fine, left as stored
        return 1


def _png_late_exif(path: Path) -> bytes | None:
    with open(path, "rb") as f:
        f.seek(8)
        while True:
            head = f.read(8)
            if len(head) < 8:
                return None
            length, kind = struct.unpack(">I4s", head)
            if kind == b"eXIf":
                data = f.read(length)
                return data if len(data) == length else None
            if kind == b"IEND":
                return None
            f.seek(length + 4, os.SEEK_CUR)


def _orient(arr: np.ndarray, orientation: int) -> np.ndarray:
    """(H, W, C) as stored -> upright, for EXIF orientation 1..8."""
    if orientation == 2:
        return arr[:, ::-1]
    if orientation == 3:
        return arr[::-1, ::-1]
    if orientation == 4:
        return arr[::-1]
    if orientation == 5:
        return arr.swapaxes(0, 1)
    if orientation == 6:
        return np.rot90(arr, -1)
    if orientation == 7:
        return arr[::-1, ::-1].swapaxes(0, 1)
    if orientation == 8:
        return np.rot90(arr, 1)
    return arr


def _drop_alpha(path: Path, arr: np.ndarray, opaque: int) -> np.ndarray:
    if (arr[..., -1] != opaque).any():
        raise LmarError(
            f"image {path} has transparency (its alpha channel is not fully opaque); "
            "flatten it onto a background and save it without alpha"
        )
    return arr[..., :-1]


def _transparent_key(path: Path, arr: np.ndarray, key) -> None:
    """Refuse an image whose PNG tRNS colour (a transparent colour, no alpha channel) occurs in it."""
    key = np.asarray(key).reshape(-1)
    if key.size == arr.shape[-1] and (arr == key.astype(arr.dtype)).all(axis=-1).any():
        raise LmarError(
            f"image {path} has transparency (a transparent colour); flatten it onto a background and save it "
            "without transparency"
        )


def _decode_pil(im: Image.Image, path: Path) -> np.ndarray:
    if im.format == "PNG" and _png_is_16bit(im):
        return _decode_cv2(path, (im.height, im.width), im.info.get("transparency"))
    if im.mode in _WIDE_MODES:
        return _as_16bit(path, np.asarray(im))[..., None]
    if im.mode in _ALPHA_MODES or "transparency" in im.info:
        return _drop_alpha(path, np.asarray(im.convert("RGBA")), 255)
    return np.asarray(im.convert("RGB"))


def _png_is_16bit(im: Image.Image) -> bool:
    if im.mode.startswith("I;16"):
        return True
    for tile in im.tile:
        args = tile.args
        rawmode = args if isinstance(args, str) else (args[0] if args else "")
        if ";16" in str(rawmode):
            return True
    return False


def _decode_cv2(path: Path, size: tuple[int, int], transparent=None) -> np.ndarray:
    """Decoded by OpenCV, which keeps 16 bits (it gives BGR order and, for PNG, ignores EXIF orientation)."""
    arr = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None or arr.shape[:2] != size:
        raise ValueError("OpenCV could not decode it")
    if arr.ndim == 2:
        arr = arr[..., None]
    channels = arr.shape[2]
    if channels == 3:
        arr = arr[..., ::-1]  # BGR -> RGB
    elif channels == 4:
        arr = arr[..., [2, 1, 0, 3]]  # BGRA -> RGBA
    elif channels != 1:
        raise ValueError(f"unexpected {channels} channels")
    arr = _as_16bit(path, arr)
    if channels in (1, 3) and transparent is not None:
        _transparent_key(path, arr, transparent)
    return _drop_alpha(path, arr, 255 if arr.dtype == np.uint8 else 65535) if channels == 4 else arr


def _tiff_sample_bytes(page) -> int:
    """Bytes per decoded sample of a TIFF page, from its header: its numpy type's, or its bits rounded up."""
    dtype = getattr(page, "dtype", None)
    return max(dtype.itemsize if dtype is not None else 1, -(-int(page.bitspersample) // 8))


def _load_tiff(path: Path, decode: bool) -> tuple[np.ndarray | None, int, tuple[int, int]]:
    """Header and orientation by tifffile; pixels by tifffile, or for plain upright 8-bit TIFF by Pillow
    (every compression and colour layout); OpenCV when tifffile lacks the codec of an upright one."""
    failure = None
    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first
        height, width = int(page.imagelength), int(page.imagewidth)
        depth = int(getattr(page, "imagedepth", 1) or 1)  # an SGI volume: depth planes of samples
        _check_size(path, width, height, int(page.samplesperpixel) * depth, _tiff_sample_bytes(page))
        tag = page.tags.get(274)
        orientation = _valid_orientation(tag.value if tag is not None else 1)
        if not decode:
            return None, orientation, (height, width)
        plain8 = int(page.bitspersample) <= 8 and int(page.sampleformat) == 1
        arr = None
        if not plain8 or orientation != 1:
            try:
                arr = _tiff_pixels(path, page)
            except LmarError:
                raise
            except Exception as exc:  # e.g. a compression that needs the imagecodecs package
                if orientation != 1:
                    raise
                failure = exc
    if arr is not None:
        pass
    elif plain8:
        with Image.open(path, formats=("TIFF",)) as im:
            if im.size != (width, height):
                raise ValueError(f"Pillow sees {im.width}x{im.height} pixels, the header {width}x{height}")
            arr = _decode_pil(im, path)
    else:
        try:
            arr = _decode_cv2(path, (height, width))
        except LmarError:
            raise
        except Exception:  # noqa: BLE001 - report why tifffile could not read it
            raise failure from None
    return arr, orientation, (height, width)


def _tiff_pixels(path: Path, page) -> np.ndarray:
    arr = page.asarray()
    axes = page.axes
    photometric = int(page.photometric)
    if photometric not in (0, 1, 2):  # min-is-white, min-is-black, RGB
        raise ValueError(f"unsupported TIFF colour layout (photometric {photometric})")
    order = [axes.index(a) for a in "YXS" if a in axes]
    if len(order) != arr.ndim or "Y" not in axes or "X" not in axes:
        raise ValueError(f"unsupported TIFF layout (axes {axes})")
    arr = arr.transpose(order)
    if arr.ndim == 2:
        arr = arr[..., None]
    colours = 3 if photometric == 2 else 1
    if arr.shape[2] < colours:
        raise ValueError(f"{arr.shape[2]} samples per pixel for an RGB TIFF")
    arr = _as_16bit(path, arr)
    opaque = 255 if arr.dtype == np.uint8 else 65535
    if photometric == 0:
        arr[..., :colours] = opaque - arr[..., :colours]
    if arr.shape[2] > colours:  # the first extra sample is taken as alpha
        arr = _drop_alpha(path, arr[..., : colours + 1], opaque)
    return arr


def _as_16bit(path: Path, arr: np.ndarray) -> np.ndarray:
    """uint8 and uint16 as they are; other samples as uint16 when they are whole numbers in 0..65535."""
    if arr.dtype in (np.uint8, np.uint16):
        return np.array(arr)
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if arr.dtype.kind not in "uif":
        raise LmarError(f"image {path} has {arr.dtype} samples; convert it to an 8- or 16-bit integer image")
    lo, hi = (arr.min(), arr.max()) if arr.size else (0, 0)
    whole = arr.dtype.kind != "f" or bool(np.all(arr == np.floor(arr)))
    if not (np.isfinite(lo) and np.isfinite(hi) and lo >= 0 and hi <= 65535 and whole):
        raise LmarError(
            f"image {path} has {arr.dtype} samples from {lo} to {hi}, not 16-bit data (whole numbers 0..65535); "
            "convert it to an 8- or 16-bit integer image (PNG or TIFF)"
        )
    return arr.astype(np.uint16)
