"""A config the workflow cannot use ends in one line naming the key (Snakemake's schema report,
which quotes the whole schema, goes to logs/config-error.log), before any job runs."""

from __future__ import annotations

import re

import pytest
import yaml

from helpers import ROOT, TINY, snakemake

from lmar.core.errors import LmarError
from lmar.run.config import apply_extends, check_config_files, schema_error

SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
TINY_CONFIG = yaml.safe_load(TINY.read_text())


@pytest.mark.parametrize("value", [5, ["../a.yaml"], "", None, {"a": 1}])
def test_extends_must_be_a_path(tmp_path, value):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"extends": value, "experiment": "x"}))
    with pytest.raises(LmarError, match=re.escape(f"config key extends must be the path of another config file "
                                                  f"(a string), got {value!r}")):
        apply_extends({"extends": value, "experiment": "x"}, [cfg])


def test_an_extended_file_whose_extends_is_not_a_path(tmp_path):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump({"extends": 7, "experiment": "b"}))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"extends": "base.yaml", "experiment": "x"}))
    with pytest.raises(LmarError, match="must be the path of another config file .* got 7"):
        apply_extends({"extends": "base.yaml", "experiment": "x"}, [cfg])


CASES = {
    "no experiment": (lambda c: c.pop("experiment"), "config: 'experiment' is a required property"),
    "braces in weights.dir": (lambda c: c.update(weights={"dir": "res/{x}"}),
                              "config key weights.dir: 'res/{x}' is not allowed here: used as TORCH_HOME"),
    "braces in authors_dir": (lambda c: c.update(weights={"authors_dir": "{a}"}),
                              "config key weights.authors_dir: '{a}' is not allowed here"),
    "braces in a part's weights": (lambda c: c["backbones"]["unet"].update(weights="x/{y}.bin"),
                                   "config key backbones.unet.weights: 'x/{y}.bin' is not allowed here"),
    "a number as device": (lambda c: c.update(device=3), "config key device: 3 is not of type 'string'"),
    # a long entry quoted whole used to cut the line before it said what was wrong
    "an entry without a type": (lambda c: c["resamplers"].update(m={"params": {f"p{i}": "x" * 30 for i in range(12)}}),
                                "config key resamplers.m: needs a 'type' (a registered name or module:Class) or a 'base'"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_schema_error_is_one_line_naming_the_key(tmp_path, case):
    change, expected = CASES[case]
    cfg = yaml.safe_load(yaml.safe_dump(TINY_CONFIG))
    change(cfg)
    log = tmp_path / "logs" / "config-error.log"
    line = schema_error(cfg, SCHEMA, "the schema's whole report\nline 2", log)
    assert "\n" not in line and line.startswith("config error: ") and len(line) < 500, line
    assert expected in line and f"(full report: {log})" in line, line
    assert log.read_text() == "the schema's whole report\nline 2"


@pytest.mark.slow
def test_the_workflow_says_it_in_one_line_and_plans_nothing(tmp_path):
    cfg = yaml.safe_load(yaml.safe_dump(TINY_CONFIG))
    cfg.pop("experiment")
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    res = snakemake("-n", "--cores", "1", "all", "--directory", str(tmp_path / "run"), "--configfile", str(path))
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "config error: config: 'experiment' is a required property (full report: logs/config-error.log)" in out
    assert len(out.splitlines()) < 15, out  # not the schema, quoted whole
    assert "required property" in (tmp_path / "run" / "logs" / "config-error.log").read_text()
    assert not (tmp_path / "run" / "results").exists()


DUPLICATED = """experiment: a
resamplers:
  lanczos3: {type: lanczos3}
  lmar: {type: lmar}
seed: 0
resamplers:
  mine: {type: bicubic}
"""


def test_a_key_given_twice_is_refused_naming_the_file_and_lines(tmp_path):
    """YAML keeps the last of two keys: this file would run 'mine' alone, silently dropping lmar."""
    path = tmp_path / "c.yaml"
    path.write_text(DUPLICATED)
    assert yaml.safe_load(DUPLICATED)["resamplers"] == {"mine": {"type": "bicubic"}}  # what plain YAML does
    with pytest.raises(LmarError, match=re.escape(f"config file: {path} is not valid YAML: line 6, column 1: "
                                                  "key 'resamplers' is given twice (first on line 2)")):
        check_config_files([path])
    nested = tmp_path / "n.yaml"
    nested.write_text("experiment: a\nresamplers:\n  lmar: {type: lmar}\n  lmar: {type: bicubic}\n")
    with pytest.raises(LmarError, match="line 4, column 3: key 'lmar' is given twice"):
        check_config_files([nested])
    (tmp_path / "ok.yaml").write_text("experiment: a\nresamplers:\n  lmar: {type: lmar}\n")
    check_config_files([tmp_path / "ok.yaml"])


@pytest.mark.slow
def test_the_workflow_refuses_a_key_given_twice(tmp_path):
    cfg = yaml.safe_load(yaml.safe_dump(TINY_CONFIG))
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg) + "seed: 1\nseed: 2\n")
    res = snakemake("-n", "--cores", "1", "all", "--directory", str(tmp_path / "run"), "--configfile", str(path))
    out = res.stdout + res.stderr
    assert res.returncode != 0 and "key 'seed' is given twice" in out and str(path) in out, out
    assert not (tmp_path / "run" / "results").exists()
