"""Bad configs fail when the workflow is planned (``snakemake -n``), naming the config key, before
any job runs; nothing is created outside the test's folder."""

from __future__ import annotations


import pytest
import yaml

from helpers import ROOT, plan

from lmar.core import paths



def lmar_train(**kw):
    return lambda c: c["resamplers"]["lmar"]["train"].update(kw)


CASES = {
    "lr fast": (lmar_train(lr="fast"), "config key resamplers.lmar.train.lr must be a number > 0, got 'fast'"),
    "gamma x": (lambda c: c["backbones"]["unet"]["train"].update(gamma="x"),
                "config key backbones.unet.train.gamma must be a number > 0 and <= 1, got 'x'"),
    "epochs -1": (lmar_train(epochs=-1), "config key resamplers.lmar.train.epochs must be an integer >= 1, got -1"),
    "hidden -8": (lambda c: c["resamplers"]["lmar"]["params"].update(hidden=-8),
                  "config key resamplers.lmar.params.hidden must be an integer >= 1, got -8"),
    "unknown params key": (lambda c: c["resamplers"]["lmar"]["params"].update(hiden=8),
                           "config key resamplers.lmar.params: unknown key 'hiden'; did you mean 'hidden'?"),
    "unknown train key": (lmar_train(learning_rate=0.1), "config key resamplers.lmar.train: unknown key 'learning_rate'"),
    "bad target range": (lmar_train(target_min=64, target_max=32),
                         "config key resamplers.lmar.train: need target_min < target_max"),
    "train block on a fixed resampler": (lambda c: c["resamplers"]["bicubic"].update(train={"epochs": 1}),
                                         "config key resamplers.bicubic.train: 'bicubic' has nothing to train"),
    "constructor check": (lambda c: c["resamplers"]["lmar"]["params"].update(interpolation="area", antialias=True),
                          "config key resamplers.lmar.params: antialias=True is only defined for"),
    "empty test split": (lambda c: c["datasets"]["mini"]["params"].update(test=[]),
                         "config key datasets.mini.params.test must be a list"),
    "empty train split": (lambda c: c["datasets"]["mini"]["params"].update(
        photos=["astronaut.png", "coffee.png"], test=["astronaut", "coffee"]),
        "every photo is in the test split"),
    "os:system as a part": (lambda c: c["resamplers"].update(evil={"type": "os:system"}),
                            "config key resamplers.evil.type: 'os:system' is not a resampler class"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_bad_config_fails_at_plan_time(tmp_path, case):
    change, message = CASES[case]
    rc, out = plan(tmp_path, change)
    assert rc != 0, out
    assert message in out, out
    assert not (tmp_path / "run" / "results").exists() and not (tmp_path / "run" / "resources").exists()


@pytest.mark.slow
def test_shell_injection_through_the_gain_pair_is_refused(tmp_path):
    marker = tmp_path / "injected"
    rc, out = plan(tmp_path, lambda c: c.update(report={"gain": ["lmar", f"bicubic$(touch {marker})"]}))
    assert rc != 0 and "config key report.gain.1: 'bicubic$(touch" in out and "is not allowed here" in out, out
    assert not marker.exists()


@pytest.mark.slow
def test_a_size_name_cannot_leave_the_project(tmp_path):
    rc, out = plan(tmp_path, lambda c: c["evaluation"].update(sizes=[{"name": "../../../../tmp/x", "size": [8, 8]}]))
    assert rc != 0 and "config key evaluation.sizes.0.name: '../../../../tmp/x' is not allowed here" in out, out


def test_the_schema_uses_the_library_name_pattern():
    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    sizes = schema["properties"]["evaluation"]["properties"]["sizes"]["items"]["properties"]
    assert sizes["name"]["pattern"] == paths.NAME_PATTERN
    assert schema["properties"]["experiment"]["pattern"] == paths.NAME_PATTERN
