"""``python -m lmar <verb>`` (or ``lmar <verb>``): every Snakemake rule calls one verb.

Errors in the user's input print one line ``error: ...`` and exit with status 2.

The verbs are a table (:data:`VERBS`): each is one small function, registered with its name, its
help and its flags by :func:`verb`; :func:`build_parser` and :func:`run` read the table. A verb's
function imports what it needs when it runs, so that ``lmar --help`` imports no torch (tested).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lmar.core.errors import LmarError

log = logging.getLogger("lmar")
# lmar.core.runtime.PRECISIONS, repeated so that --help imports no torch (tested)
PRECISIONS = ("fp32", "tf32", "bf16", "fp16")


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


def flag(*names: str, **options) -> tuple[tuple[str, ...], dict]:
    """One argument of a verb: what ``ArgumentParser.add_argument`` takes."""
    return names, options


def spec(option: str, what: str, required: bool = True) -> tuple[tuple[str, ...], dict]:
    """A config entry given as a JSON object."""
    return flag(option, type=_json(option), required=required, help=what)


# flags several verbs share
DEVICE = (flag("--device", default="auto", help="auto | cpu | cuda[:N] (default: auto)"),
          flag("--threads", type=int, default=None, help="CPU threads for PyTorch"))
SEED = (flag("--seed", type=int, default=0),)
ALLOW = (flag("--allow-module", action="append", default=[], metavar="MODULE",
              help="a module that checkpoint specs may name besides registered parts (checkpoints are data: "
                   "code they name is imported only from modules given here); repeat for several"),)
RELEASED = (flag("--released", type=Path, default=None, metavar="FILE",
                 help="the authors' released weights (sha256 checked): convert them instead of training"),)
RESUME = (flag("--save-every-steps", type=int, default=0, metavar="N",
               help="save the resume state every N optimiser steps (0: off); a rerun resumes from it"),
          flag("--save-every-minutes", type=float, default=10.0, metavar="M",
               help="save the resume state every M minutes of training (0: off; default 10)"))


@dataclass(frozen=True)
class Verb:
    name: str
    help: str
    flags: tuple
    run: Callable[[argparse.Namespace], int | None]  # the exit status; None is 0


VERBS: dict[str, Verb] = {}
"""Every verb, by name, in the order ``lmar --help`` lists them."""


def verb(name: str, help: str, *flags):
    """Register the decorated function as verb ``name`` with its ``help`` and ``flags`` (:func:`flag`,
    or a tuple of them)."""
    flat = tuple(f for item in flags for f in ((item,) if isinstance(item[-1], dict) else item))

    def register(fn: Callable[[argparse.Namespace], int | None]):
        if name in VERBS:
            raise ValueError(f"verb {name!r} is defined twice")
        VERBS[name] = Verb(name, help, flat, fn)
        return fn

    return register


def _save(args) -> dict:
    if args.save_every_steps < 0 or args.save_every_minutes < 0:
        raise LmarError("--save-every-steps and --save-every-minutes must be >= 0 (0 switches one off)")
    return {"every_steps": args.save_every_steps, "every_minutes": args.save_every_minutes}


def _device(args):
    from lmar.core.runtime import resolve_device

    return resolve_device(args.device)


def _no_curve(ckpt: Path) -> None:
    """A part converted from released weights was not trained: its curve has the header alone."""
    from lmar.run.curves import curve_path, write_curve

    write_curve([], curve_path(ckpt))


def _import_released(kind: str, args) -> None:
    """Convert the authors' released weights instead of training (``--released``)."""
    from lmar.run.checkpoint import import_released

    import_released(kind, args.spec, args.released, args.out, f"config key {kind}s.{args.name}")
    _no_curve(args.out)


def _shared_folder(paths) -> Path:
    """The deepest folder holding every one of ``paths`` (their labels are the rest of each path)."""
    import os

    return Path(os.path.commonpath([str(Path(p).parent) for p in paths])) if paths else Path(".")


def _number(value: str):
    """A count given as a number or as 'auto' / 'all'."""
    return value if value in ("auto", "all") else int(value)


# ---------------------------------------------------------------- data


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


# ---------------------------------------------------------------- training


@verb("pretrain-backbone", "train an enhancement backbone (L1 to ground truth)",
      flag("--data", type=Path, required=True),
      spec("--spec", "backbone entry as JSON: {type, params, train}"),
      flag("--name", default="backbone"),
      flag("--out", type=Path, required=True),
      RELEASED,
      flag("--from-zoo", type=Path, default=None, metavar="FILE",
           help="a zoo checkpoint (lmar/zoo) whose entry matches this backbone: copy it and its curve "
                "(sha256 checked) instead of training"),
      RESUME, DEVICE, SEED)
def pretrain_backbone(args):
    if args.released:
        return _import_released("backbone", args)
    if args.from_zoo:
        from lmar.run.curves import curve_path
        from lmar.run.zoo import take

        record = take(args.from_zoo, args.out, curve_path(args.out))
        print(f"{args.out}: the zoo's {record['name']} (sha256 {record['sha256'][:12]}), not trained here")
        return
    from lmar.run import train

    train.pretrain_backbone(args.data, args.spec, args.out, _device(args), args.seed, args.name, _save(args))


@verb("zoo-entry", "publish a trained backbone as a zoo entry (checkpoint, curve, record)",
      flag("--ckpt", type=Path, required=True, help="the trained backbone checkpoint"),
      flag("--dataset", required=True, help="the dataset's config name"),
      spec("--dataset-spec", "its config entry as JSON"),
      flag("--backbone", required=True, help="the backbone's config name"),
      spec("--spec", "the backbone's config entry as JSON"),
      flag("--seed", type=int, required=True),
      flag("--out-dir", type=Path, required=True))
def zoo_entry(args):
    from lmar.run.curves import curve_path
    from lmar.run.zoo import write_entry

    print(write_entry(args.ckpt, curve_path(args.ckpt), args.dataset, args.dataset_spec, args.backbone, args.spec,
                      args.seed, args.out_dir))


@verb("train-resampler", "train a resampler against a frozen backbone",
      flag("--data", type=Path, required=True),
      flag("--backbone", type=Path, required=True, help="backbone checkpoint"),
      spec("--spec", "resampler entry as JSON: {type, params, train}"),
      flag("--name", default="resampler"),
      flag("--out", type=Path, required=True),
      RELEASED, RESUME, ALLOW, DEVICE, SEED)
def train_resampler(args):
    if args.released:
        return _import_released("resampler", args)
    from lmar.run import train

    train.train_resampler(args.data, args.backbone, args.spec, args.out, _device(args), args.seed, args.name,
                          args.allow_module, _save(args))


# ---------------------------------------------------------------- evaluation and results


@verb("evaluate", "DEU on the test split at each scale; per-image metrics CSV",
      flag("--data", type=Path, required=True),
      flag("--backbone", type=Path, required=True, help="backbone checkpoint"),
      spec("--resampler-spec", None),
      flag("--resampler-ckpt", type=Path, default=None),
      spec("--evaluation", "{scales, upsampler, metrics}"),
      spec("--labels", "{dataset, backbone, resampler, config_hash}"),
      spec("--dataset-spec", "the dataset's entry as JSON {type, params}: a test split other than it declares is "
                             "refused", required=False),
      flag("--out", type=Path, required=True, help="metrics CSV"),
      flag("--images", type=Path, required=True, help="folder for the enhanced outputs"),
      ALLOW, DEVICE, SEED)
def evaluate(args):
    from lmar.run import evaluate

    evaluate.evaluate(args.data, args.backbone, args.resampler_spec, args.resampler_ckpt, args.evaluation, args.out,
                      args.images, _device(args), {**args.labels, "seed": args.seed}, args.allow_module,
                      dataset_spec=args.dataset_spec)


@verb("gather", "join evaluation CSVs into the results store (Parquet and CSV)",
      flag("results", nargs="+", type=Path),
      flag("--out", type=Path, required=True, help="the store: results.parquet"),
      flag("--out-csv", type=Path, required=True, help="the same rows as CSV"),
      flag("--out-left-out", type=Path, default=None, help="leave out a results file that cannot be read or lacks "
           "columns, noted in this file (the table step reads it); without it, such a file is an error"))
def gather(args):
    from lmar.report import store

    store.gather(args.results, args.out, args.out_csv, args.out_left_out)


@verb("record", "the resolved config, pip freeze and per-job cost, for the report",
      spec("--config", "the resolved config, as JSON", required=False),
      flag("--out-config", type=Path, default=None),
      flag("--out-env", type=Path, default=None, help="pip freeze of this interpreter"),
      flag("--benchmarks", type=Path, nargs="*", default=[], help="Snakemake benchmark files"),
      flag("--benchmark-root", type=Path, default=None, help="job labels are paths under it "
           "(default: the folder the benchmark files share)"),
      flag("--out-costs", type=Path, default=None, help="per-job time and memory (Markdown; CSV beside)"))
def record(args):
    from lmar.run import run_record

    if args.out_config:
        run_record.write_config(args.config or {}, args.out_config)
    if args.out_env:
        run_record.write_environment(args.out_env)
    if args.out_costs:
        root = args.benchmark_root or _shared_folder(args.benchmarks)
        run_record.write_job_costs(args.benchmarks, root, args.out_costs, args.out_costs.with_suffix(".csv"))


@verb("table", "Markdown tables from the results store (or evaluation CSVs)",
      flag("results", nargs="+", type=Path),
      flag("--out-md", type=Path, required=True),
      flag("--out-csv", type=Path, default=None, help="also write the rows read, joined"),
      flag("--out-tex", type=Path, default=None, help="the tables in LaTeX (booktabs)"),
      flag("--out-stats", type=Path, default=None, help="the tables' numbers (means, intervals, paired)"),
      flag("--gain", nargs=2, default=["lmar", "bicubic"], metavar=("A", "B"), help="add an A - B row"),
      flag("--title", default=""),
      flag("--left-out", type=Path, nargs="*", default=[], help="notes of earlier steps (gather's) to carry"),
      flag("--out-left-out", type=Path, default=None, help="write what was left out here and exit 0; without it, "
           "exit status 3 says that something was left out (every output still written)"))
def table(args):
    from lmar.report.left_out import LEFT_OUT
    from lmar.report.write import write_table

    _, notes = write_table(args.results, args.out_md, args.out_csv, tuple(args.gain), args.title, args.out_tex,
                           args.out_stats, args.left_out, args.out_left_out)
    if notes and args.out_left_out is None:
        print(f"{len(notes)} thing(s) left out of the tables (listed at the top of {args.out_md})", file=sys.stderr)
        return LEFT_OUT


@verb("compare-results", "are two results stores the same results? exit 0 if so, 1 if not",
      flag("a", type=Path, help="a results store (results.parquet) or evaluation CSV"),
      flag("b", type=Path, help="the one to compare it with"),
      flag("--atol", type=float, default=0.0, help="numbers this close count as equal (default 0: to the last bit)"),
      flag("--skip", nargs="*", default=[], metavar="COLUMN", help="columns not to compare, besides timings, "
           "memory, the host and code_version"),
      flag("--out-md", type=Path, default=None, help="also write the report here"))
def compare_results(args):
    from lmar.core.atomic import atomic_path
    from lmar.report.compare import compare

    result = compare(args.a, args.b, args.atol, tuple(args.skip))
    text = result.markdown(args.a, args.b)
    print(text, end="")
    if args.out_md:
        with atomic_path(args.out_md) as tmp:
            tmp.write_text(text)
    return 0 if result.same else 1


@verb("left-out", "print what a run left out of its tables; exit 3 if anything, else 0",
      flag("records", nargs="+", type=Path, help="left_out.md files the table step wrote"))
def left_out(args):
    from lmar.report.left_out import check

    status, notes = check(args.records)
    for note in notes:
        print(f"left out: {note}", file=sys.stderr)
    print(f"{len(notes)} thing(s) left out of the tables; see {', '.join(map(str, args.records))}" if notes
          else "nothing was left out of the tables")
    return status


@verb("plot", "seaborn plots from the results store (PNG, and PDF beside each)",
      flag("results", type=Path),
      flag("--out", type=Path, required=True, help="PSNR against downscaling factor: each resampler's paired "
           "difference to the --gain baseline B, and its mean PSNR"),
      flag("--out-gain", type=Path, default=None, help="gain heatmap, backbone x target"),
      flag("--out-latency", type=Path, default=None, help="PSNR against end-to-end time"),
      flag("--gain", nargs=2, default=["lmar", "bicubic"], metavar=("A", "B"),
           help="the gain heatmap shows A - B; B is the baseline of the PSNR figure's differences"))
def plot(args):
    from lmar.report.plots import write_plots

    write_plots(args.results, args.out, args.out_gain, args.out_latency, tuple(args.gain))


@verb("plot-curves", "training curves (loss per epoch) of every training job",
      flag("curves", nargs="+", type=Path, help="curve CSVs written beside the checkpoints"),
      flag("--root", type=Path, default=None, help="job labels are the paths under this folder "
           "(default: the folder the curves share)"),
      flag("--out", type=Path, required=True))
def plot_curves(args):
    from lmar.report.plot_curves import training_curves

    training_curves(args.curves, args.root or _shared_folder(args.curves), args.out)


@verb("figures", "zoomed crops of every resampler's output, and LMAR's map for one input",
      flag("--data", type=Path, required=True, help="the prepared dataset"),
      flag("--outputs", type=Path, required=True, help="<outputs>/<resampler>/<target>/<image>.png"),
      spec("--evaluation", "the config's evaluation block"),
      flag("--resamplers", nargs="+", required=True),
      flag("--image", default=None, help="a test image's name (default: the first)"),
      flag("--out-crops", type=Path, required=True),
      flag("--lmar-ckpt", type=Path, default=None),
      flag("--out-lmar", type=Path, default=None),
      flag("--metrics", type=Path, nargs="*", default=[],
           help="the cell's results CSVs: a resampler that kept its initial weights is named so in the crops"))
def figures(args):
    from lmar.report.figures import write_figures

    write_figures(args.data, args.outputs, args.evaluation, args.resamplers, args.out_crops, args.lmar_ckpt,
                  args.out_lmar, args.image, args.metrics)


# ---------------------------------------------------------------- enhancing one's own images


@verb("enhance", "run one image of any size, or every image in a folder, through Downsample -> Enhance -> Upsample",
      flag("input", type=Path, help="an image, or a folder of images (its other files are skipped)"),
      flag("output", type=Path, help="the output file: .png, .jpg/.jpeg, .tif/.tiff or .bmp (16-bit PNG or TIFF for "
                                     "a 16-bit input); never the input itself. For an input folder: the output folder "
                                     "(created), each image written under its own name"),
      flag("--suffix", default=None, metavar=".png",
           help="folder mode: write every output in this format (default: each input's own suffix)"),
      flag("--force", action="store_true",
           help="run a resampler checkpoint trained against another backbone than --backbone (warned)"),
      flag("--backbone", type=Path, required=True, help="backbone checkpoint"),
      flag("--resampler", default="bicubic", help="a registered untrained resampler, or a resampler checkpoint"),
      flag("--scale", required=True, help="downscaling factor >= 1 (1 with full_resolution)"),
      flag("--upsampler", default="bicubic"),
      flag("--precision", choices=PRECISIONS, default="fp32",
           help="fp32 (default), or tf32 / bf16 / fp16 autocast (on CUDA LMAR runs its fused kernel in tf32 and "
                "bf16, its PyTorch path in fp16)"),
      flag("--quality", type=int, default=95, choices=range(1, 101), metavar="1-100", help="JPEG quality (default 95)"),
      ALLOW, DEVICE)
def enhance(args):
    from lmar.run.enhance import enhance_file, enhance_folder

    how = (args.backbone, args.resampler, args.scale, args.upsampler, _device(args), args.precision, args.quality,
           args.allow_module, args.force)
    if args.input.is_dir():
        return 1 if enhance_folder(args.input, args.output, *how, suffix=args.suffix) else 0
    if args.suffix is not None:
        raise LmarError(f"--suffix is for an input folder; {args.input} is not one: the output's own suffix "
                        "names its format")
    print(enhance_file(args.input, args.output, *how))


# ---------------------------------------------------------------- measurements


@verb("bench", "speed and memory benchmarks (ratios within one run) to JSON",
      flag("--out", type=Path, required=True),
      spec("--backbones", "config 'backbones' as JSON", required=False),
      flag("--size", type=int, nargs=2, default=[2160, 3840], metavar=("H", "W")),
      flag("--repeats", type=int, default=None, help="timed runs per case (default: 10 on GPU, 1 on CPU)"),
      flag("--train-crop", type=int, default=None, help="training-step crop (default: 1024 on GPU, 256 on CPU)"),
      flag("--sections", nargs="+", default=None, help="resample profile deu train metrics decode (default: all)"),
      flag("--train-options", nargs="+", default=None,
           help="training speed options to time: 'fp32' 'bf16' 'bf16 channels-last' 'bf16 channels-last compile'"
                " (default: all on GPU, fp32 on CPU)"),
      DEVICE)
def bench(args):
    from lmar.bench.benchmarks import SECTIONS, run_suite
    from lmar.core.atomic import write_json

    # written after every case too, so a run cut short keeps what it measured
    result = run_suite(args.device, args.backbones, tuple(args.size), args.threads, args.repeats, args.train_crop,
                       progress=lambda m: print(m, flush=True), sections=args.sections or SECTIONS,
                       train_options=args.train_options, partial=lambda r: write_json(args.out, r))
    write_json(args.out, result)
    for k, v in result["ratios"].items():
        print(f"{k}: {v:.3g}")
    if result["failed"]:
        for label, error in result["failed"].items():
            print(f"error: benchmark case {label!r} failed: {error}", file=sys.stderr)
        print(f"error: {len(result['failed'])} benchmark case(s) failed; the others are in {args.out}", file=sys.stderr)
        return 1


@verb("bench-eval", "the evaluation at scale on a synthetic set, extrapolated to the paper's protocols: JSON and a "
                    "markdown table",
      flag("--out", type=Path, required=True, help="folder for scale.json and scale.md"),
      flag("--size", type=int, nargs=2, default=None, metavar=("H", "W"),
           help="the synthetic pairs' size (default: 2160 3840 on GPU, 540 960 on CPU)"),
      flag("--pairs", type=int, default=None, help="synthetic test pairs (default: 32 on GPU, 4 on CPU)"),
      flag("--workers", default="auto", help="decoding workers: auto or a number (evaluation.workers)"),
      flag("--save-outputs", default="3", help="outputs written per job: a number or all (evaluation.save_outputs)"),
      flag("--precision", choices=PRECISIONS, default=None,
           help="the evaluation's precision (default: the paper config's, fp32)"),
      DEVICE)
def bench_eval(args):
    from lmar.bench import scale_bench
    from lmar.core.atomic import atomic_path, write_json

    device = _device(args)
    gpu = device.type == "cuda"
    hw = tuple(args.size) if args.size else (scale_bench.UHD if gpu else (540, 960))
    pairs = args.pairs or (32 if gpu else 4)
    if pairs < 1 or min(hw) < 64:
        raise LmarError("--pairs must be at least 1 and --size at least 64 64")
    args.out.mkdir(parents=True, exist_ok=True)
    result = scale_bench.run(args.out, str(device), hw, pairs, args.threads, _number(args.workers),
                             _number(args.save_outputs), progress=lambda m: print(m, flush=True),
                             precision=args.precision, partial=lambda r: write_json(args.out / "scale.json", r))
    write_json(args.out / "scale.json", result)
    with atomic_path(args.out / "scale.md") as t:
        t.write_text(scale_bench.markdown(result))
    print(scale_bench.markdown(result))


@verb("tune-kernel", "time and check the fused LMAR kernel's launch candidates on a GPU, to JSON",
      flag("--out", type=Path, required=True),
      # the fused kernel's compute modes (lmar.parts.lmar.fused.lmar_triton.COMPUTES): every precision but fp16
      flag("--computes", nargs="+", choices=[c for c in PRECISIONS if c != "fp16"], default=["tf32", "bf16"]),
      flag("--size", type=int, nargs=2, default=[2160, 3840], metavar=("H", "W")))
def tune_kernel(args):
    from lmar.bench.tuning import tune
    from lmar.core.atomic import write_json

    H, W = args.size
    result = tune((H, W), (round(H / 1.8), round(W / 1.8)), computes=tuple(args.computes),
                  progress=lambda m: print(m, flush=True), partial=lambda r: write_json(args.out, r))
    write_json(args.out, result)
    print(f"fastest correct launch per mode: export LMAR_FUSED_LAUNCH='{json.dumps(result['best'])}'")


# ---------------------------------------------------------------- the authors' release, the registries


@verb("fetch-released", "download one of the authors' released files (sha256 checked)",
      flag("--name", choices=("backbone", "lmar"), required=True),
      flag("--out", type=Path, required=True))
def fetch_released(args):
    from lmar.parts.lmar.released import fetch

    fetch(args.name, args.out)


@verb("list", "the registered backbones, resamplers and datasets")
def list_parts(args):
    from lmar.run import listing

    print("\n".join(listing.list_parts()))


def build_parser() -> argparse.ArgumentParser:
    """The parser of every verb of :data:`VERBS`."""
    # the module docstring's first line, as plain text
    ap = argparse.ArgumentParser(prog="lmar", description=__doc__.split("\n")[0].replace("``", ""))
    sub = ap.add_subparsers(dest="verb", required=True, metavar="VERB")
    for v in VERBS.values():
        p = sub.add_parser(v.name, help=v.help)
        for names, options in v.flags:
            p.add_argument(*names, **options)
    return ap


def run(args: argparse.Namespace) -> int:
    """Run the verb ``args.verb`` after setting up the process (seed, threads); its exit status. A verb
    with neither flag (the report verbs) sets up logging only: PyTorch is imported by what needs it."""
    seed, threads = getattr(args, "seed", None), getattr(args, "threads", None)
    if seed is None and threads is None:
        from lmar.core.logs import log_to_stderr

        log_to_stderr()
    else:
        from lmar.core import runtime

        runtime.setup(seed, threads)
    status = VERBS[args.verb].run(args)
    return 0 if status is None else status


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except LmarError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
