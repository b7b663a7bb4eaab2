"""Registries: built-in names, a user's own 'module:Class' part end to end, config checks."""

from __future__ import annotations

import json
import sys
import textwrap

import pandas as pd
import pytest
import torch

from helpers import CPU, LABELS, N_TEST, TEST_NAMES, entries

from lmar.cli import main
from lmar.core.errors import LmarError
from lmar.core.registry import BACKBONES, DATASETS, RESAMPLERS, Registry
from lmar.run.config import check_parts, trainable
from lmar.run.evaluate import evaluate

USER_MODULE = textwrap.dedent(
    '''
    """A user's own resampler, outside the harness."""
    import torch.nn.functional as F

    from lmar.parts.resampler_base import Resampler


    class BoxDown(Resampler):
        def __init__(self, mode="area", gain=1.0):
            super().__init__()
            self.mode, self.gain = mode, gain

        def forward(self, x, size):
            return F.interpolate(x, size=tuple(size), mode=self.mode) * self.gain
    '''
)


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    name = "my_lab_resamplers"
    pkg = tmp_path / "userpkg"
    pkg.mkdir()
    (pkg / f"{name}.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(pkg))
    monkeypatch.delitem(sys.modules, name, raising=False)
    yield name
    sys.modules.pop(name, None)


def test_builtin_names():
    assert {"lmar", "bicubic", "bilinear", "nearest", "area", "interpolation", "full_resolution"} <= set(RESAMPLERS.names())
    assert {"unet_lite", "lmar_unet"} <= set(BACKBONES.names())
    assert "mini" in DATASETS.names()


def test_list_verb_prints_every_registry(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert any(line.startswith("backbones: ") and "unet_lite" in line for line in out)
    assert any(line.startswith("resamplers: ") and "lmar" in line and "full_resolution" in line for line in out)
    assert any(line.startswith("datasets: ") and "mini" in line for line in out)


def test_user_resampler_is_built_from_module_and_class(user_module):
    net = RESAMPLERS.build({"type": f"{user_module}:BoxDown", "params": {"mode": "bilinear", "gain": 0.5}})
    assert type(net).__name__ == "BoxDown" and net.mode == "bilinear" and net.gain == 0.5
    assert not net.trainable and not net.is_identity
    y = net(torch.ones(1, 3, 10, 12), (5, 6))
    assert y.shape == (1, 3, 5, 6) and torch.allclose(y, torch.full_like(y, 0.5))


def test_user_resampler_evaluates_end_to_end(user_module, mini_data, backbone_ckpt, tmp_path):
    spec = {"type": f"{user_module}:BoxDown", "params": {"mode": "area"}}
    df = evaluate(mini_data, backbone_ckpt, spec, None, {"scales": [2, 3], "save_outputs": "all"}, tmp_path / "box.csv",
                  tmp_path / "img", CPU, {**LABELS, "resampler": "box"})
    on_disk = pd.read_csv(tmp_path / "box.csv")
    assert len(df) == len(on_disk) == 2 * N_TEST
    assert set(on_disk.resampler) == {"box"} and set(on_disk.resampler_type) == {f"{user_module}:BoxDown"}
    assert json.loads(on_disk.resampler_params[0]) == {"mode": "area"}
    assert sorted(on_disk.image.unique()) == TEST_NAMES
    assert on_disk.psnr.notna().all() and (on_disk.psnr > 0).all()
    assert len([e for e in entries(tmp_path / "img") if e.endswith(".png")]) == 2 * N_TEST


def test_user_resampler_through_the_cli(capsys, user_module, mini_data, backbone_ckpt, tmp_path):
    rc = main(["evaluate", "--data", str(mini_data), "--backbone", str(backbone_ckpt), "--resampler-spec",
               json.dumps({"type": f"{user_module}:BoxDown"}), "--evaluation", json.dumps({"scales": [2]}),
               "--labels", json.dumps({**LABELS, "resampler": "box"}), "--out", str(tmp_path / "m.csv"),
               "--images", str(tmp_path / "img"), "--device", "cpu"])
    assert rc == 0, capsys.readouterr().err
    assert len(pd.read_csv(tmp_path / "m.csv")) == N_TEST


def test_missing_module_or_class_is_an_lmar_error(user_module):
    with pytest.raises(LmarError, match="cannot import module 'no_such_mod_xyz'.*PYTHONPATH"):
        RESAMPLERS.get("no_such_mod_xyz:Thing", "resamplers.mine.type")
    with pytest.raises(LmarError, match=f"resamplers.mine.type: module '{user_module}' has no 'Missing'"):
        RESAMPLERS.get(f"{user_module}:Missing", "resamplers.mine.type")
    with pytest.raises(LmarError, match=r"resampler.params: unknown key 'colour'.*Known keys: gain, mode"):
        RESAMPLERS.build({"type": f"{user_module}:BoxDown", "params": {"colour": 1}})


def test_a_plugin_that_fails_to_import_or_to_build_is_named_against_its_key(make_module):
    """A syntax error in the module, or any exception from the part's constructor: one LmarError
    naming the config key and the cause, never a traceback."""
    broken = make_module("lmar_test_broken_syntax", "def f(:\n    pass\n")
    with pytest.raises(LmarError, match=rf"resamplers.mine.type: module '{broken}'.*fails to import: SyntaxError"):
        RESAMPLERS.get(f"{broken}:Thing", "resamplers.mine.type")
    failing = make_module("lmar_test_failing_init", textwrap.dedent("""
        from lmar.parts.resampler_base import Resampler

        class Fails(Resampler):
            def __init__(self):
                super().__init__()
                raise RuntimeError("no GPU driver here")
    """))
    config = {"datasets": {"mini": {"type": "mini"}}, "backbones": {"unet": {"type": "unet_lite"}},
              "resamplers": {"mine": {"type": f"{failing}:Fails"}}}
    with pytest.raises(LmarError, match="config key resamplers.mine: building Fails failed: RuntimeError: no GPU driver"):
        check_parts(config)


@pytest.mark.parametrize("bad", ["", None, 3])
def test_type_must_be_a_nonempty_string(bad):
    with pytest.raises(LmarError, match="non-empty string"):
        RESAMPLERS.get(bad)


def test_double_registration_is_refused():
    reg = Registry("widget", "lmar.core.errors", "lmar.parts.resampler_base:Resampler")
    reg.register("w")(type("W1", (), {}))
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("w")(type("W2", (), {}))
    assert reg.get("w").__name__ == "W1" and reg.get("w").registry_name == "w"


def test_check_parts_names_the_config_key():
    good = {
        "datasets": {"mini": {"type": "mini"}},
        "backbones": {"unet": {"type": "unet_lite"}},
        "resamplers": {"bicubic": {"type": "bicubic"}, "lmar": {"type": "lmar"}},
        "evaluation": {"scales": [1.5, 2, "3"]},
    }
    check_parts(good)
    for section, name, words in (("resamplers", "bicubic", "resamplers.bicubic.type"),
                                 ("backbones", "unet", "backbones.unet.type")):
        bad = json.loads(json.dumps(good))
        bad[section][name]["type"] = "nope"
        with pytest.raises(LmarError, match=words):
            check_parts(bad)
    with pytest.raises(LmarError, match=r"evaluation.scales\[1\]: scale must be a number >= 1"):
        check_parts({**good, "evaluation": {"scales": [2, 0]}})
    with pytest.raises(LmarError, match="'datasets' is empty"):
        check_parts({**good, "datasets": {}})
    with pytest.raises(LmarError, match="resamplers.x needs a 'type'"):
        check_parts({**good, "resamplers": {"x": {"params": {}}}})
    assert trainable({"type": "lmar"}) and not trainable({"type": "bicubic"})


@pytest.mark.parametrize("evaluation, says", [
    ({"scales": [1000]}, "is below the backbone's smallest input 8x8; use a scale of at most"),
    ({"sizes": [{"name": "big", "size": [720, 1080]}]}, "is larger than the input 360x540"),
])
def test_a_target_mini_cannot_run_is_refused_at_plan_time(evaluation, says):
    """mini's frames are 360x540 whatever the run: a target the U-Net cannot take (its smallest input is 8)
    or one larger than the frame is refused when the plan is made, not by each evaluation job later."""
    config = {"datasets": {"mini": {"type": "mini"}}, "backbones": {"unet": {"type": "unet_lite"}},
              "resamplers": {"bicubic": {"type": "bicubic"}}, "evaluation": evaluation}
    with pytest.raises(LmarError, match=says) as err:
        check_parts(config)
    assert "datasets.mini, backbones.unet" in str(err.value)
    check_parts({**config, "evaluation": {"scales": [40]}})  # 9x14: at least 8 on both sides
