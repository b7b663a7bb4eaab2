"""The data verbs: fetch a published dataset, build or link one into {train,test}/{input,gt}, validate
it by file name, and seed the weights the metrics and losses need (offline)."""

from __future__ import annotations

from pathlib import Path

from lmar.cli.verb_table import flag, spec, verb


@verb("fetch-data", "download a published dataset (resumable, checksummed, safely extracted)",
      spec("--spec", "dataset entry as JSON: {type, params}"),
      flag("--name", default="dataset"),
      flag("--out", type=Path, required=True, help="folder for the extracted files"),
      flag("--archives", type=Path, required=True, help="folder for the downloaded archives (kept to resume)"),
      flag("--lock", type=Path, required=True, help="JSON lock file of sha256 checksums"))
def fetch_data(args):
    from lmar.data.fetch import fetch

    fetch(args.spec, args.name, args.out, args.archives, args.lock)


@verb("prepare-data", "build a dataset, or validate and link one, into {train,test}/{input,gt}",
      spec("--spec", "dataset entry as JSON: {type, params}"),
      flag("--name", default="dataset"),
      flag("--out", type=Path, required=True),
      flag("--download-dir", type=Path, default=None, help="where the download step put a published dataset"))
def prepare_data(args):
    from tqdm import tqdm

    from lmar.core.registry import DATASETS

    entry = args.spec
    if args.download_dir is not None:
        entry = {**entry, "params": {**(entry.get("params") or {}), "download_dir": str(args.download_dir)}}
    DATASETS.build(entry, f"datasets.{args.name}").prepare(args.out, progress=lambda it: tqdm(it, desc="prepare"))


@verb("validate-data", "check a prepared dataset; lists every problem by file name",
      flag("root", type=Path, help="a folder with {train,test}/{input,gt}"),
      flag("--expect-train", type=int, default=None),
      flag("--expect-test", type=int, default=None),
      flag("--no-decode", action="store_true", help="check headers only, do not decode every image"))
def validate_data(args):
    from lmar.data.validate import raise_if_problems, split_problems

    problems = []
    for split, n in (("train", args.expect_train), ("test", args.expect_test)):
        problems += split_problems(args.root / split / "input", args.root / split / "gt", n, not args.no_decode)
    raise_if_problems(problems, str(args.root))
    print(f"{args.root}: ok")


@verb("seed-weights", "pre-seed LPIPS (AlexNet + linear layers) and VGG16 weights",
      flag("--dir", type=Path, required=True, help="the TORCH_HOME to fill"),
      flag("--names", nargs="+", default=["alexnet", "lpips_alex", "vgg16"]),
      flag("--required", nargs="*", default=[], help="names whose absence is an error"),
      flag("--status", type=Path, required=True, help="JSON status file to write"))
def seed_weights(args):
    from lmar.parts import weights

    status = weights.seed_weights(args.dir, args.names, args.required)
    weights.write_status(status, args.status)
    for name, st in status.items():
        print(f"{name}: {'ok ' + st['path'] if st['ok'] else 'MISSING: ' + st['reason']}")
