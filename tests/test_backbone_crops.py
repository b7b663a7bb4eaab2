"""A backbone recipe with ``crop``: each sample is a random crop x crop square of a fitted training
pair at its own resolution, the input and its ground truth cut at the same place and flipped alike,
and over many samples both flips occur; without ``crop`` the whole images are resized as before."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import CPU, load_png

import lmar.train
from lmar.train import pretrain_backbone

CROP = 16
SPEC = {"type": "unet_lite", "params": {"width": 8},
        "train": {"epochs": 4, "batch_size": 2, "crop": CROP, "val_pairs": 0}}


def _where(sample: np.ndarray, images: dict) -> list[tuple]:
    """Every (name, top, left, flip_lr, flip_ud) at which ``sample`` (c, h, w) is a crop of one of ``images``."""
    found = []
    for name, im in images.items():
        for lr in (False, True):
            for ud in (False, True):
                s = sample[:, :, ::-1] if lr else sample
                s = s[:, ::-1, :] if ud else s
                H, W = im.shape[1:]
                for top in range(H - CROP + 1):
                    for left in range(W - CROP + 1):
                        if np.allclose(im[:, top:top + CROP, left:left + CROP], s, atol=1e-6):
                            found.append((name, top, left, lr, ud))
    return found


def test_samples_are_matching_crops_of_input_and_ground_truth_flipped_alike(mini_data, tmp_path, monkeypatch):
    seen = []
    real = lmar.train.F.l1_loss

    def recording(pred, gt, *a, **k):
        seen.append(gt.detach().numpy().copy())
        return real(pred, gt, *a, **k)

    inputs = []
    monkeypatch.setattr(lmar.train.F, "l1_loss", recording)
    real_forward = lmar.train.BACKBONES.build

    def build(spec, where=""):
        net = real_forward(spec, where)
        net.register_forward_pre_hook(lambda m, args: inputs.append(args[0].detach().numpy().copy()) if m.training
                                      else None)
        return net

    monkeypatch.setattr(lmar.train.BACKBONES, "build", build)
    torch.manual_seed(0)
    pretrain_backbone(mini_data, SPEC, tmp_path / "b.pt", CPU, seed=0, name="b")
    names = sorted(p.stem for p in (mini_data / "train" / "gt").glob("*.png"))
    gts = {n: load_png(mini_data / "train" / "gt" / f"{n}.png").transpose(2, 0, 1) for n in names}
    ins = {n: load_png(mini_data / "train" / "input" / f"{n}.png").transpose(2, 0, 1) for n in names}
    assert len(seen) == len(inputs) == 4 * 3  # 4 epochs of ceil(5 / 2) batches
    flips = set()
    for x_batch, y_batch in zip(inputs, seen):
        assert x_batch.shape[1:] == y_batch.shape[1:] == (3, CROP, CROP)
        for x, y in zip(x_batch, y_batch):
            at_gt = set(_where(y, gts))
            at_in = set(_where(x, ins))
            assert at_gt & at_in, "the input and its ground truth are not the same crop of one pair"
            flips |= {(lr, ud) for (_, _, _, lr, ud) in at_gt & at_in}
    assert {lr for lr, _ in flips} == {False, True} and {ud for _, ud in flips} == {False, True}


def test_without_crop_the_whole_images_are_resized_to_size(mini_data, tmp_path, monkeypatch):
    shapes = []
    real = lmar.train.F.l1_loss

    def recording(pred, gt, *a, **k):
        shapes.append(tuple(gt.shape))
        return real(pred, gt, *a, **k)

    monkeypatch.setattr(lmar.train.F, "l1_loss", recording)
    spec = {**SPEC, "train": {"epochs": 1, "batch_size": 2, "size": [24, 36]}}
    pretrain_backbone(mini_data, spec, tmp_path / "b.pt", CPU, seed=0, name="b")
    assert shapes and all(s[1:] == (3, 24, 36) for s in shapes)


@pytest.mark.parametrize("crop", [0, -1, "16"])
def test_a_bad_crop_is_refused_naming_the_key(crop):
    from lmar.errors import LmarError
    from lmar.train import recipe

    with pytest.raises(LmarError, match=r"config key backbones\.b\.train\.crop must be"):
        recipe(lmar.train.BACKBONES.get("unet_lite"), {**SPEC, "train": {**SPEC["train"], "crop": crop}},
               "config key backbones.b")
