"""Training, evaluation and enhancement end to end at tiny sizes: outputs, metrics, determinism."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import (
    BACKBONE_SPEC,
    CPU,
    DATA_SIZE,
    LABELS,
    LMAR_PARAMS,
    LMAR_SPEC,
    N_TEST,
    N_TRAIN,
    TEST_NAMES,
    entries,
    load_png,
)
from PIL import Image

from lmar.cli import main
from lmar.data.image_write import to_uint8
from lmar.data.images import read_image
from lmar.data.mini import MiniDataset
from lmar.parts.resize import resize
from lmar.report.store import VOLATILE_COLUMNS
from lmar.run import checkpoint
from lmar.run.evaluate import evaluate
from lmar.run.train import train_resampler

# ---------------------------------------------------------------- checkpoints


def test_backbone_checkpoint_records_spec_and_training(backbone_ckpt):
    ck = checkpoint.load(backbone_ckpt, "backbone")
    assert ck["spec"] == {"type": "unet_lite", "params": {"width": 8}}
    assert ck["meta"]["n_train"] == N_TRAIN and ck["meta"]["train"]["epochs"] == 1 and ck["meta"]["seed"] == 0
    assert math.isfinite(ck["meta"]["final_l1"])
    net, _ = checkpoint.load_backbone(backbone_ckpt, CPU)
    assert not net.training and not any(p.requires_grad for p in net.parameters())


def test_resampler_checkpoint_holds_only_resampler_weights(lmar_ckpt):
    ck = checkpoint.load(lmar_ckpt, "resampler")
    assert ck["spec"] == {"type": "lmar", "params": LMAR_PARAMS}
    assert ck["meta"]["resize_loss"] == "l1" and ck["meta"]["feature_tap"] == "enc2"
    assert set(ck["meta"]["final_losses"]) == {"total", "feature", "edge", "resize"}
    assert {k.split(".")[0] for k in ck["state_dict"]} == {"mlp", "fuse"}


# ---------------------------------------------------------------- evaluation outputs and metrics


def test_evaluation_csv_has_a_row_per_image_and_scale(lmar_eval):
    df, csv, images = lmar_eval
    on_disk = pd.read_csv(csv)
    assert len(df) == len(on_disk) == 2 * N_TEST
    assert list(on_disk.columns[:8]) == ["dataset", "backbone", "resampler", "target", "scale", "target_h", "target_w",
                                         "image"]
    assert sorted(zip(on_disk.target, on_disk.image)) == sorted((t, n) for t in ("x2", "x3") for n in TEST_NAMES)
    for t, s, (h, w) in (("x2", 2.0, (24, 36)), ("x3", 3.0, (16, 24))):
        rows = on_disk[on_disk.target == t]
        assert set(rows.scale) == {s} and set(rows.target_h) == {h} and set(rows.target_w) == {w}
    assert set(on_disk.resampler_type) == {"lmar"} and set(on_disk.resize_loss) == {"l1"}
    assert json.loads(on_disk.resampler_params[0]) == LMAR_PARAMS
    assert set(on_disk.config_hash) == {"abc123"} and set(on_disk.seed) == {0}
    assert on_disk[["psnr", "ssim", "time_s", "code_version", "device", "torch_version"]].notna().all().all()
    assert entries(images) == sorted(
        ["x2", "x3"] + [f"x{s}/{n}.png" for s in (2, 3) for n in TEST_NAMES]
    )


def test_saved_outputs_have_ground_truth_size(lmar_eval, mini_data):
    _, _, images = lmar_eval
    for png in images.rglob("*.png"):
        assert load_png(png).shape == (*DATA_SIZE, 3), png


def test_psnr_equals_an_independent_computation_from_the_saved_png(lmar_eval, mini_data):
    df, _, images = lmar_eval
    for row in df.itertuples():
        out = load_png(images / row.target / f"{row.image}.png")
        gt = load_png(mini_data / "test" / "gt" / f"{row.image}.png")
        mse = np.mean((out - gt) ** 2)
        assert abs(row.psnr - 10.0 * np.log10(1.0 / mse)) < 1e-3, (row.image, row.scale)


def test_ssim_is_in_range_and_orders_like_quality(lmar_eval, mini_data):
    from lmar.run.metrics import Scorer

    df, _, _ = lmar_eval
    assert ((df.ssim > 0) & (df.ssim <= 1)).all()
    scorer = Scorer(["psnr", "ssim"], CPU)
    gt = read_image(mini_data / "test/gt/coffee.png")
    same = scorer(gt, gt)
    assert same["ssim"] == pytest.approx(1.0, abs=1e-4)
    torch.manual_seed(0)
    noisy = scorer((gt + 0.05 * torch.randn_like(gt)).clamp(0, 1), gt)
    noisier = scorer((gt + 0.2 * torch.randn_like(gt)).clamp(0, 1), gt)
    assert 1 > noisy["ssim"] > noisier["ssim"] > 0 and noisy["psnr"] > noisier["psnr"]


def test_bicubic_output_is_exactly_downsample_enhance_upsample(mini_data, backbone_ckpt, frozen_backbone, tmp_path):
    labels = {**LABELS, "resampler": "bicubic"}
    df = evaluate(mini_data, backbone_ckpt, {"type": "bicubic"}, None, {"scales": [3]}, tmp_path / "b.csv",
                  tmp_path / "img", CPU, labels)
    assert len(df) == N_TEST and set(df.resize_loss) == {""}
    x = read_image(mini_data / "test/input/astronaut.png")[None]
    with torch.no_grad():
        y = resize(frozen_backbone(resize(x, (16, 24), "bicubic")), DATA_SIZE, "bicubic").clamp(0, 1)
    saved = np.asarray(Image.open(tmp_path / "img/x3/astronaut.png"))
    assert np.array_equal(saved, to_uint8(y[0]))


def test_full_resolution_is_evaluated_once_at_scale_one(mini_data, backbone_ckpt, frozen_backbone, tmp_path):
    df = evaluate(mini_data, backbone_ckpt, {"type": "full_resolution"}, None, {"scales": [2, 3], "save_outputs": "all"},
                  tmp_path / "f.csv", tmp_path / "img", CPU, {**LABELS, "resampler": "full_resolution"})
    assert set(df.target) == {"full"} and set(df.scale) == {1.0} and len(df) == N_TEST
    assert set(df.target_h) == {DATA_SIZE[0]} and set(df.target_w) == {DATA_SIZE[1]}
    assert entries(tmp_path / "img") == ["full"] + [f"full/{n}.png" for n in TEST_NAMES]
    x = read_image(mini_data / "test/input/coffee.png")[None]
    with torch.no_grad():
        y = frozen_backbone(x).clamp(0, 1)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "img/full/coffee.png")), to_uint8(y[0]))


def test_evaluation_at_bf16_is_recorded_and_is_bf16(mini_data, backbone_ckpt, frozen_backbone, tmp_path):
    """evaluation.precision: bf16 autocast around DEU, recorded per row; fp32 stays the exact reference."""
    args = (mini_data, backbone_ckpt, {"type": "bicubic"}, None)
    fp32 = evaluate(*args, {"scales": [3]}, tmp_path / "a.csv", tmp_path / "a", CPU, dict(LABELS))
    bf16 = evaluate(*args, {"scales": [3], "precision": "bf16"}, tmp_path / "b.csv", tmp_path / "b", CPU, dict(LABELS))
    assert set(fp32.precision) == {"fp32"} and set(bf16.precision) == {"bf16"}
    x = read_image(mini_data / "test/input/astronaut.png")[None]
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        y = resize(frozen_backbone(resize(x, (16, 24), "bicubic")), DATA_SIZE, "bicubic").clamp(0, 1)
    saved = np.asarray(Image.open(tmp_path / "b/x3/astronaut.png"))
    assert np.array_equal(saved, to_uint8(y[0]))  # computed in bf16, rounded to 8 bits in float32
    assert not np.array_equal(saved, np.asarray(Image.open(tmp_path / "a/x3/astronaut.png")))
    assert (bf16.psnr - fp32.psnr).abs().max() < 0.5  # close, not equal


def test_enhance_precision_option(capsys, odd_photo, backbone_ckpt, lmar_ckpt, tmp_path):
    outs = {}
    for precision in ("fp32", "bf16"):
        outs[precision] = tmp_path / f"{precision}.png"
        assert main(["enhance", str(odd_photo), str(outs[precision]), "--backbone", str(backbone_ckpt), "--resampler",
                     str(lmar_ckpt), "--scale", "2", "--device", "cpu", "--precision", precision]) == 0
    a, b = (np.asarray(Image.open(outs[p])).astype(int) for p in ("fp32", "bf16"))
    assert a.shape == b.shape and 0 < np.abs(a - b).max() <= 16  # bf16 really ran, and stayed close


def test_evaluation_replaces_an_earlier_images_folder(mini_data, backbone_ckpt, tmp_path):
    stale = tmp_path / "img" / "x9" / "old.png"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    evaluate(mini_data, backbone_ckpt, {"type": "bicubic"}, None, {"scales": [2]}, tmp_path / "b.csv",
             tmp_path / "img", CPU, dict(LABELS))
    # the default sample: the first 3 test images by name
    assert entries(tmp_path / "img") == ["x2"] + [f"x2/{n}.png" for n in sorted(TEST_NAMES)[:3]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.csv", "img"]  # no temp leftovers


# ---------------------------------------------------------------- determinism


def full_run(capsys, data, out, seed: int) -> pd.DataFrame:
    common = ["--device", "cpu", "--seed", str(seed)]
    assert main(["pretrain-backbone", "--data", str(data), "--spec", json.dumps(BACKBONE_SPEC), "--name", "unet",
                 "--out", str(out / "bb.pt"), *common]) == 0
    assert main(["train-resampler", "--data", str(data), "--backbone", str(out / "bb.pt"), "--spec",
                 json.dumps(LMAR_SPEC), "--name", "lmar", "--out", str(out / "lmar.pt"), *common]) == 0
    assert main(["evaluate", "--data", str(data), "--backbone", str(out / "bb.pt"), "--resampler-spec",
                 json.dumps({"type": "lmar", "params": LMAR_PARAMS}), "--resampler-ckpt", str(out / "lmar.pt"),
                 "--evaluation", json.dumps({"scales": [2, 3]}), "--labels", json.dumps(LABELS),
                 "--out", str(out / "m.csv"), "--images", str(out / "img"), *common]) == 0
    capsys.readouterr()
    return pd.read_csv(out / "m.csv")


def test_same_config_and_seed_give_identical_results(capsys, mini_data, tmp_path):
    a = full_run(capsys, mini_data, tmp_path / "a", seed=0)
    b = full_run(capsys, mini_data, tmp_path / "b", seed=0)
    assert len(a) == 2 * N_TEST
    # every column but the wall times, peak memory and host is the same to the last digit
    steady = [c for c in a.columns if c not in VOLATILE_COLUMNS]
    assert set(a.columns) - set(steady) == {"time_s", "resample_ms", "enhance_ms", "upsample_ms", "resample_peak_mb",
                                           "enhance_peak_mb", "upsample_peak_mb", "device", "load_1m", "cpu_wait", "cpus",
                                           "threads", "timed_at"}
    pd.testing.assert_frame_equal(a[steady], b[steady], check_exact=True)
    assert a["psnr"].notna().all() and a["nondeterministic_ops"].isna().all()  # nothing to note on a CPU
    for name in ("bb.pt", "lmar.pt"):
        sa = torch.load(tmp_path / "a" / name, weights_only=True)["state_dict"]
        sb = torch.load(tmp_path / "b" / name, weights_only=True)["state_dict"]
        assert all(torch.equal(sa[k], sb[k]) for k in sa), name
    for png in (tmp_path / "a" / "img").rglob("*.png"):
        assert png.read_bytes() == (tmp_path / "b" / "img" / png.relative_to(tmp_path / "a" / "img")).read_bytes()
    # ... and the seed matters
    c = full_run(capsys, mini_data, tmp_path / "c", seed=1)
    assert c["psnr"].tolist() != a["psnr"].tolist()


def test_training_reads_the_dataset_as_it_is_now(backbone_ckpt, tmp_path):
    """No image cache outlives a training call: a dataset rebuilt at the same path is read afresh."""
    spec = {**LMAR_SPEC, "train": {**LMAR_SPEC["train"], "crop": 24}}

    def train(data, name):
        torch.manual_seed(0)
        train_resampler(data, backbone_ckpt, spec, tmp_path / name, CPU, seed=0)
        return torch.load(tmp_path / name, weights_only=True)["state_dict"]

    MiniDataset(size=(32, 48), seed=0).prepare(tmp_path / "same_path")
    train(tmp_path / "same_path", "first.pt")
    MiniDataset(size=(32, 48), seed=5).prepare(tmp_path / "same_path")  # new pixels, same file names
    MiniDataset(size=(32, 48), seed=5).prepare(tmp_path / "fresh_path")
    again, fresh = train(tmp_path / "same_path", "again.pt"), train(tmp_path / "fresh_path", "fresh.pt")
    assert all(torch.equal(again[k], fresh[k]) for k in fresh)


# ---------------------------------------------------------------- enhance


@pytest.fixture
def odd_photo(mini_data, tmp_path):
    """A real (dark) photo of odd size 37x51."""
    path = tmp_path / "odd.png"
    Image.open(mini_data / "test/input/coffee.png").crop((5, 3, 56, 40)).save(path)
    assert Image.open(path).size == (51, 37)
    return path


@pytest.mark.parametrize("resampler, scale", [("bicubic", "2"), ("lmar", "3"), ("full_resolution", "1"),
                                              ("area", "1.7")])
def test_enhance_writes_an_output_of_the_input_size(capsys, odd_photo, backbone_ckpt, lmar_ckpt, tmp_path,
                                                    resampler, scale):
    out = tmp_path / "out" / "enhanced.png"
    name = str(lmar_ckpt) if resampler == "lmar" else resampler
    rc = main(["enhance", str(odd_photo), str(out), "--backbone", str(backbone_ckpt), "--resampler", name,
               "--scale", scale, "--device", "cpu"])
    assert rc == 0, capsys.readouterr().err
    with Image.open(out) as im:
        assert im.size == (51, 37) and im.mode == "RGB"
    assert entries(tmp_path / "out") == ["enhanced.png"]


def test_enhance_full_resolution_is_the_backbone_alone(capsys, odd_photo, backbone_ckpt, frozen_backbone, tmp_path):
    out = tmp_path / "y.png"
    assert main(["enhance", str(odd_photo), str(out), "--backbone", str(backbone_ckpt), "--resampler",
                 "full_resolution", "--scale", "1", "--device", "cpu"]) == 0
    with torch.no_grad():
        y = frozen_backbone(read_image(odd_photo)[None]).clamp(0, 1)
    assert np.array_equal(np.asarray(Image.open(out)), to_uint8(y[0]))


def test_enhance_with_lmar_uses_the_trained_weights(capsys, odd_photo, backbone_ckpt, lmar_ckpt, frozen_backbone,
                                                    tmp_path):
    out = tmp_path / "y.png"
    assert main(["enhance", str(odd_photo), str(out), "--backbone", str(backbone_ckpt), "--resampler", str(lmar_ckpt),
                 "--scale", "2", "--device", "cpu"]) == 0
    net, _ = checkpoint.build_resampler({"type": "lmar", "params": LMAR_PARAMS}, lmar_ckpt, CPU)
    x = read_image(odd_photo)[None]
    with torch.no_grad():
        y = resize(frozen_backbone(net(x, (18, 26))), (37, 51), "bicubic").clamp(0, 1)  # round(37/2), round(51/2)
    assert np.array_equal(np.asarray(Image.open(out)), to_uint8(y[0]))


# ---------------------------------------------------------------- optional metrics without their weights



def test_lpips_without_weights_is_reported_missing_not_fatal(mini_data, backbone_ckpt, empty_torch_home, tmp_path):
    evaluate(mini_data, backbone_ckpt, {"type": "bicubic"}, None, {"scales": [2], "metrics": ["psnr", "ssim", "lpips"]},
             tmp_path / "m.csv", tmp_path / "img", CPU, dict(LABELS))
    on_disk = pd.read_csv(tmp_path / "m.csv")
    assert len(on_disk) == N_TEST and on_disk.lpips.isna().all() and on_disk.psnr.notna().all()
    missing = json.loads(on_disk.missing_metrics[0])
    assert list(missing) == ["lpips"] and str(empty_torch_home) in missing["lpips"]


def test_required_metric_without_weights_is_an_error(capsys, mini_data, backbone_ckpt, empty_torch_home, tmp_path):
    rc = main(["evaluate", "--data", str(mini_data), "--backbone", str(backbone_ckpt), "--resampler-spec",
               json.dumps({"type": "bicubic"}), "--evaluation",
               json.dumps({"scales": [2], "metrics": ["psnr", "lpips"], "required_metrics": ["lpips"]}),
               "--labels", json.dumps(LABELS), "--out", str(tmp_path / "out/m.csv"),
               "--images", str(tmp_path / "out/img"), "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 2 and "error: metric 'lpips' is required" in err and str(empty_torch_home) in err
    assert not (tmp_path / "out").exists() or entries(tmp_path / "out") == []
