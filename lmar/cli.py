"""``python -m lmar <verb>`` (or ``lmar <verb>``): every Snakemake rule calls one verb.

Errors in the user's input print one line ``error: ...`` and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from lmar.core.errors import LmarError

log = logging.getLogger("lmar")
# lmar.core.runtime.PRECISIONS, repeated so that --help imports no torch (tested)
PRECISIONS = ("fp32", "tf32", "bf16", "fp16")


def _no_curve(ckpt: Path) -> None:
    """A part converted from released weights was not trained: its curve has the header alone."""
    from lmar.run.curves import curve_path, write_curve

    write_curve([], curve_path(ckpt))


def _shared_folder(paths) -> Path:
    """The deepest folder holding every one of ``paths`` (their labels are the rest of each path)."""
    import os

    return Path(os.path.commonpath([str(Path(p).parent) for p in paths])) if paths else Path(".")


def _json(option: str):
    def parse(text: str):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise argparse.ArgumentTypeError(f"{option} must be JSON: {exc}") from None
        if not isinstance(value, dict):
            raise argparse.ArgumentTypeError(f"{option} must be a JSON object")
        return value

    return parse


def _allow(p: argparse.ArgumentParser) -> None:
    p.add_argument("--allow-module", action="append", default=[], metavar="MODULE",
                   help="a module that checkpoint specs may name besides registered parts (checkpoints are data: "
                        "code they name is imported only from modules given here); repeat for several")


def _released(p: argparse.ArgumentParser) -> None:
    p.add_argument("--released", type=Path, default=None, metavar="FILE",
                   help="the authors' released weights (sha256 checked): convert them instead of training")


def _resume(p: argparse.ArgumentParser) -> None:
    p.add_argument("--save-every-steps", type=int, default=0, metavar="N",
                   help="save the resume state every N optimiser steps (0: off); a rerun resumes from it")
    p.add_argument("--save-every-minutes", type=float, default=10.0, metavar="M",
                   help="save the resume state every M minutes of training (0: off; default 10)")


def _save(args) -> dict:
    if args.save_every_steps < 0 or args.save_every_minutes < 0:
        raise LmarError("--save-every-steps and --save-every-minutes must be >= 0 (0 switches one off)")
    return {"every_steps": args.save_every_steps, "every_minutes": args.save_every_minutes}


def _common(p: argparse.ArgumentParser, seed: bool = True) -> None:
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N] (default: auto)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for PyTorch")
    if seed:
        p.add_argument("--seed", type=int, default=0)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="lmar", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="verb", required=True, metavar="VERB")

    p = sub.add_parser("fetch-data", help="download a published dataset (resumable, checksummed, safely extracted)")
    p.add_argument("--spec", type=_json("--spec"), required=True, help="dataset entry as JSON: {type, params}")
    p.add_argument("--name", default="dataset")
    p.add_argument("--out", type=Path, required=True, help="folder for the extracted files")
    p.add_argument("--archives", type=Path, required=True, help="folder for the downloaded archives (kept to resume)")
    p.add_argument("--lock", type=Path, required=True, help="JSON lock file of sha256 checksums")

    p = sub.add_parser("prepare-data", help="build a dataset, or validate and link one, into {train,test}/{input,gt}")
    p.add_argument("--spec", type=_json("--spec"), required=True, help="dataset entry as JSON: {type, params}")
    p.add_argument("--name", default="dataset")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--download-dir", type=Path, default=None, help="where the download step put a published dataset")

    p = sub.add_parser("validate-data", help="check a prepared dataset; lists every problem by file name")
    p.add_argument("root", type=Path, help="a folder with {train,test}/{input,gt}")
    p.add_argument("--expect-train", type=int, default=None)
    p.add_argument("--expect-test", type=int, default=None)
    p.add_argument("--no-decode", action="store_true", help="check headers only, do not decode every image")

    p = sub.add_parser("seed-weights", help="pre-seed LPIPS (AlexNet + linear layers) and VGG16 weights")
    p.add_argument("--dir", type=Path, required=True, help="the TORCH_HOME to fill")
    p.add_argument("--names", nargs="+", default=["alexnet", "lpips_alex", "vgg16"])
    p.add_argument("--required", nargs="*", default=[], help="names whose absence is an error")
    p.add_argument("--status", type=Path, required=True, help="JSON status file to write")

    p = sub.add_parser("pretrain-backbone", help="train an enhancement backbone (L1 to ground truth)")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--spec", type=_json("--spec"), required=True, help="backbone entry as JSON: {type, params, train}")
    p.add_argument("--name", default="backbone")
    p.add_argument("--out", type=Path, required=True)
    _released(p)
    p.add_argument("--from-zoo", type=Path, default=None, metavar="FILE",
                   help="a zoo checkpoint (lmar/zoo) whose entry matches this backbone: copy it and its curve "
                        "(sha256 checked) instead of training")
    _resume(p)
    _common(p)

    p = sub.add_parser("zoo-entry", help="publish a trained backbone as a zoo entry (checkpoint, curve, record)")
    p.add_argument("--ckpt", type=Path, required=True, help="the trained backbone checkpoint")
    p.add_argument("--dataset", required=True, help="the dataset's config name")
    p.add_argument("--dataset-spec", type=_json("--dataset-spec"), required=True, help="its config entry as JSON")
    p.add_argument("--backbone", required=True, help="the backbone's config name")
    p.add_argument("--spec", type=_json("--spec"), required=True, help="the backbone's config entry as JSON")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out-dir", type=Path, required=True)

    p = sub.add_parser("train-resampler", help="train a resampler against a frozen backbone")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--backbone", type=Path, required=True, help="backbone checkpoint")
    p.add_argument("--spec", type=_json("--spec"), required=True, help="resampler entry as JSON: {type, params, train}")
    p.add_argument("--name", default="resampler")
    p.add_argument("--out", type=Path, required=True)
    _released(p)
    _resume(p)
    _allow(p)
    _common(p)

    p = sub.add_parser("evaluate", help="DEU on the test split at each scale; per-image metrics CSV")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--backbone", type=Path, required=True, help="backbone checkpoint")
    p.add_argument("--resampler-spec", type=_json("--resampler-spec"), required=True)
    p.add_argument("--resampler-ckpt", type=Path, default=None)
    p.add_argument("--evaluation", type=_json("--evaluation"), required=True, help="{scales, upsampler, metrics}")
    p.add_argument("--labels", type=_json("--labels"), required=True, help="{dataset, backbone, resampler, config_hash}")
    p.add_argument("--dataset-spec", type=_json("--dataset-spec"), default=None,
                   help="the dataset's entry as JSON {type, params}: a test split other than it declares is refused")
    p.add_argument("--out", type=Path, required=True, help="metrics CSV")
    p.add_argument("--images", type=Path, required=True, help="folder for the enhanced outputs")
    _allow(p)
    _common(p)

    p = sub.add_parser("gather", help="join evaluation CSVs into the results store (Parquet and CSV)")
    p.add_argument("results", nargs="+", type=Path)
    p.add_argument("--out", type=Path, required=True, help="the store: results.parquet")
    p.add_argument("--out-csv", type=Path, required=True, help="the same rows as CSV")
    p.add_argument("--out-left-out", type=Path, default=None, help="leave out a results file that cannot be read "
                   "or lacks columns, noted in this file (the table step reads it); without it, such a file is an error")

    p = sub.add_parser("record", help="the resolved config, pip freeze and per-job cost, for the report")
    p.add_argument("--config", type=_json("--config"), default=None, help="the resolved config, as JSON")
    p.add_argument("--out-config", type=Path, default=None)
    p.add_argument("--out-env", type=Path, default=None, help="pip freeze of this interpreter")
    p.add_argument("--benchmarks", type=Path, nargs="*", default=[], help="Snakemake benchmark files")
    p.add_argument("--benchmark-root", type=Path, default=None, help="job labels are paths under it "
                   "(default: the folder the benchmark files share)")
    p.add_argument("--out-costs", type=Path, default=None, help="per-job time and memory (Markdown; CSV beside)")

    p = sub.add_parser("table", help="Markdown tables from the results store (or evaluation CSVs)")
    p.add_argument("results", nargs="+", type=Path)
    p.add_argument("--out-md", type=Path, required=True)
    p.add_argument("--out-csv", type=Path, default=None, help="also write the rows read, joined")
    p.add_argument("--out-tex", type=Path, default=None, help="the tables in LaTeX (booktabs)")
    p.add_argument("--out-stats", type=Path, default=None, help="the tables' numbers (means, intervals, paired)")
    p.add_argument("--gain", nargs=2, default=["lmar", "bicubic"], metavar=("A", "B"), help="add an A - B row")
    p.add_argument("--title", default="")
    p.add_argument("--left-out", type=Path, nargs="*", default=[], help="notes of earlier steps (gather's) to carry")
    p.add_argument("--out-left-out", type=Path, default=None, help="write what was left out here and exit 0; without "
                   "it, exit status 3 says that something was left out (every output still written)")

    p = sub.add_parser("left-out", help="print what a run left out of its tables; exit 3 if anything, else 0")
    p.add_argument("records", nargs="+", type=Path, help="left_out.md files the table step wrote")

    p = sub.add_parser("plot", help="seaborn plots from the results store (PNG, and PDF beside each)")
    p.add_argument("results", type=Path)
    p.add_argument("--out", type=Path, required=True, help="PSNR against downscaling factor: each resampler's paired "
                   "difference to the --gain baseline B, and its mean PSNR")
    p.add_argument("--out-gain", type=Path, default=None, help="gain heatmap, backbone x target")
    p.add_argument("--out-latency", type=Path, default=None, help="PSNR against end-to-end time")
    p.add_argument("--gain", nargs=2, default=["lmar", "bicubic"], metavar=("A", "B"),
                   help="the gain heatmap shows A - B; B is the baseline of the PSNR figure's differences")

    p = sub.add_parser("plot-curves", help="training curves (loss per epoch) of every training job")
    p.add_argument("curves", nargs="+", type=Path, help="curve CSVs written beside the checkpoints")
    p.add_argument("--root", type=Path, default=None, help="job labels are the paths under this folder "
                   "(default: the folder the curves share)")
    p.add_argument("--out", type=Path, required=True)

    p = sub.add_parser("figures", help="zoomed crops of every resampler's output, and LMAR's map for one input")
    p.add_argument("--data", type=Path, required=True, help="the prepared dataset")
    p.add_argument("--outputs", type=Path, required=True, help="<outputs>/<resampler>/<target>/<image>.png")
    p.add_argument("--evaluation", type=_json("--evaluation"), required=True, help="the config's evaluation block")
    p.add_argument("--resamplers", nargs="+", required=True)
    p.add_argument("--image", default=None, help="a test image's name (default: the first)")
    p.add_argument("--out-crops", type=Path, required=True)
    p.add_argument("--lmar-ckpt", type=Path, default=None)
    p.add_argument("--out-lmar", type=Path, default=None)

    p = sub.add_parser("enhance", help="run one image of any size, or every image in a folder, through "
                                       "Downsample -> Enhance -> Upsample")
    p.add_argument("input", type=Path, help="an image, or a folder of images (its other files are skipped)")
    p.add_argument("output", type=Path, help="the output file: .png, .jpg/.jpeg, .tif/.tiff or .bmp (16-bit PNG or "
                                             "TIFF for a 16-bit input); never the input itself. For an input folder: "
                                             "the output folder (created), each image written under its own name")
    p.add_argument("--suffix", default=None, metavar=".png",
                   help="folder mode: write every output in this format (default: each input's own suffix)")
    p.add_argument("--force", action="store_true",
                   help="run a resampler checkpoint trained against another backbone than --backbone (warned)")
    p.add_argument("--backbone", type=Path, required=True, help="backbone checkpoint")
    p.add_argument("--resampler", default="bicubic", help="a registered untrained resampler, or a resampler checkpoint")
    p.add_argument("--scale", required=True, help="downscaling factor >= 1 (1 with full_resolution)")
    p.add_argument("--upsampler", default="bicubic")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="fp32 (default), or tf32 / bf16 / fp16 autocast (on CUDA LMAR runs its fused kernel in tf32 "
                        "and bf16, its PyTorch path in fp16)")
    p.add_argument("--quality", type=int, default=95, choices=range(1, 101), metavar="1-100",
                   help="JPEG quality (default 95)")
    _allow(p)
    _common(p, seed=False)

    p = sub.add_parser("bench", help="speed and memory benchmarks (ratios within one run) to JSON")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--backbones", type=_json("--backbones"), default=None, help="config 'backbones' as JSON")
    p.add_argument("--size", type=int, nargs=2, default=[2160, 3840], metavar=("H", "W"))
    p.add_argument("--repeats", type=int, default=None, help="timed runs per case (default: 10 on GPU, 1 on CPU)")
    p.add_argument("--train-crop", type=int, default=None, help="training-step crop (default: 1024 on GPU, 256 on CPU)")
    p.add_argument("--sections", nargs="+", default=None, help="resample profile deu train metrics decode (default: all)")
    p.add_argument("--train-options", nargs="+", default=None,
                   help="training speed options to time: 'fp32' 'bf16' 'bf16 channels-last' 'bf16 channels-last compile'"
                        " (default: all on GPU, fp32 on CPU)")
    _common(p, seed=False)

    p = sub.add_parser("bench-eval", help="the evaluation at scale on a synthetic set, extrapolated to the paper's "
                                          "protocols: JSON and a markdown table")
    p.add_argument("--out", type=Path, required=True, help="folder for scale.json and scale.md")
    p.add_argument("--size", type=int, nargs=2, default=None, metavar=("H", "W"),
                   help="the synthetic pairs' size (default: 2160 3840 on GPU, 540 960 on CPU)")
    p.add_argument("--pairs", type=int, default=None, help="synthetic test pairs (default: 32 on GPU, 4 on CPU)")
    p.add_argument("--workers", default="auto", help="decoding workers: auto or a number (evaluation.workers)")
    p.add_argument("--save-outputs", default="3", help="outputs written per job: a number or all (evaluation.save_outputs)")
    p.add_argument("--precision", choices=PRECISIONS, default=None,
                   help="the evaluation's precision (default: the paper config's, fp32)")
    _common(p, seed=False)

    p = sub.add_parser("tune-kernel", help="time and check the fused LMAR kernel's launch candidates on a GPU, to JSON")
    p.add_argument("--out", type=Path, required=True)
    # the fused kernel's compute modes (lmar.parts.lmar.fused.lmar_triton.COMPUTES): every precision but fp16
    p.add_argument("--computes", nargs="+", choices=[c for c in PRECISIONS if c != "fp16"], default=["tf32", "bf16"])
    p.add_argument("--size", type=int, nargs=2, default=[2160, 3840], metavar=("H", "W"))

    p = sub.add_parser("fetch-released", help="download one of the authors' released files (sha256 checked)")
    p.add_argument("--name", choices=("backbone", "lmar"), required=True)
    p.add_argument("--out", type=Path, required=True)

    sub.add_parser("list", help="the registered backbones, resamplers and datasets")
    return ap


def run(args: argparse.Namespace) -> int:
    from lmar.core import runtime

    runtime.setup(getattr(args, "seed", None), getattr(args, "threads", None))
    if args.verb == "fetch-data":
        from lmar.data.fetch import fetch

        fetch(args.spec, args.name, args.out, args.archives, args.lock)
    elif args.verb == "prepare-data":
        from tqdm import tqdm

        from lmar.core.registry import DATASETS

        spec = args.spec
        if args.download_dir is not None:
            spec = {**spec, "params": {**(spec.get("params") or {}), "download_dir": str(args.download_dir)}}
        DATASETS.build(spec, f"datasets.{args.name}").prepare(args.out, progress=lambda it: tqdm(it, desc="prepare"))
    elif args.verb == "validate-data":
        from lmar.data.validate import raise_if_problems, split_problems

        problems = []
        for split, n in (("train", args.expect_train), ("test", args.expect_test)):
            problems += split_problems(args.root / split / "input", args.root / split / "gt", n, not args.no_decode)
        raise_if_problems(problems, str(args.root))
        print(f"{args.root}: ok")
    elif args.verb == "seed-weights":
        from lmar.parts.weights import seed_weights, write_status

        status = seed_weights(args.dir, args.names, args.required)
        write_status(status, args.status)
        for name, st in status.items():
            print(f"{name}: {'ok ' + st['path'] if st['ok'] else 'MISSING: ' + st['reason']}")
    elif args.verb == "pretrain-backbone":
        if args.released:
            from lmar.run.checkpoint import import_released

            import_released("backbone", args.spec, args.released, args.out, f"config key backbones.{args.name}")
            _no_curve(args.out)
            return 0
        if args.from_zoo:
            from lmar.run.curves import curve_path
            from lmar.run.zoo import take

            record = take(args.from_zoo, args.out, curve_path(args.out))
            print(f"{args.out}: the zoo's {record['name']} (sha256 {record['sha256'][:12]}), not trained here")
            return 0
        from lmar.run.train import pretrain_backbone

        pretrain_backbone(args.data, args.spec, args.out, runtime.resolve_device(args.device), args.seed, args.name,
                          _save(args))
    elif args.verb == "zoo-entry":
        from lmar.run.curves import curve_path
        from lmar.run.zoo import write_entry

        print(write_entry(args.ckpt, curve_path(args.ckpt), args.dataset, args.dataset_spec, args.backbone, args.spec,
                          args.seed, args.out_dir))
    elif args.verb == "train-resampler":
        if args.released:
            from lmar.run.checkpoint import import_released

            import_released("resampler", args.spec, args.released, args.out, f"config key resamplers.{args.name}")
            _no_curve(args.out)
            return 0
        from lmar.run.train import train_resampler

        train_resampler(args.data, args.backbone, args.spec, args.out, runtime.resolve_device(args.device), args.seed,
                        args.name, args.allow_module, _save(args))
    elif args.verb == "evaluate":
        from lmar.run.evaluate import evaluate

        labels = {**args.labels, "seed": args.seed}
        evaluate(args.data, args.backbone, args.resampler_spec, args.resampler_ckpt, args.evaluation,
                 args.out, args.images, runtime.resolve_device(args.device), labels, args.allow_module,
                 dataset_spec=args.dataset_spec)
    elif args.verb == "gather":
        from lmar.report.store import gather

        gather(args.results, args.out, args.out_csv, args.out_left_out)
    elif args.verb == "record":
        from lmar.run import run_record

        if args.out_config:
            run_record.write_config(args.config or {}, args.out_config)
        if args.out_env:
            run_record.write_environment(args.out_env)
        if args.out_costs:
            root = args.benchmark_root or _shared_folder(args.benchmarks)
            run_record.write_job_costs(args.benchmarks, root, args.out_costs, args.out_costs.with_suffix(".csv"))
    elif args.verb == "table":
        from lmar.report.left_out import LEFT_OUT
        from lmar.report.write import write_table

        _, notes = write_table(args.results, args.out_md, args.out_csv, tuple(args.gain), args.title, args.out_tex,
                               args.out_stats, args.left_out, args.out_left_out)
        if notes and args.out_left_out is None:
            print(f"{len(notes)} thing(s) left out of the tables (listed at the top of {args.out_md})", file=sys.stderr)
            return LEFT_OUT
    elif args.verb == "left-out":
        from lmar.report.left_out import check

        status, notes = check(args.records)
        for note in notes:
            print(f"left out: {note}", file=sys.stderr)
        print(f"{len(notes)} thing(s) left out of the tables; see {', '.join(map(str, args.records))}" if notes
              else "nothing was left out of the tables")
        return status
    elif args.verb == "plot":
        from lmar.report.plots import write_plots

        write_plots(args.results, args.out, args.out_gain, args.out_latency, tuple(args.gain))
    elif args.verb == "plot-curves":
        from lmar.report.plots import training_curves

        training_curves(args.curves, args.root or _shared_folder(args.curves), args.out)
    elif args.verb == "figures":
        from lmar.report.figures import write_figures

        write_figures(args.data, args.outputs, args.evaluation, args.resamplers, args.out_crops, args.lmar_ckpt,
                      args.out_lmar, args.image)
    elif args.verb == "enhance":
        from lmar.run.enhance import enhance_file, enhance_folder

        how = (args.backbone, args.resampler, args.scale, args.upsampler, runtime.resolve_device(args.device),
               args.precision, args.quality, args.allow_module, args.force)
        if args.input.is_dir():
            return 1 if enhance_folder(args.input, args.output, *how, suffix=args.suffix) else 0
        if args.suffix is not None:
            raise LmarError(f"--suffix is for an input folder; {args.input} is not one: the output's own suffix "
                            "names its format")
        print(enhance_file(args.input, args.output, *how))
    elif args.verb == "bench":
        from lmar.bench.benchmarks import SECTIONS, run_suite
        from lmar.core.atomic import write_json

        # written after every case too, so a run cut short keeps what it measured
        result = run_suite(args.device, args.backbones, tuple(args.size), args.threads, args.repeats,
                           args.train_crop, progress=lambda m: print(m, flush=True),
                           sections=args.sections or SECTIONS, train_options=args.train_options,
                           partial=lambda r: write_json(args.out, r))
        write_json(args.out, result)
        for k, v in result["ratios"].items():
            print(f"{k}: {v:.3g}")
        if result["failed"]:
            for label, error in result["failed"].items():
                print(f"error: benchmark case {label!r} failed: {error}", file=sys.stderr)
            print(f"error: {len(result['failed'])} benchmark case(s) failed; the others are in {args.out}",
                  file=sys.stderr)
            return 1
    elif args.verb == "bench-eval":
        from lmar.bench import scale_bench
        from lmar.core.atomic import atomic_path, write_json

        device = runtime.resolve_device(args.device)
        gpu = device.type == "cuda"
        hw = tuple(args.size) if args.size else (scale_bench.UHD if gpu else (540, 960))
        pairs = args.pairs or (32 if gpu else 4)
        if pairs < 1 or min(hw) < 64:
            raise LmarError("--pairs must be at least 1 and --size at least 64 64")
        number = lambda v: v if v in ("auto", "all") else int(v)  # noqa: E731
        args.out.mkdir(parents=True, exist_ok=True)
        result = scale_bench.run(args.out, str(device), hw, pairs, args.threads, number(args.workers),
                                 number(args.save_outputs), progress=lambda m: print(m, flush=True),
                                 precision=args.precision, partial=lambda r: write_json(args.out / "scale.json", r))
        write_json(args.out / "scale.json", result)
        with atomic_path(args.out / "scale.md") as t:
            t.write_text(scale_bench.markdown(result))
        print(scale_bench.markdown(result))
    elif args.verb == "tune-kernel":
        from lmar.bench.tuning import tune
        from lmar.core.atomic import write_json

        H, W = args.size
        result = tune((H, W), (round(H / 1.8), round(W / 1.8)), computes=tuple(args.computes),
                      progress=lambda m: print(m, flush=True), partial=lambda r: write_json(args.out, r))
        write_json(args.out, result)
        print(f"fastest correct launch per mode: export LMAR_FUSED_LAUNCH='{json.dumps(result['best'])}'")
    elif args.verb == "fetch-released":
        from lmar.parts.lmar.released import fetch

        fetch(args.name, args.out)
    elif args.verb == "list":
        from lmar.run.listing import list_parts

        print("\n".join(list_parts()))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except LmarError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
