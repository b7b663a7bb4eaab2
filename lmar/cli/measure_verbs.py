"""The measuring verbs: the speed and memory benchmarks, the evaluation at scale extrapolated to the
paper's protocols, and the fused LMAR kernel's launch sweep (GPU)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from lmar.cli.verb_table import DEVICE, PRECISIONS, device_of, flag, spec, verb
from lmar.core.errors import LmarError


def _number(value: str):
    """A count given as a number or as 'auto' / 'all'."""
    return value if value in ("auto", "all") else int(value)


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

    device = device_of(args)
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
      # the fused kernel's compute modes (lmar.parts.lmar.fused.packing.COMPUTES): every precision but fp16
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
