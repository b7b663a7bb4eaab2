"""A prepared dataset: ``<root>/{train,test}/{input,gt}/<name>.<ext>``, one gt per input."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lmar.core.errors import LmarError
from lmar.data.images import EXTENSIONS, image_size

SPLITS = ("train", "test")


@dataclass(frozen=True)
class Pair:
    name: str
    input: Path
    gt: Path


def images_by_stem(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in EXTENSIONS:
            if p.stem in found:
                raise LmarError(f"two images named {p.stem!r} in {folder}: {found[p.stem].name} and {p.name}")
            found[p.stem] = p
    return found


def list_pairs(root: str | Path, split: str, check_sizes: bool = True) -> list[Pair]:
    """The (input, gt) pairs of one split, validated: folders exist, every input has a gt of its size."""
    root = Path(root)
    base = root / split
    for sub in ("input", "gt"):
        if not (base / sub).is_dir():
            raise LmarError(
                f"missing dataset folder {base / sub}. A prepared dataset has {root}/{{train,test}}/{{input,gt}}/; "
                "run the workflow's prepare step (snakemake ... prepare) or fix the dataset path."
            )
    inputs, gts = images_by_stem(base / "input"), images_by_stem(base / "gt")
    missing = sorted(set(inputs) - set(gts))
    if missing:
        raise LmarError(
            f"input without ground truth: {inputs[missing[0]]} has no {base / 'gt' / missing[0]}.* "
            f"({len(missing)} input(s) affected). Add the ground truth or remove the input."
        )
    if not inputs:
        raise LmarError(f"no images in {base / 'input'} (extensions {', '.join(EXTENSIONS)})")
    pairs = [Pair(n, inputs[n], gts[n]) for n in sorted(inputs)]
    if check_sizes:
        for p in pairs:
            si, sg = image_size(p.input), image_size(p.gt)
            if si != sg:
                raise LmarError(
                    f"size mismatch: input {p.input} is {si[0]}x{si[1]} but its ground truth {p.gt} is "
                    f"{sg[0]}x{sg[1]} (HxW). Input and ground truth must be the same size."
                )
    return pairs
