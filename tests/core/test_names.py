"""Names that become folders (the experiment's, a part's, a target's): one pattern each, bounded to
64 characters and matched whole (a final newline is not a name's end), in the schema and again in
the library where the path is made."""

from __future__ import annotations

import re

import jsonschema
import pytest
import yaml

from helpers import ROOT

from lmar.core import paths
from lmar.core.errors import LmarError
from lmar.run.config import check_parts

SCHEMA = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
BAD = ["cfgx\n", "cfgx\n\n", "\ncfgx", "a" * 65, ".hidden", "a/b", "a b", "", "é"]
GOOD = ["cfgx", "a" * 64, "9", "x_1-2"]


def name_patterns(node, found=None) -> list[str]:
    """Every `pattern` in the schema that describes a name (it starts like one)."""
    found = [] if found is None else found
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str) and value.startswith("^[A-Za-z0-9]"):
                found.append(value)
            name_patterns(value, found)
    elif isinstance(node, list):
        for item in node:
            name_patterns(item, found)
    return found


def test_every_name_pattern_in_the_schema_is_one_of_the_librarys():
    found = name_patterns(SCHEMA)
    assert len(found) >= 5 and set(found) == {paths.NAME_PATTERN, paths.PART_PATTERN}


@pytest.mark.parametrize("name", BAD)
def test_bad_names_are_refused_by_the_schema_and_the_library(name):
    validator = jsonschema.Draft202012Validator
    assert not validator({"type": "string", "pattern": paths.NAME_PATTERN}).is_valid(name)
    assert not validator({"type": "string", "pattern": paths.PART_PATTERN}).is_valid(name)
    for part in (False, True):
        with pytest.raises(LmarError, match="at most 64"):
            paths.path_component(name, "k", part=part)


@pytest.mark.parametrize("name", GOOD)
def test_good_names_pass_both(name):
    assert jsonschema.Draft202012Validator({"type": "string", "pattern": paths.NAME_PATTERN}).is_valid(name)
    assert paths.path_component(name, "k", part=True) == name


def test_a_dot_is_for_experiments_and_targets_only():
    assert paths.path_component("x1.8", "k") == "x1.8"
    with pytest.raises(LmarError):
        paths.path_component("x1.8", "k", part=True)


def test_the_whole_schema_refuses_a_final_newline_in_each_place():
    base = {"experiment": "e", "datasets": {"d": {"type": "mini"}}, "backbones": {"b": {"type": "unet_lite"}},
            "resamplers": {"r": {"type": "bicubic"}}}
    validator = jsonschema.Draft202012Validator(SCHEMA)
    assert validator.is_valid(base)
    bad = [{**base, "experiment": "cfgx\n"}, {**base, "resamplers": {"bic\n": {"type": "bicubic"}}},
           {**base, "resamplers": {"r": {"base": "b\n"}}}, {**base, "report": {"gain": ["r\n", "r"]}},
           {**base, "evaluation": {"sizes": [{"name": "x\n", "size": [8, 8]}]}}]
    for cfg in bad:
        assert not validator.is_valid(cfg), cfg


def test_the_library_checks_again_where_the_schema_is_not_run():
    config = {"experiment": "e", "datasets": {"mini": {"type": "mini", "params": {"size": [24, 36]}}},
              "backbones": {"u": {"type": "unet_lite", "params": {"width": 4}}},
              "resamplers": {"bicubic": {"type": "bicubic"}}}
    check_parts(config)
    with pytest.raises(LmarError, match=re.escape("config key experiment must be a name")):
        check_parts({**config, "experiment": "cfgx\n"})
    with pytest.raises(LmarError, match=re.escape("config key resamplers: the entry name 'bic\\n'")):
        check_parts({**config, "resamplers": {"bic\n": {"type": "bicubic"}}})
    with pytest.raises(LmarError, match="config key backbones: the entry name"):
        check_parts({**config, "backbones": {"u" * 65: {"type": "unet_lite"}}})
