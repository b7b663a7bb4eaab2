"""The embedded default dataset ``mini``: low-light pairs made offline from the colour photographs
that scikit-image and matplotlib ship inside their packages (no download).

The split: the 11 photographs below, 6 in the test split by default (one pair each), the other 5 for
training. Each training photograph gives ``views`` pairs: the whole photograph, then ``views - 1``
crops of 60-90% of its side at seeded random places (each with its own degradation), so that a small
training split still shows the backbones some variety.

Ground truth: the photograph (or crop), centre-cropped to the target aspect ratio and resized
(Lanczos) to ``size`` (H, W).
Degraded input, per pair with its own seeded generator (seed, crc32(name), view), each range a
parameter (defaults shown):
  exposure e ~ U(0.15, 0.35), gamma g ~ U(1.5, 2.2)      dark = e * gt ** g
  colour cast m_c ~ 1 + U(-0.08, 0.08) per channel       dark = dark * m
  signal-dependent noise, shot a ~ U(0.002, 0.008), read b ~ U(0.004, 0.012)
      low = dark + sqrt(a * dark + b^2) * N(0, 1)
  clipped to [0, 1], quantised to 8 bits, written as PNG.
A range [x, x] fixes its value (the generator still draws, so the other draws do not move).
"""

from __future__ import annotations

import inspect
import zlib
from pathlib import Path
from typing import Annotated

import numpy as np
from PIL import Image

from lmar.core.atomic import atomic_dir
from lmar.core.errors import LmarError
from lmar.core.params import Check, Range
from lmar.core.registry import DATASETS
from lmar.data.base import Dataset

Side = Annotated[int, Range(8)]  # pixels
Unit = Annotated[float, Range(0, 1)]
UnitRange = Annotated[tuple[Unit, Unit], Check(lambda v: v[0] <= v[1], "(low <= high)")]
Gamma = Annotated[float, Range(0, open_min=True)]
GammaRange = Annotated[tuple[Gamma, Gamma], Check(lambda v: v[0] <= v[1], "(low <= high)")]
DEGRADATION = ("exposure", "gamma", "cast", "shot_noise", "read_noise")  # the params that make the inputs

# colour photographs inside the scikit-image package, and matplotlib's portrait of Grace Hopper;
# motorcycle left/right are a stereo pair, so both stay in the training split.
PHOTOS = (
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "color.png",
    "grace_hopper.jpg",
    "hubble_deep_field.jpg",
    "ihc.png",
    "motorcycle_left.png",
    "motorcycle_right.png",
    "retina.jpg",
    "rocket.jpg",
)
TEST = ("astronaut", "chelsea", "coffee", "grace_hopper", "hubble_deep_field", "rocket")


def _folders() -> list[Path]:
    import matplotlib
    import skimage.data

    return [Path(skimage.data.data_dir), Path(matplotlib.get_data_path()) / "sample_data"]


def _photo(name: str) -> Image.Image:
    folders = _folders()
    for folder in folders:
        if (folder / name).is_file():
            return Image.open(folder / name, formats=("PNG", "JPEG")).convert("RGB")
    raise LmarError(f"photo {name} is in none of {', '.join(map(str, folders))}; "
                    "reinstall scikit-image and matplotlib (make setup)")


def view(im: Image.Image, k: int, rng: np.random.Generator) -> Image.Image:
    """View ``k`` of a training photograph: 0 the whole of it, else a crop of 60-90% of each side at
    a random place."""
    if k == 0:
        return im
    w0, h0 = im.size
    f = rng.uniform(0.6, 0.9)
    cw, ch = round(w0 * f), round(h0 * f)
    left, top = int(rng.integers(0, w0 - cw + 1)), int(rng.integers(0, h0 - ch + 1))
    return im.crop((left, top, left + cw, top + ch))


def fit(im: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """Centre-crop to the aspect ratio of ``size`` = (H, W), then resize; returns float32 (H, W, 3) in [0, 1]."""
    H, W = size
    w0, h0 = im.size
    if w0 / h0 > W / H:  # too wide
        cw, ch = round(h0 * W / H), h0
    else:
        cw, ch = w0, round(w0 * H / W)
    left, top = (w0 - cw) // 2, (h0 - ch) // 2
    im = im.crop((left, top, left + cw, top + ch)).resize((W, H), Image.LANCZOS)
    return np.asarray(im, dtype=np.float32) / 255.0


def degrade_low_light(gt: np.ndarray, rng: np.random.Generator, *, exposure, gamma, cast: float, shot_noise,
                      read_noise) -> np.ndarray:
    """The low-light input of ``gt`` (module docstring) with :class:`MiniDataset`'s ranges; the draws are made in
    this order whatever the ranges."""
    exposure, gamma = rng.uniform(*exposure), rng.uniform(*gamma)
    cast = 1.0 + rng.uniform(-cast, cast, size=3)
    a, b = rng.uniform(*shot_noise), rng.uniform(*read_noise)
    dark = exposure * gt.astype(np.float64) ** gamma * cast
    low = dark + np.sqrt(a * np.clip(dark, 0, None) + b * b) * rng.standard_normal(gt.shape)
    return np.clip(low, 0.0, 1.0)


def _u8(a: np.ndarray) -> np.ndarray:
    return np.round(np.clip(a, 0, 1) * 255.0).astype(np.uint8)


@DATASETS.register("mini")
class MiniDataset(Dataset):
    def __init__(
        self,
        size: tuple[Side, Side] = (360, 540),
        test: Annotated[list[str], Check(len, "naming at least one photo")] = TEST,
        seed: int = 0,
        photos: list[str] = PHOTOS,
        views: Annotated[int, Range(1)] = 1,
        exposure: UnitRange = (0.15, 0.35),
        gamma: GammaRange = (1.5, 2.2),
        cast: Unit = 0.08,
        shot_noise: UnitRange = (0.002, 0.008),
        read_noise: UnitRange = (0.004, 0.012),
    ):
        if len(size) != 2 or min(size) < 8:
            raise LmarError(f"mini dataset: size must be [H, W] with both >= 8, got {size}")
        if not test:
            raise LmarError("mini dataset: the test split is empty; name at least one photo in params.test")
        stems = [Path(p).stem for p in photos]
        unknown = sorted(set(test) - set(stems))
        if unknown:
            raise LmarError(f"mini dataset: test images {unknown} are not among the photos {stems}")
        if not set(stems) - set(test):
            raise LmarError("mini dataset: every photo is in the test split; leave some for training")
        self.size, self.test, self.seed, self.photos = tuple(size), set(test), int(seed), tuple(photos)
        self.views = int(views)
        self.degradation = {"exposure": tuple(exposure), "gamma": tuple(gamma), "cast": float(cast),
                            "shot_noise": tuple(shot_noise), "read_noise": tuple(read_noise)}

    exact_shape = True  # every image is made at `size`

    @classmethod
    def training_identity(cls, params: dict) -> dict:
        """Size, seed, views, the degradation's ranges and the training photographs (those not in ``test``, in
        order): each training pair is made from its photograph, the seed, its view and the ranges alone
        (:meth:`prepare`), so the test split may gain photographs the training split never held without
        changing what a backbone learns. A range missing from ``params`` (a record written before the
        ranges were parameters) is the default, which is what that code drew from."""
        test = set(params["test"])
        defaults = {k: list(v) if isinstance(v, tuple) else v for k, v in _DEFAULTS.items()}
        return {"size": list(params["size"]), "seed": params["seed"], "views": params["views"],
                "train": [p for p in params["photos"] if Path(p).stem not in test],
                **{k: params.get(k, defaults[k]) for k in DEGRADATION}}

    def plan_shape(self) -> tuple[int, int, int, int]:
        n_test = len([p for p in self.photos if Path(p).stem in self.test])
        return (*self.size, (len(self.photos) - n_test) * self.views, n_test)

    def declared_test(self) -> tuple[str, list[str]]:
        """The test split: one pair per photograph named in ``params.test``, named by its stem."""
        return "test", sorted(self.test)

    def prepare(self, out_dir: str | Path, progress=None) -> None:
        with atomic_dir(out_dir) as tmp:
            for photo in progress(self.photos) if progress else self.photos:
                stem = Path(photo).stem
                split = "test" if stem in self.test else "train"
                im = _photo(photo)
                for k in range(1 if split == "test" else self.views):
                    rng = np.random.default_rng([self.seed, zlib.crc32(stem.encode()), k])
                    gt = fit(view(im, k, rng), self.size)
                    low = degrade_low_light(gt, rng, **self.degradation)
                    name = stem if k == 0 else f"{stem}_view{k}"
                    for sub, arr in (("gt", gt), ("input", low)):
                        (tmp / split / sub).mkdir(parents=True, exist_ok=True)
                        Image.fromarray(_u8(arr)).save(tmp / split / sub / f"{name}.png")


_DEFAULTS = {k: p.default for k, p in inspect.signature(MiniDataset).parameters.items() if k in DEGRADATION}
