"""The CLI stays light: ``lmar --help`` imports no torch, and neither do the report verbs (each a
workflow job that would otherwise spend seconds importing PyTorch for nothing)."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd

from helpers import ROOT, result_rows


def test_parser_imports_no_torch():
    code = "import sys, lmar.cli; lmar.cli.build_parser(); print('torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "False"


# Runs the verbs given as JSON lists of arguments, in one process in which importing torch fails.
NO_TORCH = """
import json, sys

class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("this verb imported " + name)

sys.meta_path.insert(0, Refuse())
from lmar.cli import main
for argv in json.loads(sys.argv[1]):
    print("ran", argv[0], main(argv), flush=True)
"""


def test_the_report_verbs_run_without_importing_torch(tmp_path):
    """gather, table, plot, compare-results, left-out, plot-curves and both kinds of record run, on inputs
    like the workflow's, in a process that cannot import torch (a verb that imports it fails)."""
    rows = [*result_rows("bicubic"), *result_rows("lmar"), *result_rows("full_resolution")]
    csv = tmp_path / "eval.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    curve = tmp_path / "backbone.curve.csv"
    curve.write_text("epoch,lr,seconds,l1\n0,0.001,1.0,0.5\n1,0.001,1.0,0.2\n")
    bench = tmp_path / "bench" / "evaluate" / "bicubic.tsv"
    bench.parent.mkdir(parents=True)
    bench.write_text("s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
                     "5.84\t0:00:05\t938.04\t5471.30\t526.11\t663.12\t3.03\t0.03\t93.66\t6.07\n")
    store, left = tmp_path / "results.parquet", tmp_path / "gather_left_out.md"
    verbs = [
        ["gather", str(csv), "--out", str(store), "--out-csv", str(tmp_path / "results.csv"), "--out-left-out", str(left)],
        ["table", str(store), "--out-md", str(tmp_path / "table.md"), "--out-tex", str(tmp_path / "table.tex"),
         "--out-stats", str(tmp_path / "stats.csv"), "--left-out", str(left),
         "--out-left-out", str(tmp_path / "left_out.md")],
        ["plot", str(store), "--out", str(tmp_path / "psnr.png"), "--out-gain", str(tmp_path / "gain.png")],
        ["compare-results", str(store), str(store)],
        ["left-out", str(tmp_path / "left_out.md")],
        ["plot-curves", str(curve), "--out", str(tmp_path / "curves.png")],
        ["record", "--benchmarks", str(bench), "--benchmark-root", str(tmp_path / "bench"),
         "--out-costs", str(tmp_path / "costs.md")],
        ["record", "--config", json.dumps({"experiment": "x"}), "--out-config", str(tmp_path / "config.yaml"),
         "--out-env", str(tmp_path / "environment.txt")],
    ]
    proc = subprocess.run([sys.executable, "-c", NO_TORCH, json.dumps(verbs)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ran = [line.split()[1:] for line in proc.stdout.splitlines() if line.startswith("ran ")]
    assert [name for name, _ in ran] == [v[0] for v in verbs]
    assert all(rc == "0" for _, rc in ran), ran
    for name in ("table.md", "psnr.png", "curves.png", "costs.md", "environment.txt"):
        assert (tmp_path / name).stat().st_size > 0, name


def test_cli_precisions_are_the_runtime_ones():
    from lmar import cli
    from lmar.core import runtime

    assert cli.PRECISIONS == runtime.PRECISIONS


def test_every_verb_the_workflow_calls_is_in_the_table_and_every_verb_is_called_or_documented():
    """The rules, the Makefile and the GPU scripts call verbs of ``lmar.cli.VERBS`` only; a verb no
    rule calls is one a user types, shown in the README."""
    import re

    from lmar import cli

    root = ROOT
    files = [root / "Snakefile", root / "Makefile", *sorted((root / "workflow").rglob("*.smk")),
             *sorted((root / "workflow" / "scripts").glob("*.sh"))]
    called = {m for f in files for m in re.findall(r"-m lmar ([a-z][a-z-]*)", f.read_text())}
    assert called and called <= set(cli.VERBS), sorted(called - set(cli.VERBS))
    readme = (root / "README.md").read_text()
    for name in set(cli.VERBS) - called:
        assert f"lmar {name}" in readme, f"verb {name} is neither called by the workflow nor shown in the README"


def test_each_verb_is_one_function_that_the_parser_and_run_share(monkeypatch):
    from lmar import cli

    seen = []
    monkeypatch.setitem(cli.VERBS, "list", cli.Verb("list", "h", (), lambda args: seen.append(args.verb) or 7))
    assert cli.main(["list"]) == 7 and seen == ["list"]
    sub = next(a for a in cli.build_parser()._actions if a.dest == "verb")
    assert list(sub.choices) == list(cli.VERBS)


def test_help_is_plain_text_without_docstring_markup():
    import argparse
    import re

    from lmar.cli import build_parser

    parser = build_parser()
    texts = [parser.format_help()] + [sub.format_help() for action in parser._actions
                                      if isinstance(action, argparse._SubParsersAction) for sub in action.choices.values()]
    assert len(texts) > 10 and "python -m lmar <verb>" in texts[0]
    for text in texts:
        assert not re.search(r"``|:(func|mod|class|data|meth):`", text), text
