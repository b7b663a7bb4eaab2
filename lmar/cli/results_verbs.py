"""The verbs from evaluation to the report: evaluate (DEU at each target, per-image metrics), gather
the results store, record the run (config, environment, per-job cost), compare two stores, and the
tables, plots, training curves and crops made from the store."""

from __future__ import annotations

import sys
from pathlib import Path

from lmar.cli.verb_table import ALLOW, DEVICE, SEED, device_of, flag, shared_folder, spec, verb


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
                      args.images, device_of(args), {**args.labels, "seed": args.seed}, args.allow_module,
                      dataset_spec=args.dataset_spec)


@verb("gather", "join evaluation CSVs into the results store (Parquet and CSV)",
      flag("results", nargs="+", type=Path),
      flag("--out", type=Path, required=True, help="the store: results.parquet"),
      flag("--out-csv", type=Path, required=True, help="the same rows as CSV"),
      flag("--out-left-out", type=Path, default=None, help="leave out a results file that cannot be read or lacks "
           "columns, noted in this file (the table step reads it); without it, such a file is an error"))
def gather(args):
    from lmar.core.atomic import check_outputs
    from lmar.report import store

    check_outputs({"--out": args.out, "--out-csv": args.out_csv, "--out-left-out": args.out_left_out}, args.results)
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
        root = args.benchmark_root or shared_folder(args.benchmarks)
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
    from lmar.core.atomic import check_outputs
    from lmar.report.left_out import LEFT_OUT
    from lmar.report.write import write_table

    check_outputs({"--out-md": args.out_md, "--out-csv": args.out_csv, "--out-tex": args.out_tex,
                   "--out-stats": args.out_stats, "--out-left-out": args.out_left_out}, [*args.results, *args.left_out])
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
    from lmar.core.atomic import atomic_path, check_outputs
    from lmar.report.compare import compare

    check_outputs({"--out-md": args.out_md}, [args.a, args.b])
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
    from lmar.core.atomic import check_outputs
    from lmar.report.plots import write_plots

    figures = {"--out": args.out, "--out-gain": args.out_gain, "--out-latency": args.out_latency}
    # each figure is written as PNG and as PDF beside it (lmar.report.plot_style.save_figure)
    check_outputs({**figures, **{f"{flag} (its PDF)": out.with_suffix(".pdf") for flag, out in figures.items()
                                 if out is not None and out.suffix.lower() != ".pdf"}}, [args.results])
    write_plots(args.results, args.out, args.out_gain, args.out_latency, tuple(args.gain))


@verb("plot-ablation", "each variant of a learned method (an ablation) against that method, per target "
      "(PNG, and PDF beside it)",
      flag("results", type=Path),
      flag("--out", type=Path, required=True, help="the figure; refused where the results hold no variants"))
def plot_ablation(args):
    from lmar.core.atomic import check_outputs
    from lmar.report.plot_ablation import write_ablation

    pdf = {"--out (its PDF)": args.out.with_suffix(".pdf")} if args.out.suffix.lower() != ".pdf" else {}
    check_outputs({"--out": args.out, **pdf}, [args.results])
    write_ablation(args.results, args.out)


@verb("plot-curves", "training curves (loss per epoch) of every training job",
      flag("curves", nargs="+", type=Path, help="curve CSVs written beside the checkpoints"),
      flag("--root", type=Path, default=None, help="job labels are the paths under this folder "
           "(default: the folder the curves share)"),
      flag("--out", type=Path, required=True))
def plot_curves(args):
    from lmar.core.atomic import check_outputs
    from lmar.report.plot_curves import training_curves

    check_outputs({"--out": args.out}, args.curves)
    training_curves(args.curves, args.root or shared_folder(args.curves), args.out)


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
