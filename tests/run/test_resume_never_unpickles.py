"""Files read as tensors only are never unpickled: a planted pickle whose unpickling would run code
(here: create a marker file) runs nothing, whether it sits where a training job looks for its resume
state (:mod:`lmar.run.resume`: it is set aside as unreadable and the job starts over) or is handed to
the reader of the authors' released weights with a matching sha256 (:mod:`lmar.parts.lmar.released`:
refused after the hash check, before anything runs)."""

from __future__ import annotations

import pickle
from contextlib import nullcontext
from pathlib import Path

import pytest
import torch

from helpers import CPU, LMAR_SPEC, MarkerPickle

from lmar.core.errors import LmarError
from lmar.core.hashing import sha256_hex
from lmar.parts.lmar import released
from lmar.run.resume import Saver, resume_path
from lmar.run.train import train_resampler


def plant(path: Path, marker: Path, form: str) -> bytes:
    """Write the marker pickle at ``path``: in torch.save's zip format ("torch") or as a bare pickle."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if form == "torch":
        torch.save({"epoch": 0, "payload": MarkerPickle(marker)}, path)
    else:
        path.write_bytes(pickle.dumps(MarkerPickle(marker), protocol=2))  # torch.save's own protocol
    return path.read_bytes()


@pytest.mark.parametrize("form", ["torch", "pickle"])
def test_the_marker_pickle_does_run_when_unpickled(tmp_path, form):
    """The planted file is live: a full load would create the marker (so its absence below means something)."""
    marker = tmp_path / "unpickled"
    plant(tmp_path / "x.pt", marker, form)
    with pytest.raises(RuntimeError) if form == "pickle" else nullcontext():  # a bare pickle: no torch magic number
        torch.load(tmp_path / "x.pt", weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("form", ["torch", "pickle"])
def test_a_planted_resume_state_is_set_aside_unread(tmp_path, caplog, form):
    marker = tmp_path / "unpickled"
    ckpt = tmp_path / "job" / "r.pt"
    content = plant(resume_path(ckpt), marker, form)
    saver = Saver(ckpt, lambda: {"config": "c"}, every_steps=1)
    with caplog.at_level("WARNING"):
        assert saver.load() is None  # nothing resumed: the job starts over
    assert not marker.exists()
    assert not resume_path(ckpt).exists()
    (aside,) = [p for p in ckpt.parent.iterdir() if p.name.startswith("r.resume.pt.set-aside-")]
    assert aside.read_bytes() == content  # kept as it was, for a look
    assert f"resume state {resume_path(ckpt)} not resumed from: it is unreadable" in caplog.text


def test_the_trainer_sets_a_planted_resume_state_aside_unread_and_trains(mini_data, backbone_ckpt, tmp_path, caplog):
    marker = tmp_path / "unpickled"
    out = tmp_path / "job" / "r.pt"
    plant(resume_path(out), marker, "torch")
    torch.manual_seed(0)
    with caplog.at_level("WARNING"):
        meta = train_resampler(mini_data, backbone_ckpt, LMAR_SPEC, out, CPU, seed=0, name="r")
    assert not marker.exists()
    assert "it is unreadable" in caplog.text
    assert out.is_file() and meta["seed"] == 0  # trained from the start
    assert len([p for p in out.parent.iterdir() if p.name.startswith("r.resume.pt.set-aside-")]) == 1


@pytest.mark.parametrize("form", ["torch", "pickle"])
def test_released_weights_with_a_matching_sha256_are_still_never_unpickled(tmp_path, monkeypatch, form):
    """The sha256 check is passed here (the planted file's own hash made the expected one): the load
    after it takes tensors only, so the pickle is refused and nothing runs."""
    marker = tmp_path / "unpickled"
    path = tmp_path / "LMAR_model.bin"
    plant(path, marker, form)
    monkeypatch.setitem(released.FILES, "lmar", (released.FILES["lmar"][0], sha256_hex(path)))
    with pytest.raises(LmarError) as refused:
        released.read_released(path, "lmar")
    assert not marker.exists()
    # refused by the tensors-only load (UnpicklingError), not later for its shape (a full load would have run
    # it first); one line, without torch's advice to load it fully
    assert "cannot read the authors' LMAR_model.bin as tensors (UnpicklingError)" in str(refused.value)
    assert "weights_only" not in str(refused.value)
