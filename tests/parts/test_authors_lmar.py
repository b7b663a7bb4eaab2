"""The authors' released LMAR, converted: the MLP, the compensatory maps, the small images (x1.5
with its ties included) and the whole DEU against reference outputs of the authors' own code, and
the released files fetched (sha256 checked) and converted through the CLI and the workflow.

The references and released files are the project's shared fixtures; these tests skip when they
are absent."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from helpers.local_http import LocalServer

from helpers import AUTHORS

from lmar.cli import main
from lmar.core.errors import LmarError

pytestmark = pytest.mark.skipif(not (AUTHORS / "LMAR_model.bin").is_file(),
                                reason=f"the authors' released files and reference outputs are not at {AUTHORS}")
SIZES = [(48, 64), (64, 85), (32, 43), (53, 71)]  # 64x85 is x1.5: every third row ties


def ref(name: str) -> np.ndarray:
    return np.load(AUTHORS / name)


@pytest.fixture(scope="module")
def released():
    from lmar.parts.backbones.lmar_unet import from_released
    from lmar.parts.lmar.released import lmar_state_dict, read_released
    from lmar.parts.lmar.resampler import LMAR

    net = LMAR(interpolation="lanczos3", fused="never")
    net.load_state_dict(lmar_state_dict(read_released(AUTHORS / "LMAR_model.bin", "lmar")))
    backbone = from_released(read_released(AUTHORS / "base_model.bin", "backbone"))
    return net.eval(), backbone.eval()


def test_the_converted_mlp_matches_tiny_cuda_nn(released):
    net, _ = released
    with torch.no_grad():
        out = net.mlp(torch.from_numpy(ref("mlp_in.npy"))).numpy()
    want = ref("mlp_out.npy")
    assert np.abs(want).max() > 1e3  # far outside the training range: a layout error would show
    assert np.abs(out - want).max() <= 1e-5 * np.abs(want).max()


@pytest.mark.parametrize("h, w", SIZES)
def test_maps_and_small_images_match_the_authors(released, h, w):
    net, _ = released
    x = torch.from_numpy(ref("input.npy"))[None]
    with torch.no_grad():
        comp = net.compensatory_map(x, (h, w))[0].numpy()
        small = net(x, (h, w))[0].numpy()
    assert np.abs(comp - ref(f"lmar_map_{h}x{w}.npy")).max() <= 1e-4
    assert np.abs(small - ref(f"lmar_down_{h}x{w}.npy")).max() <= 1e-4


def test_the_whole_deu_matches_the_authors(released):
    from lmar.run.pipeline import deu

    net, backbone = released
    x = torch.from_numpy(ref("input.npy"))[None]
    with torch.no_grad():
        y = deu(x, (48, 64), net, backbone, "lanczos3")[0].numpy()
    # theirs is not clamped; ours clamps to [0, 1] as every saved image is
    assert np.abs(y - np.clip(ref("deu_48x64.npy"), 0, 1)).max() <= 1e-4


def test_a_tampered_or_wrong_file_is_refused(tmp_path):
    from lmar.parts.lmar.released import read_released

    bad = tmp_path / "LMAR_model.bin"
    data = bytearray((AUTHORS / "LMAR_model.bin").read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte changed
    bad.write_bytes(bytes(data))
    with pytest.raises(LmarError, match="is not the authors' LMAR_model.bin: sha256"):
        read_released(bad, "lmar")
    with pytest.raises(LmarError, match="is not the authors' base_model.bin"):
        read_released(AUTHORS / "LMAR_model.bin", "backbone")


def test_fetched_copies_are_checked_and_converted_through_the_cli(capsys, tmp_path):
    """fetch-released over HTTP (a local server), then pretrain-backbone / train-resampler with
    --released convert instead of training; the checkpoints evaluate as the authors' models."""
    from lmar.parts.lmar import released as rel

    files = tmp_path / "released"
    with LocalServer() as server:
        for name, (file_name, _) in rel.FILES.items():
            server.add(f"/pretrained_models/{file_name}", (AUTHORS / file_name).read_bytes())
        base = server.url("/pretrained_models/")
        for name, (file_name, _) in rel.FILES.items():
            rel.fetch(name, files / file_name, base_url=base)
        server.add("/bad/LMAR_model.bin", b"not the weights")
        with pytest.raises(LmarError, match="sha256"):
            rel.fetch("lmar", tmp_path / "bad" / "LMAR_model.bin", base_url=server.url("/bad/"))
    assert not (tmp_path / "bad" / "LMAR_model.bin").exists()
    out = tmp_path / "models"
    argv = ["pretrain-backbone", "--data", tmp_path / "unused", "--spec", json.dumps({"type": "lmar_unet"}),
            "--name", "unet", "--out", out / "backbone.pt", "--released", files / "base_model.bin"]
    assert main([str(a) for a in argv]) == 0, capsys.readouterr().err
    spec = {"type": "lmar", "params": {"interpolation": "lanczos3"}}
    argv = ["train-resampler", "--data", tmp_path / "unused", "--backbone", out / "backbone.pt", "--spec",
            json.dumps(spec), "--name", "lmar", "--out", out / "lmar.pt", "--released", files / "LMAR_model.bin"]
    assert main([str(a) for a in argv]) == 0, capsys.readouterr().err
    from lmar.run.checkpoint import build_resampler, load_backbone

    backbone, ckpt = load_backbone(out / "backbone.pt", torch.device("cpu"))
    net, meta = build_resampler(spec, out / "lmar.pt", torch.device("cpu"))
    assert "base_model.bin" in ckpt["meta"]["weights"] and "LMAR_model.bin" in meta["weights"]
    x = torch.from_numpy(ref("input.npy"))[None]
    with torch.no_grad():
        small = net(x, (64, 85))[0].numpy()
    assert np.abs(small - ref("lmar_down_64x85.npy")).max() <= 1e-4
    # released weights that do not fit the configured params are refused, naming the params
    bad = {"type": "lmar", "params": {"hidden": 64}}
    argv[6] = json.dumps(bad)
    argv[10] = out / "bad.pt"
    assert main([str(a) for a in argv]) == 2
    assert "does not fit params {'hidden': 64}" in capsys.readouterr().err
    assert not (out / "bad.pt").exists()


def test_weights_only_for_parts_that_have_released_weights():
    from lmar.run.config import check_parts

    good = {"datasets": {"mini": {"type": "mini"}}, "backbones": {"unet": {"type": "lmar_unet", "weights": "authors"}},
            "resamplers": {"lmar": {"type": "lmar", "params": {"interpolation": "lanczos3"}, "weights": "authors"}}}
    check_parts(good)
    bad = json.loads(json.dumps(good))
    bad["backbones"]["unet"] = {"type": "unet_lite", "weights": "authors"}
    with pytest.raises(LmarError, match="backbones.unet.weights: unet_lite has no released weights"):
        check_parts(bad)
    bad = json.loads(json.dumps(good))
    bad["resamplers"]["lmar"]["train"] = {"epochs": 1}
    with pytest.raises(LmarError, match="'weights' replaces training"):
        check_parts(bad)
