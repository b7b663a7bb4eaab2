"""The public UHD datasets: where each comes from, how it is laid out,
how many pairs it has. ``prepare`` links the published folders into our layout
``<out>/{train,test}/{input,gt}`` (symbolic links: nothing is copied) after validating them.

A dataset is taken from ``local_path`` when given (data the user already has), else from
``download_dir`` (fetched there by the workflow's download step, or put there by hand for a
manual source).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from tqdm import tqdm

from lmar.core.atomic import atomic_dir
from lmar.core.errors import LmarError
from lmar.core.params import NonNegativeInt
from lmar.core.registry import DATASETS
from lmar.data.base import Dataset
from lmar.data.validate import raise_if_problems, split_problems

OUR_LAYOUT = ("train/input", "train/gt", "test/input", "test/gt")


class PublishedDataset(Dataset):
    """Subclasses set the class attributes; params override layout and expected counts."""

    title = ""
    source: dict = {}  # kind: url | gdrive_file | gdrive_folder | manual, plus its fields
    layout: dict = {}  # our "train/input" etc. -> the published relative folder
    expected: dict = {}  # {"train": n, "test": n}
    remote = True  # the workflow may fetch it (manual sources stop with instructions)

    def __init__(
        self,
        local_path: str | None = None,
        download_dir: str | None = None,
        layout: dict[str, str] | None = None,
        expected: Literal["published"] | dict[str, NonNegativeInt] | None = "published",
        decode: bool = True,
    ):
        self.local_path = Path(local_path).expanduser() if local_path else None
        self.download_dir = Path(download_dir) if download_dir else None
        self.layout = {**type(self).layout, **(layout or {})}
        unknown = sorted(set(self.layout) - set(OUR_LAYOUT))
        if unknown:
            raise LmarError(f"{self.title}: layout keys must be among {OUR_LAYOUT}, got {unknown}")
        self.expected = dict(type(self).expected) if expected == "published" else dict(expected or {})
        self.decode = decode

    def plan_shape(self) -> tuple[int, int, int, int]:
        """UHD frames, and the published (or configured) pair counts."""
        H, W, n_train, n_test = self.PLAN_SHAPE
        return H, W, int(self.expected.get("train", n_train)), int(self.expected.get("test", n_test))

    def declared_test(self) -> tuple[str, int] | None:
        """The expected number of test pairs (published or ``params.expected``), when there is one."""
        n = self.expected.get("test")
        return None if n is None else ("expected.test", int(n))

    def instructions(self, where: Path) -> str:
        want = ", ".join(f"{self.layout[k]}/" for k in OUR_LAYOUT)
        return f"put its published folders {want} under {where}"

    def find_root(self, base: Path) -> Path:
        """The folder holding the published layout: ``base`` or up to two folder levels below
        (the download step extracts into ``extracted/``; archives often add one top folder)."""
        first = self.layout["train/input"]
        level = [base] if base.is_dir() else []
        for _ in range(3):
            for c in level:
                if (c / first).is_dir():
                    return c
            level = [p for c in level for p in sorted(c.iterdir()) if p.is_dir()]
        raise LmarError(
            f"{base} does not hold the {self.title} layout (no {first}/ in it or two levels below): "
            + self.instructions(base)
        )

    def prepare(self, out_dir: str | Path, progress=None) -> None:
        base = self.local_path or self.download_dir
        if base is None:
            raise LmarError(f"{self.title}: set params.local_path (data you have) or run the download step")
        if not base.exists():
            raise LmarError(f"{self.title}: {base} does not exist; {self.instructions(base)}")
        root = self.find_root(base).resolve()
        check_apart(out_dir, base, root)
        problems = []
        for split in ("train", "test"):
            inputs, gts = root / self.layout[f"{split}/input"], root / self.layout[f"{split}/gt"]
            bar = (lambda it, s=split: tqdm(it, desc=f"validate {s}", unit="pair", mininterval=5)) if progress else None
            problems += split_problems(inputs, gts, self.expected.get(split), self.decode, bar)
        raise_if_problems(problems, str(root))
        with atomic_dir(out_dir) as tmp:
            for ours in OUR_LAYOUT:
                (tmp / ours).parent.mkdir(parents=True, exist_ok=True)
                os.symlink(root / self.layout[ours], tmp / ours, target_is_directory=True)


def check_apart(out_dir: str | Path, *sources: Path) -> None:
    """Refuse an output folder that is, holds or lies inside a source folder: preparing replaces the
    output folder whole, so it would delete the data it prepares from."""
    out = Path(out_dir).resolve()
    for src in sources:
        src = Path(src).resolve()
        if out == src or out.is_relative_to(src) or src.is_relative_to(out):
            raise LmarError(f"output folder {out_dir} overlaps the dataset's folder {src}: preparing replaces the "
                            "output folder whole, which would delete that data. Give an output folder outside it")


@DATASETS.register("uhd_lol4k")
class UHDLOL4K(PublishedDataset):
    title = "UHD-LOL4K (LLFormer, AAAI 2023)"
    source = {
        "kind": "manual",
        "where": "the Baidu Netdisk / OneDrive links on the LLFormer project page "
        "(https://github.com/TaoWangzj/LLFormer)",
    }
    layout = {"train/input": "train/low", "train/gt": "train/high", "test/input": "test/low", "test/gt": "test/high"}
    expected = {"train": 5999, "test": 2100}
    remote = False


@DATASETS.register("uhd_ll")
class UHDLL(PublishedDataset):
    title = "UHD-LL (UHDFour, ICLR 2023)"
    source = {"kind": "gdrive_file", "id": "1IneTwBsSiSSVXGoXQ9_hE1cO2d4Fd4DN", "file": "UHD-LL.zip"}
    layout = {
        "train/input": "training_set/input",
        "train/gt": "training_set/gt",
        "test/input": "testing_set/input",
        "test/gt": "testing_set/gt",
    }
    expected = {"train": 2000, "test": 150}


_TRAIN_TEST = {"train/input": "train/input", "train/gt": "train/gt", "test/input": "test/input", "test/gt": "test/gt"}


@DATASETS.register("uhd_haze")
class UHDHaze(PublishedDataset):
    # folder layout assumed {train,test}/{input,gt}: verify after download, override with params.layout
    title = "UHD-Haze (UHDformer, AAAI 2024)"
    source = {"kind": "gdrive_folder", "id": "1PVCPkhqU_voPVFZj3FzAtUkJnQnF9lSa"}
    layout = _TRAIN_TEST
    expected = {"train": 2290, "test": 230}


@DATASETS.register("uhd_blur")
class UHDBlur(PublishedDataset):
    # folder layout assumed {train,test}/{input,gt}: verify after download, override with params.layout
    title = "UHD-Blur (UHDformer, AAAI 2024)"
    source = {"kind": "gdrive_folder", "id": "1O6JYkOELLhpEkirAnxUB2JGWMqgwVvmX"}
    layout = _TRAIN_TEST
    expected = {"train": 1964, "test": 300}


@DATASETS.register("folder")
class Folder(PublishedDataset):
    """Any local dataset already in (or mapped by params.layout onto) our layout."""

    title = "folder dataset"
    layout = _TRAIN_TEST
    expected = {}
    remote = False
