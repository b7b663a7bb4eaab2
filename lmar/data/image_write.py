"""Writing images: (3, H, W) float tensors in [0, 1] quantised to 8 or 16 bits per channel.

The format comes from the suffix (``OUTPUT_SUFFIXES``): PNG and TIFF take 8 or 16 bits per channel,
JPEG (quality 95 by default, 4:4:4 chroma) and BMP 8 bits only. 16-bit PNG is encoded with OpenCV
(Pillow cannot write 16-bit RGB), TIFF with tifffile. Files are written all-or-nothing.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import tifffile
import torch
from PIL import Image

from lmar.core.atomic import atomic_path
from lmar.core.errors import LmarError

# suffix -> (format, bit depths it can hold)
_OUTPUT_FORMATS = {
    ".png": ("PNG", (8, 16)),
    ".jpg": ("JPEG", (8,)),
    ".jpeg": ("JPEG", (8,)),
    ".tif": ("TIFF", (8, 16)),
    ".tiff": ("TIFF", (8, 16)),
    ".bmp": ("BMP", (8,)),
}
OUTPUT_SUFFIXES = tuple(_OUTPUT_FORMATS)


def quantize_levels(img: torch.Tensor, bits: int) -> torch.Tensor:
    """(..., H, W) float -> the integer levels a file of ``bits`` per channel holds, on ``img``'s device
    (uint8 for 8 bits, int32 for 16): clamped to [0, 1] (NaN -> 0), scaled by 2**bits - 1 and rounded
    to nearest (ties to even) in float32 (a bf16 image has too few mantissa bits). The evaluation
    scores these levels in memory: exactly what a saved file reads back as."""
    if bits not in (8, 16):
        raise LmarError(f"bits per channel must be 8 or 16, got {bits!r}")
    q = img.detach().float().nan_to_num(0.0).clamp(0, 1).mul(255.0 if bits == 8 else 65535.0).round()
    return q.to(torch.uint8 if bits == 8 else torch.int32)


def quantize(img: torch.Tensor, bits: int) -> np.ndarray:
    """(3, H, W) float -> (H, W, 3) uint8 (bits=8) or uint16 (bits=16), as :func:`quantize_levels`."""
    if img.ndim != 3:
        raise ValueError(f"expected a (3, H, W) image, got shape {tuple(img.shape)}")
    return levels_array(quantize_levels(img, bits).permute(1, 2, 0), bits)


def levels_array(levels: torch.Tensor, bits: int) -> np.ndarray:
    """(H, W, 3) levels from :func:`quantize_levels` -> the uint8 or uint16 array a file holds."""
    arr = levels.cpu().numpy()
    return arr if bits == 8 else arr.astype(np.uint16)


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """(3, H, W) float -> (H, W, 3) uint8, clamped and rounded: ``quantize(img, 8)``."""
    return quantize(img, 8)


def check_output_suffix(path: str | Path, bits: int = 8) -> str:
    """The format ``write_image`` would write ``path`` in ("PNG", "JPEG", "TIFF", "BMP"); LmarError, and
    nothing written, when the suffix or the bit depth is not supported."""
    if bits not in (8, 16):
        raise LmarError(f"cannot write image {path}: bits per channel must be 8 or 16, got {bits!r}")
    suffix = Path(path).suffix.lower()
    if suffix not in _OUTPUT_FORMATS:
        raise LmarError(
            f"cannot write image {path}: unsupported suffix {suffix or '(none)'!r}; "
            f"use one of {', '.join(OUTPUT_SUFFIXES)}"
        )
    fmt, depths = _OUTPUT_FORMATS[suffix]
    if bits not in depths:
        raise LmarError(
            f"cannot write image {path} with {bits} bits per channel: {fmt} holds 8 bits only; "
            "use .png or .tif for 16-bit output"
        )
    return fmt


def output_depth(path: str | Path, bits: int) -> int:
    """The bits per channel to write ``path`` with for data of ``bits``: ``bits`` where its format
    holds them, else 8 (a JPEG or BMP of 16-bit data); LmarError for an unsupported suffix."""
    check_output_suffix(path, 8)
    return bits if bits in _OUTPUT_FORMATS[Path(path).suffix.lower()][1] else 8


def write_image(img: torch.Tensor | np.ndarray, path: str | Path, bits: int = 8, quality: int = 95) -> None:
    """Write a (3, H, W) float image (or an (H, W, 3) / (H, W) uint8 or uint16 array matching ``bits``) in
    the format of the suffix of ``path``, all-or-nothing. ``quality`` is the JPEG quality (1..100)."""
    fmt = check_output_suffix(path, bits)
    if fmt == "JPEG" and (isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100):
        raise LmarError(f"JPEG quality must be a whole number from 1 to 100, got {quality!r}")
    if isinstance(img, np.ndarray):
        want = np.uint8 if bits == 8 else np.uint16
        if img.dtype != want:
            raise ValueError(f"a {bits}-bit image must be a {np.dtype(want).name} array, got {img.dtype}")
        arr = img
    else:
        arr = quantize(img, bits)
    with atomic_path(path) as tmp:
        _encode(arr, tmp, fmt, quality)


def write_png(img: torch.Tensor | np.ndarray, path: str | Path) -> None:
    """An 8-bit PNG from a float image (an array is written as it is), all-or-nothing."""
    arr = img if isinstance(img, np.ndarray) else quantize(img, 8)
    with atomic_path(path) as tmp:
        _encode(arr, tmp, "PNG", 95)


def _encode(arr: np.ndarray, tmp: Path, fmt: str, quality: int) -> None:
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if fmt == "TIFF":
        tifffile.imwrite(
            tmp, arr, photometric="rgb" if arr.ndim == 3 else "minisblack", compression="zlib", metadata=None
        )
    elif fmt == "PNG" and arr.dtype == np.uint16:  # Pillow cannot write 16-bit RGB
        ok, buf = cv2.imencode(".png", arr[..., ::-1] if arr.ndim == 3 else arr)
        if not ok:
            raise OSError(f"OpenCV could not encode {tmp} as a 16-bit PNG")
        tmp.write_bytes(buf.tobytes())
    elif fmt == "JPEG":
        Image.fromarray(arr).save(tmp, format="JPEG", quality=quality, subsampling=0)
    else:
        Image.fromarray(arr).save(tmp, format=fmt)
