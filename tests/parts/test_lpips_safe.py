"""LPIPS weights are hash-checked and loaded with weights_only=True by LMAR, never unpickled by pyiqa/torchvision.

Stand-in weight files (random tensors of the right shapes) cannot have the real sha256, so the tests that need
them to pass the check monkeypatch ``lmar.parts.weights.EXPECTED_SHA256`` (module level, read at call time) to the
stand-in's own sha256. Everything is written under tmp_path (``empty_torch_home``); nothing is downloaded.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from helpers import MarkerPickle, accept_weight, real_lpips, stand_in_alexnet, stand_in_lpips

from lmar.core.errors import LmarError
from lmar.core.hashing import sha256_hex
from lmar.parts import weights
from lmar.parts.weights import weight_path
from lmar.run.metrics import Scorer

CPU = torch.device("cpu")


def _plant(path: Path, marker: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"features.0.weight": torch.zeros(1), "payload": MarkerPickle(marker)}, path)
    return path



def test_the_real_lpips_file_has_the_expected_sha256():
    import lpips

    shipped = Path(lpips.__file__).parent / weights.LPIPS_PACKAGE_FILE
    assert sha256_hex(shipped) == weights.LPIPS_ALEX_SHA256 == weights.EXPECTED_SHA256["lpips_alex"]
    assert weights.EXPECTED_SHA256["alexnet"] == "7be5be79"


def test_the_planted_file_does_run_code_when_unpickled_unsafely(tmp_path):
    """The premise of the tests below: a normal unpickle of a planted file creates the marker."""
    marker = tmp_path / "pwned"
    path = _plant(tmp_path / "evil.pth", marker)
    torch.load(path, weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("planted", ["lpips_alex", "alexnet"])
def test_a_planted_file_with_the_wrong_hash_is_never_unpickled(empty_torch_home, tmp_path, monkeypatch, planted):
    marker = tmp_path / "pwned"
    if planted == "lpips_alex":
        accept_weight(monkeypatch, "alexnet", stand_in_alexnet(empty_torch_home))
    else:
        real_lpips(empty_torch_home)  # the real file with the real hash
    path = _plant(weight_path(planted, empty_torch_home), marker)

    scorer = Scorer(["psnr", "lpips"], CPU)  # not required: reported missing, the run goes on
    assert not marker.exists()
    reason = scorer.missing["lpips"]
    assert reason.startswith(f"sha256 mismatch for {path}: expected ") and weights.EXPECTED_SHA256[planted] in reason
    assert "Delete it and re-run the seed_weights step" in reason
    scores = scorer(torch.rand(3, 16, 16), torch.rand(3, 16, 16))
    assert math.isnan(scores["lpips"]) and math.isfinite(scores["psnr"])

    with pytest.raises(LmarError) as err:  # required: an error, with the same reason
        Scorer(["psnr", "lpips"], CPU, required=["psnr", "lpips"])
    assert "metric 'lpips' is required" in str(err.value) and f"sha256 mismatch for {path}" in str(err.value)
    assert not marker.exists()


@pytest.mark.parametrize("required", [[], ["lpips"]])
@pytest.mark.parametrize("planted", ["lpips_alex", "alexnet"])
def test_a_planted_file_with_a_matching_hash_is_refused_by_weights_only(
    empty_torch_home, tmp_path, monkeypatch, planted, required
):
    """Even if the expected hash were the planted file's, torch.load(weights_only=True) refuses it: an error."""
    marker = tmp_path / "pwned"
    other = "alexnet" if planted == "lpips_alex" else "lpips_alex"
    accept_weight(monkeypatch, other, (stand_in_alexnet if other == "alexnet" else stand_in_lpips)(empty_torch_home))
    path = _plant(weight_path(planted, empty_torch_home), marker)
    accept_weight(monkeypatch, planted, path)

    with pytest.raises(LmarError) as err:
        Scorer(["psnr", "lpips"], CPU, required=required)
    assert not marker.exists()
    msg = str(err.value)
    assert msg.startswith(f"refused to load weights {path}: ") and "seed_weights" in msg
    assert "\n" not in msg


def test_lpips_with_stand_in_weights_equals_pyiqas_own_loading(empty_torch_home, tmp_path, monkeypatch):
    import pyiqa

    alex, lin = stand_in_alexnet(empty_torch_home), stand_in_lpips(empty_torch_home)
    accept_weight(monkeypatch, "alexnet", alex)
    accept_weight(monkeypatch, "lpips_alex", lin)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))

    scorer = Scorer(["psnr", "lpips"], CPU, required=["psnr", "lpips"])
    torch.manual_seed(2)
    a, b = torch.rand(3, 40, 48), torch.rand(3, 40, 48)
    ours = scorer(a, b)["lpips"]
    assert math.isfinite(ours) and ours > 0
    assert scorer(a, a)["lpips"] == pytest.approx(0.0, abs=1e-6)

    # pyiqa's normal loading, allowed here only because both files are our own stand-ins.
    theirs = pyiqa.create_metric("lpips", device=CPU, as_loss=False, pretrained_model_path=str(lin))
    with torch.no_grad():
        expected = float(theirs(a[None], b[None]))
    assert ours == pytest.approx(expected, abs=1e-6)
    ours_sd, theirs_sd = scorer.metrics["lpips"].net.state_dict(), theirs.net.state_dict()
    assert ours_sd.keys() == theirs_sd.keys() and all(torch.equal(ours_sd[k], theirs_sd[k]) for k in ours_sd)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing written


def test_weights_with_missing_or_foreign_tensors_are_an_error_naming_the_file(empty_torch_home, monkeypatch):
    alex = stand_in_alexnet(empty_torch_home)
    accept_weight(monkeypatch, "alexnet", alex)
    lin = weight_path("lpips_alex", empty_torch_home)
    lin.parent.mkdir(parents=True)
    torch.save({f"lin{i}.model.1.weight": torch.rand(1, 64, 1, 1) for i in range(4)}, lin)  # no lin4, bad shapes
    accept_weight(monkeypatch, "lpips_alex", lin)
    with pytest.raises(LmarError, match=f"weights {lin}: 'lin1.model.1.weight' has shape"):
        Scorer(["lpips"], CPU, required=[])

    torch.save({f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate((64, 192, 384, 256))}, lin)
    accept_weight(monkeypatch, "lpips_alex", lin)
    with pytest.raises(LmarError, match=f"weights {lin} have no 'lin4.model.1.weight'"):
        Scorer(["lpips"], CPU, required=[])


def test_pyiqa_is_left_as_it_was(empty_torch_home, monkeypatch):
    from pyiqa.archs import lpips_arch
    from torchvision import models

    accept_weight(monkeypatch, "alexnet", stand_in_alexnet(empty_torch_home))
    accept_weight(monkeypatch, "lpips_alex", stand_in_lpips(empty_torch_home))
    Scorer(["lpips"], CPU, required=["lpips"])
    assert lpips_arch.models is models
    assert lpips_arch.load_pretrained_network.__module__ == "pyiqa.archs.arch_util"


@pytest.mark.parametrize("accepted", [False, True])
def test_a_planted_vgg16_file_runs_no_code(empty_torch_home, monkeypatch, tmp_path, accepted):
    """LMAR's resize loss loads VGG16 through the same checked loader: refused by its hash prefix,
    and, with the hash made to match, refused by weights_only."""
    from lmar.parts.lmar.losses import VGGRelu43

    marker = tmp_path / "vgg_marker"
    path = _plant(weight_path("vgg16"), marker)
    if accepted:
        accept_weight(monkeypatch, "vgg16", path)
    with pytest.raises(LmarError, match="refused to load" if accepted else "sha256 mismatch"):
        VGGRelu43()
    assert not marker.exists()
