"""The download step: fetch a published dataset's files into ``resources/downloads/<name>``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from lmar.core.atomic import atomic_dir
from lmar.core.errors import LmarError
from lmar.core.registry import DATASETS
from lmar.data.download import download, gdrive_download, gdrive_folder_download, verify_or_record
from lmar.data.extract import safe_extract

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tgz", ".tar.gz", ".tar.bz2", ".tar.xz")


def is_archive(path: Path) -> bool:
    return path.name.lower().endswith(ARCHIVE_SUFFIXES)


def fetch(spec: dict, name: str, out_dir: Path, archives: Path, lockfile: Path) -> None:
    """Download (resumably, checksummed) and safely extract; a manual source stops with instructions."""
    cls = DATASETS.get(spec.get("type"), f"datasets.{name}.type")
    dataset = DATASETS.build(spec, f"datasets.{name}")
    source = getattr(cls, "source", {}) or {}
    kind = source.get("kind")
    if dataset.local_path is not None:
        raise LmarError(f"datasets.{name} has params.local_path: nothing to download")
    if kind == "manual" or not getattr(cls, "remote", False):
        where = source.get("where", "its publisher")
        raise LmarError(
            f"{cls.title} cannot be downloaded automatically: get it from {where}, then either "
            f"{dataset.instructions(out_dir)} or set datasets.{name}.params.local_path to where it is."
        )
    archives.mkdir(parents=True, exist_ok=True)
    with atomic_dir(out_dir) as tmp:
        if kind == "url":
            archive = archives / source["file"]
            download(source["url"], archive, sha256=source.get("sha256"))
            verify_or_record(lockfile, f"{name}/{source['file']}", archive)
            safe_extract(archive, tmp / "extracted")
        elif kind == "gdrive_file":
            archive = archives / source["file"]
            gdrive_download(source["id"], archive, sha256=source.get("sha256"))
            verify_or_record(lockfile, f"{name}/{source['file']}", archive)
            safe_extract(archive, tmp / "extracted")
        elif kind == "gdrive_folder":
            folder = archives / "folder"
            gdrive_folder_download(source["id"], folder)
            owner: dict[Path, Path] = {}  # each unpacked file: the archive it came from
            for f in sorted(folder.rglob("*")):
                if f.is_file() and is_archive(f):
                    verify_or_record(lockfile, f"{name}/{f.relative_to(folder)}", f)
                    part = tmp / "parts" / "archive"
                    safe_extract(f, part)
                    merge_into(part, tmp / "extracted", f, owner)
            shutil.rmtree(tmp / "parts", ignore_errors=True)
            if not (tmp / "extracted").exists():
                (tmp / "extracted").symlink_to(folder.resolve(), target_is_directory=True)
        else:
            raise LmarError(f"{cls.title}: unknown source kind {kind!r} in its registry entry")
        dataset.find_root(tmp / "extracted")  # the published layout must be there


def merge_into(part: Path, dest: Path, archive: Path, owner: dict[Path, Path]) -> None:
    """Move the files unpacked from ``archive`` (in ``part``) into the tree ``dest``, which the folder's
    other archives fill too (one may hold the train split, another the test split); a file that two
    archives both hold is an LmarError naming them (it would be overwritten)."""
    for src in sorted(part.rglob("*")):
        if src.is_dir():
            continue
        rel = src.relative_to(part)
        if rel in owner:
            raise LmarError(f"archives {owner[rel]} and {archive} both hold {rel}; one would overwrite the other. "
                            f"This is not the published download: delete {archive.parent} and download again")
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dest / rel)
        owner[rel] = archive
    shutil.rmtree(part)
