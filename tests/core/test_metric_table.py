"""One place per metric fact: lmar.core.metric_table. The config schema's metric lists are its
names; pyiqa knows each metric it names; the weights it names are ones the seed step knows; and no
other module keeps a copy (a mapping keyed by metric names, or the list of them all)."""

from __future__ import annotations

import ast
import re

import pytest
import yaml

from helpers import ROOT

from lmar.core.errors import LmarError
from lmar.core.metric_table import METRICS, metric, weights_needed
from lmar.parts.weights import NAMES as WEIGHT_NAMES

SCHEMA = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())


def test_the_schemas_metric_lists_are_the_tables_names():
    evaluation = SCHEMA["properties"]["evaluation"]["properties"]
    for key in ("metrics", "required_metrics"):
        assert evaluation[key]["items"]["enum"] == list(METRICS), key


def test_the_schemas_weights_are_those_the_seed_step_knows_and_cover_every_metrics_weights():
    seed = SCHEMA["properties"]["weights"]["properties"]["seed"]["items"]["enum"]
    assert sorted(seed) == sorted(WEIGHT_NAMES)
    assert set(weights_needed(METRICS)) <= set(WEIGHT_NAMES)


def test_pyiqa_knows_every_metric_the_table_names():
    from pyiqa.default_model_configs import DEFAULT_CONFIGS

    assert {m.pyiqa for m in METRICS.values()} <= set(DEFAULT_CONFIGS)


def test_every_entry_is_complete():
    for name, m in METRICS.items():
        assert m.label and m.digits >= 0 and isinstance(m.higher_is_better, bool), name


def test_weights_needed_and_an_unknown_metric():
    assert weights_needed(["psnr", "ssim"]) == []
    assert weights_needed(["lpips", "psnr", "lpips"]) == ["alexnet", "lpips_alex"]
    with pytest.raises(LmarError, match="unknown metric 'fid'; known metrics: psnr, ssim, lpips"):
        metric("fid")


def _copies(tree: ast.AST) -> list[int]:
    """Lines holding a mapping keyed by two or more metric names, or a sequence of every metric name."""
    names = set(METRICS)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            keys = {k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
            if len(keys & names) >= 2:
                found.append(node.lineno)
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            items = {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
            if names <= items:
                found.append(node.lineno)
    return found


def test_no_module_keeps_a_copy_of_the_table():
    home = ROOT / "lmar" / "core" / "metric_table.py"
    copies = {}
    for path in sorted([*(ROOT / "lmar").rglob("*.py"), *(ROOT / "baselines").rglob("*.py")]):
        if path != home and (lines := _copies(ast.parse(path.read_text()))):
            copies[str(path.relative_to(ROOT))] = lines
    keyed = re.compile(r"""["'](%s)["']\s*:""" % "|".join(METRICS))
    for path in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        if keyed.search(path.read_text()):
            copies[str(path.relative_to(ROOT))] = "a mapping keyed by metric names"
    assert copies == {}


def test_the_copy_finder_finds_copies():
    assert _copies(ast.parse('D = {"psnr": 2, "ssim": 4}\nT = ("lpips", "psnr", "ssim")\nok = ("psnr", "ssim")\n')) == [1, 2]
