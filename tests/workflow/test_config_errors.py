"""A config the workflow cannot use ends in one line naming the key (Snakemake's schema report,
which quotes the whole schema, goes to logs/config-error.log), before any job runs."""

from __future__ import annotations

import re

import pytest
import yaml

from helpers import ROOT, TINY, snakemake

from lmar.core.errors import LmarError
from lmar.run.config import apply_extends, schema_error

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
