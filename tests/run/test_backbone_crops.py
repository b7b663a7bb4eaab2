"""A backbone recipe with ``crop``: each sample is a random crop x crop square of a fitted training
pair at its own resolution, the input and its ground truth cut at the same place and flipped alike,
and over many samples both flips occur; without ``crop`` the whole images are resized as before."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from helpers import CPU, load_png

import lmar.run.train
from lmar.run.train import pretrain_backbone

CROP = 16
SPEC = {"type": "unet_lite", "params": {"width": 8},
        "train": {"epochs": 4, "batch_size": 2, "crop": CROP, "val_pairs": 0}}


PERMS = list(itertools.permutations(range(3)))


def _undo(sample: np.ndarray, lr: bool, ud: bool, tr: bool) -> np.ndarray:
    s = sample[..., ::-1] if lr else sample  # undo the flips, then the transposition
    s = s[..., ::-1, :] if ud else s
    return np.swapaxes(s, -1, -2) if tr else s


def _where(sample: np.ndarray, images: dict) -> set[tuple]:
    """Every (name, top, left, flip_lr, flip_ud, transposed, channel order) by which ``sample`` (c, h, w)
    is a crop of one of ``images``: the crop's channels put in that order, transposed, then flipped.
    Found on the channels' sum (which no channel order changes), then checked channel by channel."""
    found = set()
    for name, im in images.items():
        windows = np.lib.stride_tricks.sliding_window_view(im.sum(0), (CROP, CROP))  # (top, left, CROP, CROP)
        for lr, ud, tr in itertools.product((False, True), repeat=3):
            s = _undo(sample, lr, ud, tr)
            for t, l in np.argwhere(np.all(np.abs(windows - s.sum(0)) < 1e-5, axis=(-2, -1))):
                crop = im[:, t:t + CROP, l:l + CROP]
                found |= {(name, int(t), int(l), lr, ud, tr, perm) for perm in PERMS
                          if np.allclose(crop[list(perm)], s, atol=1e-6)}
    return found


def _is(sample: np.ndarray, images: dict, where: tuple) -> bool:
    """Whether ``sample`` is the crop of ``images`` that ``where`` (as :func:`_where` gives it) describes."""
    name, t, l, lr, ud, tr, perm = where
    return np.allclose(images[name][list(perm), t:t + CROP, l:l + CROP], _undo(sample, lr, ud, tr), atol=1e-6)


def _samples(mini_data, tmp_path, monkeypatch, train: dict) -> list[tuple[set, set]]:
    """Train with ``train`` and return, per sample, (where its input was cut from among the places its
    ground truth was cut from, where its ground truth was cut from)."""
    seen, inputs = [], []
    real = lmar.run.train.F.l1_loss

    def recording(pred, gt, *a, **k):
        seen.append(gt.detach().numpy().copy())
        return real(pred, gt, *a, **k)

    monkeypatch.setattr(lmar.run.train.F, "l1_loss", recording)
    real_build = lmar.run.train.BACKBONES.build

    def build(spec, where=""):
        net = real_build(spec, where)
        net.register_forward_pre_hook(lambda m, args: inputs.append(args[0].detach().numpy().copy()) if m.training
                                      else None)
        return net

    monkeypatch.setattr(lmar.run.train.BACKBONES, "build", build)
    torch.manual_seed(0)
    pretrain_backbone(mini_data, {**SPEC, "train": train}, tmp_path / "b.pt", CPU, seed=0, name="b")
    names = sorted(p.stem for p in (mini_data / "train" / "gt").glob("*.png"))
    gts = {n: load_png(mini_data / "train" / "gt" / f"{n}.png").transpose(2, 0, 1) for n in names}
    ins = {n: load_png(mini_data / "train" / "input" / f"{n}.png").transpose(2, 0, 1) for n in names}
    assert len(seen) == len(inputs) == train["epochs"] * 3  # ceil(5 pairs / batches of 2) steps an epoch
    out = []
    for x_batch, y_batch in zip(inputs, seen):
        assert x_batch.shape[1:] == y_batch.shape[1:] == (3, CROP, CROP)
        for x, y in zip(x_batch, y_batch):
            at_gt = _where(y, gts)
            out.append(({w for w in at_gt if _is(x, ins, w)}, at_gt))
    return out


def test_samples_are_matching_crops_of_input_and_ground_truth_flipped_alike(mini_data, tmp_path, monkeypatch):
    flips = set()
    for at_in, at_gt in _samples(mini_data, tmp_path, monkeypatch, SPEC["train"]):
        both = at_in & at_gt
        assert both, "the input and its ground truth are not the same crop of one pair"
        assert any(not tr and perm == (0, 1, 2) for (*_, tr, perm) in both)  # neither transposed nor reordered
        flips |= {(lr, ud) for (_, _, _, lr, ud, tr, perm) in both if not tr and perm == (0, 1, 2)}
    assert {lr for lr, _ in flips} == {False, True} and {ud for _, ud in flips} == {False, True}


def test_transposition_and_channel_order_are_drawn_and_applied_to_both(mini_data, tmp_path, monkeypatch):
    train = {**SPEC["train"], "epochs": 6, "transpose": True, "shuffle_channels": True}
    transposed, orders = set(), set()
    for at_in, at_gt in _samples(mini_data, tmp_path, monkeypatch, train):
        both = at_in & at_gt
        assert both, "the input and its ground truth were not cut, flipped, transposed and reordered alike"
        transposed |= {tr for (*_, tr, _) in both}
        orders |= {perm for (*_, perm) in both}
    assert transposed == {False, True} and len(orders) >= 3


def test_without_crop_the_whole_images_are_resized_to_size(mini_data, tmp_path, monkeypatch):
    shapes = []
    real = lmar.run.train.F.l1_loss

    def recording(pred, gt, *a, **k):
        shapes.append(tuple(gt.shape))
        return real(pred, gt, *a, **k)

    monkeypatch.setattr(lmar.run.train.F, "l1_loss", recording)
    spec = {**SPEC, "train": {"epochs": 1, "batch_size": 2, "size": [24, 36]}}
    pretrain_backbone(mini_data, spec, tmp_path / "b.pt", CPU, seed=0, name="b")
    assert shapes and all(s[1:] == (3, 24, 36) for s in shapes)


@pytest.mark.parametrize("crop", [0, -1, "16"])
def test_a_bad_crop_is_refused_naming_the_key(crop):
    from lmar.core.errors import LmarError
    from lmar.run.train import recipe

    with pytest.raises(LmarError, match=r"config key backbones\.b\.train\.crop must be"):
        recipe(lmar.run.train.BACKBONES.get("unet_lite"), {**SPEC, "train": {**SPEC["train"], "crop": crop}},
               "config key backbones.b")
