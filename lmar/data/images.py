"""Reading and writing images as float tensors in [0, 1], (3, H, W)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from lmar.atomic import atomic_path
from lmar.errors import LmarError

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def read_image(path: str | Path) -> torch.Tensor:
    path = Path(path)
    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise LmarError(f"image not found: {path}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise LmarError(f"cannot read image {path}: {exc}. Replace or delete the file.") from None
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(255.0)


def image_size(path: str | Path) -> tuple[int, int]:
    """(H, W) from the header, without decoding the pixels."""
    try:
        with Image.open(path) as im:
            return im.height, im.width
    except (FileNotFoundError, UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise LmarError(f"cannot read image {path}: {exc}. Replace or delete the file.") from None


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """(3, H, W) float -> (H, W, 3) uint8, clamped and rounded (in float32: a bf16 image has too
    few mantissa bits to hold 255 levels)."""
    return img.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def write_png(img: torch.Tensor | np.ndarray, path: str | Path) -> None:
    arr = img if isinstance(img, np.ndarray) else to_uint8(img)
    with atomic_path(path) as tmp:
        Image.fromarray(arr).save(tmp, format="PNG")
