"""Which resume state a training job resumes from: only its own (same config, same training data,
same code), complete and fitting its network; any other is set aside (renamed, never overwritten,
named in a warning) and the job starts over, ending with the weights of an uninterrupted run."""

from __future__ import annotations

import hashlib
import logging
import textwrap
from datetime import datetime

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import BACKBONE_SPEC, CPU, LMAR_SPEC, N_TRAIN

import lmar.run.resume
import lmar.run.train
from lmar.core.errors import LmarError
from lmar.data.identity import content_hash, pairs_hash
from lmar.data.pairs import list_pairs
from lmar.run import checkpoint
from lmar.run.resume import Saver, check_state, resume_path
from lmar.run.train import pretrain_backbone, train_resampler

BACKBONE_3 = {**BACKBONE_SPEC, "train": {**BACKBONE_SPEC["train"], "epochs": 3}}
EVERY_STEP = {"every_steps": 1, "every_minutes": 0}
STEPS = -(-N_TRAIN // BACKBONE_3["train"]["batch_size"])  # steps per epoch
# what the training loop reads from a state (lmar/run/train.py, _epochs), written out by hand
LOOP_KEYS = ["model", "optim", "sched", "rng", "epoch", "step", "global_step", "order", "sums", "curve",
             "epoch_seconds", "seconds"]


def assert_same(a, b, kind="backbone"):
    sa, sb = checkpoint.load(a, kind)["state_dict"], checkpoint.load(b, kind)["state_dict"]
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def differs(a, b, kind="backbone") -> bool:
    sa, sb = checkpoint.load(a, kind)["state_dict"], checkpoint.load(b, kind)["state_dict"]
    return any(not torch.equal(sa[k], sb[k]) for k in sa)


def train(data, spec, out, save=None):
    torch.manual_seed(0)  # the initial weights
    return pretrain_backbone(data, spec, out, CPU, seed=0, name="unet", save=save)


def killed(monkeypatch, data, spec, out):
    """Train with a state saved every step and stop at the second step of epoch 1 (a crash)."""
    real, calls = lmar.run.train.F.l1_loss, []

    def l1(*a, **k):
        calls.append(1)
        if len(calls) == STEPS + 2:
            raise RuntimeError("killed midway")
        return real(*a, **k)

    with monkeypatch.context() as m:
        m.setattr(lmar.run.train.F, "l1_loss", l1)
        with pytest.raises(RuntimeError, match="killed midway"):
            train(data, spec, out, EVERY_STEP)
    state = resume_path(out)
    assert torch.load(state, weights_only=True)["global_step"] == STEPS + 1
    return state


def set_aside(state):
    return sorted(state.parent.glob(f"{state.name}.set-aside-*"))


def rewrite_state(path, **changes):
    """Rewrite the state at ``path``, keeping its identity: ``key=value`` replaced, ``key=None`` removed."""
    state = torch.load(path, weights_only=True)
    for key, value in changes.items():
        if value is None:
            del state[key]
        else:
            state[key] = value
    torch.save(state, path)
    return state


def test_unchanged_data_and_code_resume_to_the_same_weights(data_copy, tmp_path, monkeypatch, caplog):
    """(d) and only the training split counts: a changed test image does not stop a resume."""
    train(data_copy, BACKBONE_3, tmp_path / "whole.pt")
    state = killed(monkeypatch, data_copy, BACKBONE_3, tmp_path / "b.pt")
    assert set(torch.load(state, weights_only=True)["identity"]) == {"config", "data", "code"}
    test_image = min((data_copy / "test" / "gt").iterdir())
    with Image.open(test_image) as im:
        Image.fromarray(255 - np.asarray(im.convert("RGB"))).save(test_image)
    with caplog.at_level(logging.INFO):
        train(data_copy, BACKBONE_3, tmp_path / "b.pt", EVERY_STEP)
    assert f"resuming from {state}" in caplog.text
    assert_same(tmp_path / "whole.pt", tmp_path / "b.pt")
    assert not state.exists() and set_aside(state) == []


def test_a_changed_training_image_starts_over(data_copy, tmp_path, monkeypatch, caplog):
    """(a) kill, change one training image's bytes, rerun: the weights of a run on the new data."""
    state = killed(monkeypatch, data_copy, BACKBONE_3, tmp_path / "b.pt")
    image = sorted((data_copy / "train" / "input").iterdir())[2]
    with Image.open(image) as im:
        Image.fromarray(255 - np.asarray(im.convert("RGB"))).save(image)  # same size, other pixels
    train(data_copy, BACKBONE_3, tmp_path / "whole.pt")  # uninterrupted, on the new data
    with caplog.at_level(logging.WARNING):
        train(data_copy, BACKBONE_3, tmp_path / "b.pt", EVERY_STEP)
    assert_same(tmp_path / "whole.pt", tmp_path / "b.pt")
    assert "it belongs to another job (its data differs)" in caplog.text
    aside = set_aside(state)
    assert len(aside) == 1 and aside[0].name in caplog.text and not state.exists()
    assert torch.load(aside[0], weights_only=True)["global_step"] == STEPS + 1  # kept as it was


def _net_code(extra: str) -> str:
    """A user's backbone (a Backbone subclass) and a plain network for ``wrapped``: one conv each
    way; ``extra`` is spliced into both forwards (a code change that keeps the weights' shapes)."""
    return textwrap.dedent(f'''
        import torch
        from torch import nn

        from lmar.parts.backbones.base import Backbone


        class Net(Backbone):
            feature_tap = "f"

            def __init__(self):
                super().__init__()
                self.a, self.b = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 3, 3, padding=1)

            def _encode(self, x):
                f = self.a(x)
                {extra}
                return {{"f": f}}

            def _decode(self, x, feats):
                return x + self.b(feats["f"])


        class Plain(nn.Module):
            def __init__(self):
                super().__init__()
                self.a, self.b = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 3, 3, padding=1)

            def forward(self, x):
                f = self.a(x)
                {extra}
                return x + self.b(f)
    ''')


@pytest.mark.parametrize("form", ["class", "wrapped"])
def test_edited_part_code_starts_over(form, mini_data, tmp_path, monkeypatch, make_module, caplog):
    """(b) the part's code changes, its weights' shapes do not: only the code fingerprint sees it.
    ``wrapped``: the edited module is one the params name, not the part class's own."""
    name = make_module("lmar_test_resume_net", _net_code("f = f * 1.0"))
    if form == "class":
        spec = {"type": f"{name}:Net"}
    else:
        spec = {"type": "wrapped", "params": {"network": f"{name}:Plain", "tap": "a", "tap_stride": 1}}
    spec["train"] = BACKBONE_3["train"]
    state = killed(monkeypatch, mini_data, spec, tmp_path / "b.pt")
    make_module(name, _net_code("f = torch.tanh(f)"))  # the edit
    train(mini_data, spec, tmp_path / "whole.pt")
    with caplog.at_level(logging.WARNING):
        train(mini_data, spec, tmp_path / "b.pt", EVERY_STEP)
    assert_same(tmp_path / "whole.pt", tmp_path / "b.pt")
    assert "it belongs to another job (its code differs)" in caplog.text
    assert len(set_aside(state)) == 1


def test_weights_of_a_network_with_one_more_layer_are_set_aside(mini_data, tmp_path, monkeypatch, caplog):
    """(b) a state of the right identity whose weights have one more layer: no load error, set aside."""
    state = killed(monkeypatch, mini_data, BACKBONE_3, tmp_path / "b.pt")
    model = torch.load(state, weights_only=True)["model"]
    rewrite_state(state, model={**model, "extra.weight": torch.zeros(3, 3, 1, 1), "extra.bias": torch.zeros(3)})
    train(mini_data, BACKBONE_3, tmp_path / "whole.pt")
    with caplog.at_level(logging.WARNING):
        train(mini_data, BACKBONE_3, tmp_path / "b.pt", EVERY_STEP)  # no RuntimeError
    assert_same(tmp_path / "whole.pt", tmp_path / "b.pt")
    assert "its weights do not fit the network (missing: none; unexpected: extra.bias, extra.weight)" in caplog.text
    assert len(set_aside(state)) == 1


def test_weights_of_another_shape_are_set_aside_before_anything_is_loaded(mini_data, tmp_path, monkeypatch, caplog):
    """One tensor of another shape: set aside, and the network, optimiser and RNG were not touched
    (the run equals an uninterrupted one, which a partly loaded start would not)."""
    state = killed(monkeypatch, mini_data, BACKBONE_3, tmp_path / "b.pt")
    model = torch.load(state, weights_only=True)["model"]
    last = list(model)[-1]
    rewrite_state(state, model={**model, last: torch.zeros(model[last].numel() + 1)})
    train(mini_data, BACKBONE_3, tmp_path / "whole.pt")
    with caplog.at_level(logging.WARNING):
        train(mini_data, BACKBONE_3, tmp_path / "b.pt", EVERY_STEP)
    assert_same(tmp_path / "whole.pt", tmp_path / "b.pt")
    assert f"its weights do not fit the network ({last} is ({model[last].numel() + 1},)" in caplog.text


def test_a_state_without_its_model_is_set_aside(mini_data, tmp_path, monkeypatch, caplog):
    """(c) the right identity but no ``model``: set aside, no KeyError."""
    state = killed(monkeypatch, mini_data, BACKBONE_3, tmp_path / "b.pt")
    rewrite_state(state, model=None)
    train(mini_data, BACKBONE_3, tmp_path / "whole.pt")
    with caplog.at_level(logging.WARNING):
        train(mini_data, BACKBONE_3, tmp_path / "b.pt", EVERY_STEP)
    assert "not resumed from: it lacks model; set aside as b.resume.pt.set-aside-" in caplog.text
    assert_same(tmp_path / "whole.pt", tmp_path / "b.pt")
    assert len(set_aside(state)) == 1


LMAR_2 = {**LMAR_SPEC, "train": {**LMAR_SPEC["train"], "epochs": 2}}


def test_a_resampler_state_made_against_another_backbone_starts_over(mini_data, backbone_ckpt, tmp_path, monkeypatch,
                                                                      caplog):
    """The resampler job's identity holds its backbone checkpoint's sha256 besides data and code."""
    other = tmp_path / "other_backbone.pt"
    torch.manual_seed(1)  # other initial weights: another backbone of the same spec
    pretrain_backbone(mini_data, BACKBONE_SPEC, other, CPU, seed=1, name="unet")
    real, calls = lmar.run.train._random_crop, []

    def crop(*a, **k):
        calls.append(1)
        if len(calls) == N_TRAIN + 2:  # in epoch 1
            raise RuntimeError("killed midway")
        return real(*a, **k)

    with monkeypatch.context() as m:
        m.setattr(lmar.run.train, "_random_crop", crop)
        with pytest.raises(RuntimeError, match="killed midway"):
            torch.manual_seed(0)
            train_resampler(mini_data, backbone_ckpt, LMAR_2, tmp_path / "r.pt", CPU, seed=0, name="lmar",
                            save=EVERY_STEP)
    state = resume_path(tmp_path / "r.pt")
    assert torch.load(state, weights_only=True)["epoch"] == 1
    torch.manual_seed(0)
    train_resampler(mini_data, other, LMAR_2, tmp_path / "whole.pt", CPU, seed=0, name="lmar")
    with caplog.at_level(logging.WARNING):
        torch.manual_seed(0)
        train_resampler(mini_data, other, LMAR_2, tmp_path / "r.pt", CPU, seed=0, name="lmar", save=EVERY_STEP)
    assert_same(tmp_path / "whole.pt", tmp_path / "r.pt", "resampler")
    assert "it belongs to another job (its backbone differs)" in caplog.text
    assert len(set_aside(state)) == 1


BROKEN_LOADER = textwrap.dedent('''
    from torch import nn

    from lmar.parts.backbones.base import Backbone


    class Net(Backbone):
        """Loads no saved weights: its own loading code fails, past every check of the state."""

        feature_tap = "f"

        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(3, 3, 3, padding=1)

        def _encode(self, x):
            return {"f": self.a(x)}

        def _decode(self, x, feats):
            return x + feats["f"]

        def load_state_dict(self, *args, **kwargs):
            raise RuntimeError("this network loads nothing")
''')


def test_a_state_that_fails_to_load_is_set_aside_once(mini_data, tmp_path, monkeypatch, make_module):
    """A part's own loading code fails after the checks: one LmarError, the state set aside, so
    that the next rerun starts over instead of failing again until the file is deleted by hand."""
    spec = {"type": f"{make_module('lmar_test_resume_broken', BROKEN_LOADER)}:Net", "train": BACKBONE_3["train"]}
    state = killed(monkeypatch, mini_data, spec, tmp_path / "b.pt")
    with pytest.raises(LmarError, match="resume state .*b.resume.pt passed the checks but failed to load and has "
                                        "been set aside; rerun to start over"):
        train(mini_data, spec, tmp_path / "b.pt", EVERY_STEP)
    assert not state.exists() and len(set_aside(state)) == 1
    train(mini_data, spec, tmp_path / "whole.pt")
    train(mini_data, spec, tmp_path / "b.pt", EVERY_STEP)
    assert_same(tmp_path / "whole.pt", tmp_path / "b.pt")


def test_an_unreadable_state_is_set_aside(mini_data, tmp_path, caplog):
    state = resume_path(tmp_path / "b.pt")
    state.write_bytes(b"PK\x03\x04 torn")
    train(mini_data, BACKBONE_SPEC, tmp_path / "whole.pt")
    with caplog.at_level(logging.WARNING):
        train(mini_data, BACKBONE_SPEC, tmp_path / "b.pt", EVERY_STEP)
    assert "not resumed from: it is unreadable (" in caplog.text
    assert_same(tmp_path / "whole.pt", tmp_path / "b.pt")
    assert [p.read_bytes() for p in set_aside(state)] == [b"PK\x03\x04 torn"]


@pytest.fixture(scope="module")
def saved_state(mini_data, tmp_path_factory):
    """A real state of the backbone job (saved at its first step), as a dict."""
    out = tmp_path_factory.mktemp("state") / "b.pt"
    real = lmar.run.train.F.l1_loss
    calls = []

    def l1(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("killed midway")
        return real(*a, **k)

    mp = pytest.MonkeyPatch()
    mp.setattr(lmar.run.train.F, "l1_loss", l1)
    try:
        with pytest.raises(RuntimeError, match="killed midway"):
            train(mini_data, BACKBONE_3, out, EVERY_STEP)
    finally:
        mp.undo()
    return torch.load(resume_path(out), weights_only=True)


@pytest.mark.parametrize("key", LOOP_KEYS)
def test_a_state_missing_any_key_the_loop_reads_is_set_aside(key, saved_state, tmp_path, caplog):
    saver = Saver(tmp_path / "b.pt", lambda: saved_state["identity"])
    torch.save({k: v for k, v in saved_state.items() if k != key}, saver.path)
    with caplog.at_level(logging.WARNING):
        assert saver.load() is None
    assert f"not resumed from: it lacks {key}; set aside as" in caplog.text
    assert not saver.path.exists() and len(set_aside(saver.path)) == 1
    torch.save(saved_state, saver.path)  # and the complete state is resumed from
    assert saver.load()["global_step"] == 1


def test_a_state_with_a_key_of_the_wrong_type_is_set_aside(saved_state, tmp_path, caplog):
    saver = Saver(tmp_path / "b.pt", lambda: saved_state["identity"])
    torch.save({**saved_state, "epoch": "1"}, saver.path)
    with caplog.at_level(logging.WARNING):
        assert saver.load() is None
    assert "not resumed from: its epoch is a str; set aside as" in caplog.text


def test_a_state_with_malformed_nested_parts_is_set_aside(tmp_path, caplog):
    """An optimiser state whose parameter list is a number: set aside, not a TypeError."""
    net = torch.nn.Linear(2, 2)
    opt, gen = torch.optim.Adam(net.parameters()), torch.Generator()
    saver = Saver(tmp_path / "b.pt", dict)
    state = {"identity": {}, "model": net.state_dict(), "optim": {"state": {}, "param_groups": [{"params": 5}]},
             "sched": {}, "rng": {"gen": gen.get_state(), "torch": torch.get_rng_state()}, "epoch": 0, "step": 1,
             "global_step": 1, "order": torch.arange(2), "sums": {}, "curve": [], "epoch_seconds": 0.1, "seconds": 0.1}
    torch.save(state, saver.path)
    with caplog.at_level(logging.WARNING):
        assert saver.load(lambda s: check_state(s, net, opt, gen, 2, 1, 2)) is None
    assert "not resumed from: it is malformed (TypeError: " in caplog.text
    assert not saver.path.exists() and len(set_aside(saver.path)) == 1


def test_setting_aside_never_overwrites_an_earlier_one(tmp_path, monkeypatch):
    class Clock:  # every set-aside at the same UTC second
        @staticmethod
        def now(tz=None):
            return datetime(2026, 1, 2, 3, 4, 5, tzinfo=tz)

    monkeypatch.setattr(lmar.run.resume, "datetime", Clock)
    saver = Saver(tmp_path / "b.pt", dict)
    for content in (b"first", b"second", b"third"):
        saver.path.write_bytes(content)
        saver.set_aside("a test")
    stamp = "b.resume.pt.set-aside-20260102T030405Z"
    assert {p.name: p.read_bytes() for p in set_aside(saver.path)} == {
        stamp: b"first", f"{stamp}-1": b"second", f"{stamp}-2": b"third"}
    assert not saver.path.exists()


def test_the_data_identity_hashes_the_split_s_pairs(data_copy):
    """Recomputed by hand: sha256 over "relative path NUL sha256(bytes) LF" of each input and gt,
    sorted by path; equal to the split folder's content hash; blind to files outside the pairs."""
    split = data_copy / "train"
    pairs = list_pairs(data_copy, "train")
    files = sorted([p.input for p in pairs] + [p.gt for p in pairs], key=lambda f: f.relative_to(split).as_posix())
    lines = "".join(f"{f.relative_to(split).as_posix()}\0{hashlib.sha256(f.read_bytes()).hexdigest()}\n"
                    for f in files)
    expected = hashlib.sha256(lines.encode()).hexdigest()[:12]
    assert pairs_hash(pairs, split) == expected == content_hash(split)
    (split / "notes.txt").write_text("not an image")  # not a pair: not read for training
    assert pairs_hash(list_pairs(data_copy, "train"), split) == expected != content_hash(split)
    gt = pairs[0].gt
    gt.write_bytes(gt.read_bytes() + b"\0")  # one byte more
    assert pairs_hash(list_pairs(data_copy, "train", check_sizes=False), split) != expected
