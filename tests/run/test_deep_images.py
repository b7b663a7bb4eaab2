"""16-bit data through the harness: scored like its 8-bit twin (once 16-bit ground truth was read
as nearly white and scored 1.65 dB where its twin scored 6.55 dB), kept at 16 bits in outputs,
and ``lmar enhance`` of a 16-bit greyscale PNG no longer writes a white image. Also: a split
without pairs stops ``prepare-data``."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest
from PIL import Image

from helpers import CPU, LABELS, entries, to_16bit

from lmar.cli import main
from lmar.run.evaluate import evaluate


def run_eval(data, backbone_ckpt, out, save_outputs="all"):
    return evaluate(data, backbone_ckpt, {"type": "bicubic"}, None,
                    {"scales": [2], "metrics": ["psnr", "ssim"], "save_outputs": save_outputs},
                    out / "m.csv", out / "img", CPU, dict(LABELS))


def test_16bit_ground_truth_scores_like_its_8bit_twin(data_copy, backbone_ckpt, tmp_path):
    eight = run_eval(data_copy, backbone_ckpt, tmp_path / "eight")
    for gt in sorted((data_copy / "test" / "gt").glob("*.png")):
        to_16bit(gt)
    sixteen = run_eval(data_copy, backbone_ckpt, tmp_path / "sixteen")
    assert np.allclose(sixteen["psnr"], eight["psnr"], atol=1e-4), (sixteen["psnr"], eight["psnr"])
    assert np.allclose(sixteen["ssim"], eight["ssim"], atol=1e-5)


def test_16bit_inputs_give_16bit_outputs(data_copy, backbone_ckpt, tmp_path):
    for p in sorted((data_copy / "test").glob("*/*.png")):
        to_16bit(p)
    df = run_eval(data_copy, backbone_ckpt, tmp_path / "out")
    saved = sorted((tmp_path / "out" / "img").rglob("*.png"))
    assert len(saved) == len(df) > 0
    for p in saved:
        arr = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        assert arr.dtype == np.uint16
    assert np.isfinite(df["psnr"]).all()


def test_enhance_of_a_16bit_grey_png_matches_its_8bit_twin(capsys, backbone_ckpt, tmp_path):
    rng = np.random.default_rng(0)
    grey8 = rng.integers(10, 120, (24, 36), dtype=np.uint8)  # a dark image, as the backbone expects
    Image.fromarray(grey8).save(tmp_path / "g8.png")
    cv2.imwrite(str(tmp_path / "g16.png"), grey8.astype(np.uint16) * 257)
    outs = {}
    for name in ("g8", "g16"):
        argv = ["enhance", tmp_path / f"{name}.png", tmp_path / f"{name}_out.png", "--backbone", backbone_ckpt,
                "--scale", "2", "--device", "cpu"]
        assert main([str(a) for a in argv]) == 0, capsys.readouterr().err
        raw = cv2.imread(str(tmp_path / f"{name}_out.png"), cv2.IMREAD_UNCHANGED)[..., ::-1]
        outs[name] = raw.astype(np.float64) / (65535.0 if raw.dtype == np.uint16 else 255.0)
    assert outs["g16"].max() < 0.999 or outs["g8"].max() >= 0.999  # not white unless its twin is
    assert np.abs(outs["g16"] - outs["g8"]).max() <= 1.0 / 255 + 1e-6


@pytest.mark.parametrize("split", ["train", "test"])
def test_a_split_without_pairs_stops_prepare_data(capsys, mini_data, tmp_path, split):
    root = tmp_path / "mine"
    shutil.copytree(mini_data, root)
    for p in (root / split).glob("*/*.png"):
        p.unlink()
    out = tmp_path / "prepared"
    spec = {"type": "folder", "params": {"local_path": str(root), "expected": None}}
    rc = main(["prepare-data", "--spec", json.dumps(spec), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and f"{root / split}: no image pairs" in err, err
    assert not out.exists()
    assert [e for e in entries(tmp_path) if not e.startswith("mine")] == []  # nothing prepared, no temp left
