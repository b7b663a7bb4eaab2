"""A checkpoint runs no code at any depth of its spec: a wrapped network inside a wrapped network,
a third-party constructor handed a file or a URL, or any other string that names code or a path.

Each route is a crafted checkpoint built in the test (a real backbone checkpoint whose spec is
replaced), sent through every verb that reads backbone checkpoints; each must end in one `error:`
line, leave its marker file absent, not import the module it names and write nothing.
"""

from __future__ import annotations

import json
import pickle
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from helpers.local_http import LocalServer, Payload

from helpers import LMAR_PARAMS, MarkerPickle, entries, one_error, planted_checkpoint, run_cli, write_rgb

from lmar.core import registry
from lmar.core.errors import LmarError
from lmar.core.registry import BACKBONES, check_data_params, import_object, untrusted

LABELS = json.dumps({"dataset": "mini", "backbone": "unet", "resampler": "bicubic", "config_hash": "x"})
WRAPPED = "lmar.parts.backbones.wrapped:Wrapped"  # this project's own class: a checkpoint may name it
CNNIQA = "pyiqa.archs.cnniqa_arch:CNNIQA"  # a third-party class that loads the file it is given


def wrapped_around(inner: dict) -> dict:
    """A wrapped backbone whose network is again the wrapped class, with ``inner`` as its params."""
    return {"type": "wrapped", "params": {"network": WRAPPED, "tap": "net", "kwargs": inner}}


@pytest.fixture
def evil(tmp_path, make_module):
    """A module on sys.path that leaves a marker when imported, and that marker."""
    marker = tmp_path / "imported"
    name = make_module("lmar_test_nested_evil", textwrap.dedent(f"""
        from pathlib import Path
        Path({str(marker)!r}).touch()
        import torch
        class Evil(torch.nn.Module):
            def forward(self, x):
                return x
    """))
    return name, marker


def verbs(ckpt: Path, mini_data: Path, tmp_path: Path, *extra) -> dict[str, list]:
    """The three verbs that read a backbone checkpoint, each writing under tmp_path/out."""
    out = tmp_path / "out"
    image = write_rgb(tmp_path / "in.png", 24, 36)
    return {
        "enhance": ["enhance", image, out / "y.png", "--backbone", ckpt, "--scale", 2, "--device", "cpu", *extra],
        "evaluate": ["evaluate", "--data", mini_data, "--backbone", ckpt, "--resampler-spec", '{"type": "bicubic"}',
                     "--evaluation", '{"scales": [2]}', "--labels", LABELS, "--out", out / "m.csv",
                     "--images", out / "img", "--device", "cpu", *extra],
        "train-resampler": ["train-resampler", "--data", mini_data, "--backbone", ckpt, "--spec",
                            json.dumps({"type": "lmar", "params": LMAR_PARAMS, "train": {"epochs": 1}}),
                            "--out", out / "r.pt", "--device", "cpu", *extra],
    }


def test_a_wrapped_network_inside_a_wrapped_one_is_not_imported(capsys, backbone_ckpt, mini_data, evil, tmp_path):
    name, marker = evil
    ckpt = planted_checkpoint(backbone_ckpt, tmp_path / "b.pt", wrapped_around({"network": f"{name}:Evil", "tap": "x"}))
    for verb, argv in verbs(ckpt, mini_data, tmp_path).items():
        line = one_error(*run_cli(capsys, *argv))
        assert "spec.params.kwargs.network" in line and f"{name}:Evil" in line and str(ckpt) in line, (verb, line)
        assert not marker.exists() and name not in sys.modules, verb
        assert not (tmp_path / "out").exists() or entries(tmp_path / "out") == [], verb


def test_nested_wrapped_three_deep_is_refused_at_its_depth(capsys, backbone_ckpt, evil, tmp_path):
    name, marker = evil
    spec = wrapped_around({"network": WRAPPED, "tap": "net", "kwargs": {"network": f"{name}:Evil", "tap": "x"}})
    ckpt = planted_checkpoint(backbone_ckpt, tmp_path / "b.pt", spec)
    image = write_rgb(tmp_path / "in.png", 24, 36)
    line = one_error(*run_cli(capsys, "enhance", image, tmp_path / "y.png", "--backbone", ckpt, "--scale", 2))
    # the second level's own class name is already refused: no code name passes below the top
    assert "spec.params.kwargs.network" in line and "':'" in line
    assert not marker.exists() and name not in sys.modules and not (tmp_path / "y.png").exists()


def test_a_pickle_handed_to_a_third_party_constructor_is_never_loaded(capsys, backbone_ckpt, mini_data, tmp_path):
    marker = tmp_path / "unpickled"
    bad = tmp_path / "evil.pkl"
    bad.write_bytes(pickle.dumps(MarkerPickle(marker)))
    nested = planted_checkpoint(backbone_ckpt, tmp_path / "nested.pt",
                     wrapped_around({"network": CNNIQA, "tap": "conv1",
                                     "kwargs": {"pretrained_model_path": str(bad)}}))
    # the user trusts pyiqa's code (--allow-module pyiqa), not the files a checkpoint points it at
    top = planted_checkpoint(backbone_ckpt, tmp_path / "top.pt",
                  {"type": "wrapped", "params": {"network": CNNIQA, "tap": "conv1",
                                                 "kwargs": {"pretrained_model_path": str(bad)}}})
    for ckpt, extra, key in ((nested, (), "kwargs.network"),
                             (top, ("--allow-module", "pyiqa"), "kwargs.pretrained_model_path")):
        for verb, argv in verbs(ckpt, mini_data, tmp_path, *extra).items():
            line = one_error(*run_cli(capsys, *argv))
            assert f"spec.params.{key}" in line, (verb, line)
            assert not marker.exists(), verb


@pytest.mark.parametrize("key", ["pretrained_model_path", "pretrained", "weights", "url", "model_path",
                                 "checkpoint_file"])
def test_keys_that_load_files_are_refused_at_any_depth(key):
    for params in ({"kwargs": {key: "x"}}, {"kwargs": {"a": [{key: "x"}]}}):
        with pytest.raises(LmarError, match=rf"spec\.params\.kwargs.*{key}.*refused"):
            check_data_params(params, "spec.params")


def test_a_url_in_a_checkpoint_is_never_fetched(capsys, backbone_ckpt, mini_data, tmp_path):
    marker = tmp_path / "unpickled"
    with LocalServer() as server:
        url = server.add("/evil.pkl", Payload(pickle.dumps(MarkerPickle(marker))))
        spec = {"type": "wrapped", "params": {"network": CNNIQA, "tap": "conv1",
                                              "kwargs": {"pretrained": False, "pretrained_model_path": url}}}
        ckpt = planted_checkpoint(backbone_ckpt, tmp_path / "url.pt", spec)
        for verb, argv in verbs(ckpt, mini_data, tmp_path, "--allow-module", "pyiqa").items():
            line = one_error(*run_cli(capsys, *argv))
            assert "refused" in line, (verb, line)
        assert server.requests == [] and not marker.exists()


@pytest.mark.parametrize("value", ["/etc/passwd", "..\\x", "http://127.0.0.1/x", "os:system", "C:x"])
def test_strings_holding_a_path_url_or_code_name_are_refused_at_any_depth(value):
    for params, where in (({"act": value}, "p.act"), ({"kwargs": {"deep": [1, {"act": value}]}},
                                                         "p.kwargs.deep[1].act")):
        with pytest.raises(LmarError, match=rf"{where.replace('.', '[.]').replace('[1]', '.1.')} is"):
            check_data_params(params, "p")


def test_plain_names_and_numbers_still_pass():
    check_data_params({"act": "gelu", "width": 8, "ratio": 0.5, "flag": True, "none": None,
                       "kwargs": {"blocks": [1, 2], "norm": "layer_norm", "mode": "bicubic-aa"}}, "p")


def test_objects_other_than_plain_values_are_refused():
    with pytest.raises(LmarError, match="p.kwargs.t holds a Tensor"):
        check_data_params({"kwargs": {"t": torch.zeros(1)}}, "p")
    with pytest.raises(LmarError, match="not a string"):
        check_data_params({"kwargs": {1: "x"}}, "p")


def test_every_import_while_an_untrusted_spec_is_built_follows_the_allow_list(backbone_ckpt, evil, tmp_path,
                                                                               monkeypatch):
    """The second wall: with the data check switched off, the wrapped class's own import of its
    nested network is still refused, because it happens while an untrusted spec is built."""
    name, marker = evil
    monkeypatch.setattr(registry, "check_data_params", lambda *a, **k: None)
    spec = wrapped_around({"network": f"{name}:Evil", "tap": "x"})
    with pytest.raises(LmarError, match=f"{name}.*not trusted"):
        BACKBONES.build(spec, "backbone checkpoint b.pt: spec", allow=())
    assert not marker.exists() and name not in sys.modules
    # a module the user allows is imported inside the same wall
    with untrusted((name,)):
        assert import_object(f"{name}:Evil", "network", "t").__name__ == "Evil"
    assert marker.exists()


def test_a_pickle_checkpoint_gets_one_line_without_torchs_advice(capsys, tmp_path):
    marker = tmp_path / "unpickled"
    bad = tmp_path / "b.pt"
    torch.save({"kind": "backbone", "spec": MarkerPickle(marker)}, bad)
    text = tmp_path / "t.pt"
    text.write_text("not a checkpoint")
    image = write_rgb(tmp_path / "in.png", 24, 36)
    empty = tmp_path / "e.pt"
    empty.write_bytes(b"")
    folder = tmp_path / "folder.pt"
    folder.mkdir()
    for ckpt, why in ((bad, "would run code"), (text, "it is not a PyTorch file (it starts with b'not '"),
                      (empty, "not a PyTorch file"), (image, "it is not a PyTorch file (it starts with b'\\x89PNG'"),
                      (folder, "is a folder; give the checkpoint file")):
        rc, err = run_cli(capsys, "enhance", image, tmp_path / "y.png", "--backbone", ckpt, "--scale", 2)
        line = one_error(rc, err)
        assert why in line and str(ckpt) in line
        assert "weights_only" not in err and "Weights only load failed" not in err
    assert not marker.exists()
