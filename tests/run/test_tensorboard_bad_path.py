"""LMAR_TENSORBOARD that names a file (or a folder under one) is one error line before training
starts, and the job writes nothing."""

from __future__ import annotations

import json

import pytest

from helpers import BACKBONE_SPEC

from lmar.cli import main
from lmar.core.errors import LmarError
from lmar.run.curves import TENSORBOARD_ENV, CurveRecorder


@pytest.mark.parametrize("below", [False, True])
def test_a_file_in_the_way_is_named(tmp_path, monkeypatch, below):
    pytest.importorskip("torch.utils.tensorboard")
    blocker = tmp_path / "tb.txt"
    blocker.write_text("not a folder")
    monkeypatch.setenv(TENSORBOARD_ENV, str(blocker / "sub" if below else blocker))
    with pytest.raises(LmarError, match=f"{TENSORBOARD_ENV}=.*: {blocker} is a file, not a folder"):
        CurveRecorder("unet/seed0")
    assert blocker.read_text() == "not a folder"


def test_the_training_verb_says_it_in_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys, mini_data):
    pytest.importorskip("torch.utils.tensorboard")
    blocker = tmp_path / "tb.txt"
    blocker.write_text("")
    monkeypatch.setenv(TENSORBOARD_ENV, str(blocker))
    out = tmp_path / "out"
    rc = main(["pretrain-backbone", "--data", str(mini_data), "--spec", json.dumps(BACKBONE_SPEC), "--name", "unet",
               "--out", str(out / "b.pt"), "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1 and "is a file, not a folder" in lines[0], err
    assert not (out / "b.pt").exists()
