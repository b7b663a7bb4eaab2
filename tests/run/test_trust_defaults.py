"""What a checkpoint may name, beyond its params: not a module that runs code when imported
(``lmar.__main__`` runs the CLI), not this project's modules outside its part homes, not a
third-party class whose constructor loads a file by default (pyiqa's CNNIQA loads its cached
weights with a full unpickle unless told not to, and a checkpoint may not tell it), and, where the
user names a class, only that class of its module."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import pytest
import torch

from helpers import BACKBONE_SPEC, MarkerPickle, one_error, planted_checkpoint, run_cli, write_rgb

from lmar.core.errors import LmarError
from lmar.core.registry import BACKBONES, name_allowed

CNNIQA = "pyiqa.archs.cnniqa_arch:CNNIQA"


def enhance_argv(ckpt: Path, tmp_path: Path, *extra) -> list:
    image = write_rgb(tmp_path / "in.png", 24, 36)
    return ["enhance", image, tmp_path / "y.png", "--backbone", ckpt, "--scale", 2, "--device", "cpu", *extra]


def test_a_checkpoint_naming_lmar_main_does_not_run_the_cli(capsys, backbone_ckpt, tmp_path, monkeypatch):
    monkeypatch.delitem(sys.modules, "lmar.__main__", raising=False)
    ckpt = planted_checkpoint(backbone_ckpt, tmp_path / "main.pt", {"type": "lmar.__main__:Backbone", "params": {}})
    rc, err = run_cli(capsys, *enhance_argv(ckpt, tmp_path))
    line = one_error(rc, err)
    assert "'lmar.__main__:Backbone'" in line and "not trusted" in line
    assert "lmar.__main__" not in sys.modules and "usage:" not in err
    assert not (tmp_path / "y.png").exists()


@pytest.mark.parametrize("name", ["lmar.__main__:Backbone", "lmar.core.atomic:atomic_path", "baselines._x:Net",
                                  "lmar.parts._private:Net"])
def test_private_modules_and_modules_outside_the_part_homes_are_data_named_code(name):
    assert not name_allowed(name, [])
    assert name_allowed(name, None)  # a config is trusted


def test_part_homes_need_no_permission():
    assert name_allowed("lmar.parts.backbones.unet_lite:UNetLite", [])
    assert name_allowed("baselines.learned_resizer:LearnedResizer", [])
    assert not name_allowed("lmarx.parts:Net", []) and not name_allowed("lmar.partsx:Net", [])


def test_a_named_class_allows_that_class_only():
    allow = ["torch.nn:Identity"]
    assert name_allowed("torch.nn:Identity", allow)
    assert not name_allowed("torch.nn:Linear", allow) and not name_allowed("torch.nn.modules:Identity", allow)
    assert name_allowed("torch.nn.modules.linear:Linear", ["torch.nn"])  # a module: every class inside it


def test_a_class_that_loads_its_weights_by_default_is_refused_from_a_checkpoint(capsys, backbone_ckpt, tmp_path,
                                                                                 monkeypatch):
    """The checkpoint names CNNIQA and no file at all; CNNIQA's default (pretrained='koniq10k') would
    unpickle whatever sits in the weights cache. Even with the user's --allow-module, it is not built."""
    pytest.importorskip("pyiqa")
    home = tmp_path / "torch_home"
    cached = home / "hub" / "pyiqa" / "CNNIQA_koniq10k-e6f14c91.pth"  # where pyiqa caches that default
    cached.parent.mkdir(parents=True)
    marker = tmp_path / "unpickled"
    cached.write_bytes(pickle.dumps(MarkerPickle(marker)))
    monkeypatch.setenv("TORCH_HOME", str(home))
    ckpt = planted_checkpoint(backbone_ckpt, tmp_path / "cnniqa.pt",
                              {"type": "wrapped", "params": {"network": CNNIQA, "tap": "conv1"}})
    for allow in ("pyiqa", CNNIQA):
        line = one_error(*run_cli(capsys, *enhance_argv(ckpt, tmp_path, "--allow-module", allow)))
        assert "loads files by default" in line and "pretrained='koniq10k'" in line, line
        assert not marker.exists() and not (tmp_path / "y.png").exists()


def test_the_same_class_builds_from_a_config(tmp_path):
    """A config is trusted: the class that loads by default is built where the config names it, with the
    load turned off by the config's own params."""
    pytest.importorskip("pyiqa")
    spec = {"type": "wrapped", "params": {"network": CNNIQA, "tap": "conv1", "kwargs": {"pretrained": None}}}
    net = BACKBONES.build(spec, "config key backbones.b")
    assert isinstance(net, torch.nn.Module)
    with pytest.raises(LmarError, match="loads files by default"):
        BACKBONES.build({**spec, "params": {"network": CNNIQA, "tap": "conv1"}}, "ckpt: spec", allow=["pyiqa"])


def test_registered_parts_still_load(backbone_ckpt):
    from lmar.run.checkpoint import load_backbone

    net, _ = load_backbone(backbone_ckpt, torch.device("cpu"), allow=())
    assert type(net).__name__ == "UNetLite" and BACKBONE_SPEC["type"] == "unet_lite"
