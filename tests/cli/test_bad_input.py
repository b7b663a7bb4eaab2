"""Bad input through ``lmar.cli.main``: status 2, one ``error:`` line naming the key or file, nothing left behind."""

from __future__ import annotations

import json

import pytest
import torch

from helpers import BACKBONE_SPEC, LMAR_PARAMS, LMAR_SPEC, entries, load_png, write_rgb

from lmar.cli import main
from lmar.data.images import image_size

LABELS = json.dumps({"dataset": "mini", "backbone": "unet", "resampler": "lmar", "config_hash": "x"})


def cli(capsys, *argv) -> tuple[int, str]:
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    return rc, err


def assert_error(rc: int, err: str, *words: str) -> None:
    assert rc == 2, err
    lines = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1, err
    for w in words:
        assert str(w) in lines[0], (w, lines[0])
    assert "Traceback" not in err


def assert_nothing_left(out) -> None:
    assert not out.exists() or entries(out) == [], entries(out)


def evaluate_argv(data, backbone, out, spec=None, ckpt=None, evaluation=None):
    argv = ["evaluate", "--data", data, "--backbone", backbone,
            "--resampler-spec", json.dumps(spec or {"type": "bicubic"}),
            "--evaluation", json.dumps(evaluation or {"scales": [2]}), "--labels", LABELS,
            "--out", out / "metrics.csv", "--images", out / "images", "--device", "cpu"]
    if ckpt:
        argv += ["--resampler-ckpt", ckpt]
    return argv


def train_argv(data, backbone, out, spec, name):
    return ["train-resampler", "--data", data, "--backbone", backbone, "--spec", json.dumps(spec), "--name", name,
            "--out", out, "--device", "cpu"]


def enhance_argv(inp, out, backbone, scale, resampler="bicubic", *extra):
    return ["enhance", inp, out, "--backbone", backbone, "--resampler", resampler, "--scale", scale,
            "--device", "cpu", *extra]


@pytest.fixture
def odd_image(tmp_path):
    return write_rgb(tmp_path / "odd.png", 37, 51)


# ---------------------------------------------------------------- unknown parts


def test_unknown_resampler_type_in_evaluate(capsys, mini_data, backbone_ckpt, tmp_path):
    out = tmp_path / "out"
    rc, err = cli(capsys, *evaluate_argv(mini_data, backbone_ckpt, out, spec={"type": "bicubicc"}))
    assert_error(rc, err, "unknown resampler 'bicubicc'", "lmar")  # names the type and the config entry
    assert "bicubic" in err.split("Known:")[1]  # ... and the choices
    assert_nothing_left(out)


def test_unknown_resampler_type_in_training(capsys, mini_data, backbone_ckpt, tmp_path):
    out = tmp_path / "out"
    rc, err = cli(capsys, *train_argv(mini_data, backbone_ckpt, out / "r.pt", {"type": "no_such_resampler"}, "mine"))
    assert_error(rc, err, "no_such_resampler", "resamplers.mine")
    assert_nothing_left(out)


def test_unknown_resampler_in_enhance(capsys, odd_image, backbone_ckpt, tmp_path):
    out = tmp_path / "out"
    rc, err = cli(capsys, *enhance_argv(odd_image, out / "y.png", backbone_ckpt, 2, "lanczos9"))
    assert_error(rc, err, "lanczos9", "--resampler")
    assert_nothing_left(out)


def test_unknown_backbone_type(capsys, mini_data, tmp_path):
    out = tmp_path / "out"
    rc, err = cli(capsys, "pretrain-backbone", "--data", mini_data, "--spec", json.dumps({"type": "no_such_net"}),
                  "--name", "unet", "--out", out / "b.pt", "--device", "cpu")
    assert_error(rc, err, "unknown backbone 'no_such_net'", "backbones.unet", "unet_lite")
    assert_nothing_left(out)


def test_unknown_dataset_type(capsys, tmp_path):
    out = tmp_path / "out"
    rc, err = cli(capsys, "prepare-data", "--spec", json.dumps({"type": "uhd_lol9k"}), "--name", "big", "--out", out)
    assert_error(rc, err, "uhd_lol9k", "datasets.big")
    assert_nothing_left(out)


def test_bad_params_name_the_part(capsys, mini_data, tmp_path):
    out = tmp_path / "out"
    rc, err = cli(capsys, "pretrain-backbone", "--data", mini_data, "--spec",
                  json.dumps({"type": "unet_lite", "params": {"widht": 8}}), "--out", out / "b.pt", "--device", "cpu")
    assert_error(rc, err, "backbones.backbone.params", "unknown key 'widht'", "did you mean 'width'")
    assert_nothing_left(out)


def test_unknown_train_key_is_named(capsys, mini_data, tmp_path):
    out = tmp_path / "out"
    spec = {**BACKBONE_SPEC, "train": {"epochs": 1, "learning_rate": 0.1}}
    rc, err = cli(capsys, "pretrain-backbone", "--data", mini_data, "--spec", json.dumps(spec), "--name", "unet",
                  "--out", out / "b.pt", "--device", "cpu")
    assert_error(rc, err, "learning_rate", "backbones.unet.train")
    assert_nothing_left(out)


def test_bad_dataset_params_write_nothing(capsys, tmp_path):
    out = tmp_path / "out"
    rc, err = cli(capsys, "prepare-data", "--spec", json.dumps({"type": "mini", "params": {"test": ["astronaut", "moon"]}}),
                  "--out", out)
    assert_error(rc, err, "moon")
    assert not out.exists()
    assert entries(tmp_path) == []


# ---------------------------------------------------------------- scales


@pytest.mark.parametrize("scale", ["0", "-2", "abc", "0.5", "nan", "inf", ""])
def test_bad_scale_in_enhance(capsys, odd_image, backbone_ckpt, tmp_path, scale):
    out = tmp_path / "out"
    rc, err = cli(capsys, *enhance_argv(odd_image, out / "y.png", backbone_ckpt, scale))
    assert_error(rc, err, "scale must be a number >= 1", repr(scale))
    assert_nothing_left(out)


@pytest.mark.parametrize("scales", [[0], [2, -2], ["abc"]])
def test_bad_scale_in_evaluate(capsys, mini_data, backbone_ckpt, tmp_path, scales):
    out = tmp_path / "out"
    rc, err = cli(capsys, *evaluate_argv(mini_data, backbone_ckpt, out, evaluation={"scales": scales}))
    assert_error(rc, err, f"evaluation.scales[{len(scales) - 1}]", "scale must be a number >= 1", repr(scales[-1]))
    assert_nothing_left(out)


def test_scale_one_with_a_real_resampler(capsys, odd_image, backbone_ckpt, tmp_path):
    out = tmp_path / "out"
    rc, err = cli(capsys, *enhance_argv(odd_image, out / "y.png", backbone_ckpt, "1"))
    assert_error(rc, err, str(odd_image), "37x51", "larger scale")
    assert_nothing_left(out)


# ---------------------------------------------------------------- dataset problems


def test_missing_dataset_folder(capsys, backbone_ckpt, tmp_path):
    out = tmp_path / "out"
    rc, err = cli(capsys, *evaluate_argv(tmp_path / "no_data", backbone_ckpt, out))
    assert_error(rc, err, "missing dataset folder", tmp_path / "no_data" / "test")
    assert_nothing_left(out)
    rc, err = cli(capsys, "pretrain-backbone", "--data", tmp_path / "no_data", "--spec", json.dumps(BACKBONE_SPEC),
                  "--out", out / "b.pt", "--device", "cpu")
    assert_error(rc, err, "missing dataset folder", tmp_path / "no_data" / "train")
    assert_nothing_left(out)


def test_input_without_ground_truth(capsys, data_copy, backbone_ckpt, tmp_path):
    (data_copy / "test/gt/coffee.png").unlink()
    out = tmp_path / "out"
    rc, err = cli(capsys, *evaluate_argv(data_copy, backbone_ckpt, out))
    assert_error(rc, err, "input without ground truth", data_copy / "test/input/coffee.png")
    assert_nothing_left(out)


def test_input_gt_size_mismatch(capsys, data_copy, tmp_path):
    write_rgb(data_copy / "train/gt/retina.png", 48, 70)
    out = tmp_path / "out"
    rc, err = cli(capsys, "pretrain-backbone", "--data", data_copy, "--spec", json.dumps(BACKBONE_SPEC),
                  "--out", out / "b.pt", "--device", "cpu")
    assert_error(rc, err, "size mismatch", data_copy / "train/input/retina.png", data_copy / "train/gt/retina.png")
    assert_nothing_left(out)


def test_garbage_png_in_dataset(capsys, data_copy, backbone_ckpt, tmp_path):
    bad = data_copy / "test/input/rocket.png"
    bad.write_bytes(b"GARBAGE" * 50)
    out = tmp_path / "out"
    rc, err = cli(capsys, *evaluate_argv(data_copy, backbone_ckpt, out))
    assert_error(rc, err, "cannot read image", bad)
    assert_nothing_left(out)


def test_truncated_png_fails_mid_evaluation_without_leftovers(capsys, data_copy, backbone_ckpt, tmp_path):
    """The header is fine (the pair check passes); decoding fails while outputs are being written."""
    bad = data_copy / "test/input/rocket.png"  # last in sorted order: other images are done first
    bad.write_bytes(bad.read_bytes()[:200])
    assert image_size(bad) == (48, 72)
    out = tmp_path / "out"
    rc, err = cli(capsys, *evaluate_argv(data_copy, backbone_ckpt, out))
    assert_error(rc, err, "cannot read image", bad)
    assert_nothing_left(out)


def test_garbage_png_in_enhance(capsys, backbone_ckpt, tmp_path):
    bad = tmp_path / "photo.png"
    bad.write_bytes(b"\x89PNG but not really" * 4)
    out = tmp_path / "out"
    rc, err = cli(capsys, *enhance_argv(bad, out / "y.png", backbone_ckpt, 2))
    assert_error(rc, err, "cannot read image", bad)
    rc, err = cli(capsys, *enhance_argv(tmp_path / "absent.png", out / "y.png", backbone_ckpt, 2))
    assert_error(rc, err, "image not found", tmp_path / "absent.png")
    assert_nothing_left(out)


# ---------------------------------------------------------------- checkpoints and options


def test_missing_backbone_checkpoint(capsys, odd_image, tmp_path):
    out = tmp_path / "out"
    rc, err = cli(capsys, *enhance_argv(odd_image, out / "y.png", tmp_path / "nope.pt", 2))
    assert_error(rc, err, "backbone checkpoint not found", tmp_path / "nope.pt")
    assert_nothing_left(out)


def test_wrong_kind_of_checkpoint(capsys, odd_image, lmar_ckpt, backbone_ckpt, tmp_path):
    out = tmp_path / "out"
    rc, err = cli(capsys, *enhance_argv(odd_image, out / "y.png", lmar_ckpt, 2))
    assert_error(rc, err, lmar_ckpt, "is not a backbone checkpoint", "'resampler'")
    rc, err = cli(capsys, *enhance_argv(odd_image, out / "y.png", backbone_ckpt, 2, str(backbone_ckpt)))
    assert_error(rc, err, backbone_ckpt, "is not a resampler checkpoint")
    assert_nothing_left(out)


def test_corrupt_checkpoint(capsys, odd_image, tmp_path):
    ckpt = tmp_path / "broken.pt"
    ckpt.write_bytes(b"\x00" * 64)
    out = tmp_path / "out"
    rc, err = cli(capsys, *enhance_argv(odd_image, out / "y.png", ckpt, 2))
    assert_error(rc, err, "cannot read backbone checkpoint", ckpt)
    assert_nothing_left(out)


def test_trainable_resampler_needs_its_checkpoint(capsys, mini_data, backbone_ckpt, odd_image, tmp_path):
    out = tmp_path / "out"
    rc, err = cli(capsys, *evaluate_argv(mini_data, backbone_ckpt, out, spec={"type": "lmar", "params": LMAR_PARAMS}))
    assert_error(rc, err, "'lmar'", "trainable", "checkpoint")
    rc, err = cli(capsys, *enhance_argv(odd_image, out / "y.png", backbone_ckpt, 2, "lmar"))
    assert_error(rc, err, "'lmar'", "trainable")
    assert_nothing_left(out)


def test_untrainable_resampler_cannot_be_trained(capsys, mini_data, backbone_ckpt, tmp_path):
    out = tmp_path / "out"
    rc, err = cli(capsys, *train_argv(mini_data, backbone_ckpt, out / "r.pt", {"type": "bicubic"}, "bicubic"))
    assert_error(rc, err, "resamplers.bicubic", "nothing to train")
    assert_nothing_left(out)


def test_bad_target_range(capsys, mini_data, backbone_ckpt, tmp_path):
    out = tmp_path / "out"
    spec = {**LMAR_SPEC, "train": {**LMAR_SPEC["train"], "target_min": 32, "target_max": 16}}
    rc, err = cli(capsys, *train_argv(mini_data, backbone_ckpt, out / "r.pt", spec, "lmar"))
    assert_error(rc, err, "resamplers.lmar.train", "target_min")
    assert_nothing_left(out)


@pytest.mark.parametrize(
    "evaluation, words",
    [({"scales": [2], "metrics": ["psnr", "niqe_9000"]}, "niqe_9000"), ({"scales": [2], "upsampler": "lanczos"}, "lanczos"),
     ({"scales": [2], "precision": "fp8"}, "evaluation.precision")],
)
def test_bad_evaluation_options(capsys, mini_data, backbone_ckpt, tmp_path, evaluation, words):
    out = tmp_path / "out"
    rc, err = cli(capsys, *evaluate_argv(mini_data, backbone_ckpt, out, evaluation=evaluation))
    assert_error(rc, err, words)
    assert_nothing_left(out)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_requested_without_cuda(capsys, odd_image, backbone_ckpt, tmp_path):
    out = tmp_path / "out"
    rc, err = cli(capsys, "enhance", odd_image, out / "y.png", "--backbone", backbone_ckpt, "--scale", "2",
                  "--device", "cuda")
    assert_error(rc, err, "'cuda'", "CUDA is not available")
    rc, err = cli(capsys, "enhance", odd_image, out / "y.png", "--backbone", backbone_ckpt, "--scale", "2",
                  "--device", "tpu")
    assert_error(rc, err, "'tpu'")
    assert_nothing_left(out)


def test_spec_that_is_not_json_is_a_usage_error(capsys, mini_data, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["pretrain-backbone", "--data", str(mini_data), "--spec", "{type: unet_lite", "--out", str(tmp_path / "b.pt")])
    assert exc.value.code == 2
    assert "--spec must be JSON" in capsys.readouterr().err
    assert entries(tmp_path) == []


def test_unreadable_results_for_the_table(capsys, tmp_path):
    bad = tmp_path / "r.csv"
    bad.write_text("dataset,backbone\nmini,unet\n")
    rc, err = cli(capsys, "table", bad, tmp_path / "absent.csv", "--out-md", tmp_path / "t.md",
                  "--out-csv", tmp_path / "t.csv")
    assert_error(rc, err, bad, "lacks column")
    rc, err = cli(capsys, "table", tmp_path / "absent.csv", "--out-md", tmp_path / "t.md", "--out-csv", tmp_path / "t.csv")
    assert_error(rc, err, tmp_path / "absent.csv")
    assert entries(tmp_path) == ["r.csv"]


# ---------------------------------------------------------------- regressions (once library bugs)


@pytest.mark.parametrize("verb", ["pretrain-backbone", "train-resampler"])
@pytest.mark.parametrize("key, value", [("epochs", 0), ("epochs", -1), ("epochs", 1.5)])
def test_non_positive_or_fractional_epochs(capsys, mini_data, backbone_ckpt, tmp_path, verb, key, value):
    """Once crashed with UnboundLocalError ('total' / 'means') for epochs: 0."""
    out = tmp_path / "out"
    if verb == "pretrain-backbone":
        spec = {**BACKBONE_SPEC, "train": {**BACKBONE_SPEC["train"], key: value}}
        argv = [verb, "--data", mini_data, "--spec", json.dumps(spec), "--name", "unet", "--out", out / "x.pt",
                "--device", "cpu"]
        where = "backbones.unet.train.epochs"
    else:
        spec = {**LMAR_SPEC, "train": {**LMAR_SPEC["train"], key: value}}
        argv = train_argv(mini_data, backbone_ckpt, out / "x.pt", spec, "lmar")
        where = "resamplers.lmar.train.epochs"
    rc, err = cli(capsys, *argv)
    assert_error(rc, err, where, repr(value))
    assert_nothing_left(out)


@pytest.mark.parametrize("key", ["batch_size", "step_size"])
def test_other_non_positive_schedule_keys(capsys, mini_data, tmp_path, key):
    out = tmp_path / "out"
    spec = {**BACKBONE_SPEC, "train": {**BACKBONE_SPEC["train"], key: 0}}
    rc, err = cli(capsys, "pretrain-backbone", "--data", mini_data, "--spec", json.dumps(spec), "--name", "unet",
                  "--out", out / "x.pt", "--device", "cpu")
    assert_error(rc, err, f"backbones.unet.train.{key}")
    assert_nothing_left(out)


@pytest.mark.parametrize("scale, small", [("13", (3, 4)), ("40", (1, 1)), ("4.7", (8, 11))])
def test_scale_so_large_that_the_target_is_tiny(capsys, odd_image, backbone_ckpt, tmp_path, scale, small):
    """A target below the backbone's smallest input (the U-Net's min_size, 8) is refused, not
    shrunk to a few pixels (once it crashed the U-Net with a traceback, later it was padded up)."""
    from lmar.run.targets import target_size

    assert target_size((37, 51), float(scale)) == small
    out = tmp_path / "out"
    rc, err = cli(capsys, *enhance_argv(odd_image, out / "y.png", backbone_ckpt, scale))
    if min(small) >= 8:  # exactly the smallest input: allowed
        assert rc == 0, err
        assert load_png(out / "y.png").shape == (37, 51, 3)
        return
    # the largest factor that still gives 8 rows: 37 / 4.93 = 7.505 rounds to 8, 37 / 4.94 = 7.490 to 7
    assert_error(rc, err, f"{small[0]}x{small[1]}", "smallest input 8x8", "at most 4.93")
    assert_nothing_left(out)


def test_checkpoint_that_does_not_fit_the_spec(capsys, mini_data, backbone_ckpt, lmar_ckpt, tmp_path):
    """Once a RuntimeError traceback from load_state_dict."""
    out = tmp_path / "out"
    spec = {"type": "lmar", "params": {**LMAR_PARAMS, "hidden": 32}}  # the checkpoint has hidden=16
    rc, err = cli(capsys, *evaluate_argv(mini_data, backbone_ckpt, out, spec=spec, ckpt=lmar_ckpt))
    assert_error(rc, err, lmar_ckpt, "does not fit")
    assert_nothing_left(out)
