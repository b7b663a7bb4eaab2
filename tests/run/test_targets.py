"""Evaluation targets: downscaling factors and fixed sizes (the authors' protocol)."""

from __future__ import annotations

import re

import pytest

from helpers import CPU, LABELS, TEST_NAMES, entries

from lmar.core.errors import LmarError
from lmar.run.targets import parse_scale, target_size
from lmar.run.config import check_parts
from lmar.run.evaluate import evaluate
from lmar.run.targets import Target, parse_targets


@pytest.mark.parametrize("hw, scale, expected", [((2160, 3840), 2, (1080, 1920)), ((2160, 3840), 1.5, (1440, 2560)),
                                                 ((2160, 3840), 4, (540, 960)), ((37, 51), 3, (12, 17)),
                                                 ((5, 7), 100, (1, 1)), ((48, 72), 1, (48, 72))])
def test_target_size_rounds_and_stays_positive(hw, scale, expected):
    assert target_size(hw, scale) == expected


# sizes rounded to the nearest whole pixel (the module's "round(H/2) x round(W/2)"), where that is not
# truncation: 5 / 3 = 1.67 -> 2 (truncated: 1), 7 / 3 = 2.33 -> 2; 50 / 3 = 16.67 -> 17, 71 / 3 = 23.67 -> 24;
# 1000 / 1.5 = 666.67 -> 667, 2999 / 1.5 = 1999.33 -> 1999; 1000 / 4 = 250, 2999 / 4 = 749.75 -> 750
@pytest.mark.parametrize("hw, scale, expected", [((5, 7), 3, (2, 2)), ((50, 71), 3, (17, 24)),
                                                 ((1000, 2999), 1.5, (667, 1999)), ((1000, 2999), 4, (250, 750))])
def test_target_size_rounds_to_the_nearest_pixel_not_down(hw, scale, expected):
    assert target_size(hw, scale) == expected
    assert Target(f"x{scale:g}", scale=float(scale)).resolve(hw) == expected


def test_target_size_rounds_halves_as_python_round_does():
    # Python's round() takes a half to the even neighbour: 37 / 2 = 18.5 -> 18, 51 / 2 = 25.5 -> 26
    assert target_size((37, 51), 2) == (18, 26)


# a fraction of each side, rounded to the nearest pixel: 37 * 0.3 = 11.1 -> 11, 51 * 0.7 = 35.7 -> 36
# (truncated: 35); 10 * 0.27 = 2.7 -> 3 (truncated: 2), 10 * 0.66 = 6.6 -> 7 (truncated: 6)
@pytest.mark.parametrize("hw, fraction, expected", [((37, 51), (0.3, 0.7), (11, 36)),
                                                    ((10, 10), (0.27, 0.66), (3, 7))])
def test_a_fraction_target_rounds_to_the_nearest_pixel_not_down(hw, fraction, expected):
    assert Target("f", fraction=fraction).resolve(hw) == expected


@pytest.mark.parametrize("good, value", [(2, 2.0), ("1.8", 1.8), (1, 1.0)])
def test_parse_scale_accepts_numbers_at_least_one(good, value):
    assert parse_scale(good) == value


@pytest.mark.parametrize("bad", [0, -2, 0.99, "abc", None, float("nan"), float("inf"), [2]])
def test_parse_scale_refuses_the_rest(bad):
    with pytest.raises(LmarError, match="scale must be a number >= 1"):
        parse_scale(bad)


def test_scales_and_sizes_become_labelled_targets():
    targets = parse_targets({"scales": [2, 1.5], "sizes": [{"name": "x1.8", "size": [1200, 1600]}, {"size": [9, 11]}]})
    assert [t.label for t in targets] == ["x2", "x1.5", "x1.8", "9x11"]
    assert targets[0].resolve((2160, 3840)) == (1080, 1920)
    assert targets[2].resolve((2160, 3840)) == (1200, 1600) and targets[2].resolve((48, 72)) == (1200, 1600)
    assert targets[2].effective_scale((2160, 3840)) == 1.8
    assert Target("x3", scale=3.0).effective_scale((48, 72)) == 3.0


@pytest.mark.parametrize(
    "evaluation, words",
    [
        ({"sizes": [{"size": [0, 4]}]}, r"evaluation.sizes\[0\]: size must be positive"),
        ({"scales": [2], "sizes": [{"name": "a"}]}, r"evaluation.sizes\[0\] must be"),
        ({"sizes": [{"size": [4]}]}, r"evaluation.sizes\[0\] must be"),
        ({"sizes": [{"size": ["a", 4]}]}, r"evaluation.sizes\[0\] must be"),
        ({"scales": [2], "sizes": [{"name": "x2", "size": [4, 4]}]}, "unique"),
        ({"scales": []}, "at least one"),
        ({}, "at least one"),
    ],
)
def test_bad_targets_name_the_key(evaluation, words):
    with pytest.raises(LmarError, match=words):
        parse_targets(evaluation)


def test_bad_scale_in_config_names_its_key():
    """Regression: the key was once dropped from the message."""
    config = {"datasets": {"mini": {"type": "mini"}}, "backbones": {"unet": {"type": "unet_lite"}},
              "resamplers": {"bicubic": {"type": "bicubic"}}, "evaluation": {"scales": [2, 0]}}
    with pytest.raises(LmarError, match=r"evaluation.scales\[1\]"):
        check_parts(config)


def test_evaluate_at_a_fixed_size(mini_data, backbone_ckpt, tmp_path):
    evaluation = {"scales": [2], "sizes": [{"name": "squash", "size": [20, 20]}], "save_outputs": "all"}
    df = evaluate(mini_data, backbone_ckpt, {"type": "bicubic"}, None, evaluation, tmp_path / "m.csv",
                  tmp_path / "img", CPU, dict(LABELS))
    assert list(df.target.unique()) == ["x2", "squash"]
    squash = df[df.target == "squash"]
    assert set(squash.target_h) == {20} and set(squash.target_w) == {20}
    assert set(squash.scale) == {2.4}  # 48 / 20, by height
    assert entries(tmp_path / "img") == sorted(["x2", "squash"] + [f"{t}/{n}.png" for t in ("x2", "squash")
                                                                    for n in TEST_NAMES])


def test_a_fraction_target_carries_the_authors_protocol_to_any_size():
    """Their x1.8 is 1200x1600 of 3840x2160: as fractions, the same target on a 3840x2160 input and
    proportional ones elsewhere (hand-computed)."""
    (t,) = parse_targets({"sizes": [{"name": "x1.8", "fraction": [1200 / 2160, 1600 / 3840]}]})
    assert t.resolve((2160, 3840)) == (1200, 1600)
    assert t.resolve((360, 540)) == (200, 225)  # 360 * 5/9 = 200, 540 * 5/12 = 225
    assert t.effective_scale((360, 540)) == 1.8


@pytest.mark.parametrize("entry, words", [
    ({"name": "a", "fraction": [0.5, 0]}, "in (0, 1]"),
    ({"name": "a", "fraction": [0.5, 1.5]}, "in (0, 1]"),
    ({"name": "a", "size": [4, 4], "fraction": [0.5, 0.5]}, "or {name: ..., fraction"),
    ({"name": "a"}, "or {name: ..., fraction"),
])
def test_bad_fraction_targets(entry, words):
    with pytest.raises(LmarError, match=re.escape(words)):
        parse_targets({"sizes": [entry]})
