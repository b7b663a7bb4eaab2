"""Datasets: the embedded mini dataset, paired folders, image I/O."""

from __future__ import annotations

import filecmp
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import DATA_SIZE, TEST_NAMES, entries, load_png, write_rgb

from lmar.core.errors import LmarError
from lmar.core.registry import DATASETS
from lmar.data import mini
from lmar.data.image_write import to_uint8, write_png
from lmar.data.images import image_size, read_image
from lmar.data.mini import MiniDataset
from lmar.data.pairs import list_pairs

ALL_NAMES = sorted(p.rsplit(".", 1)[0] for p in mini.PHOTOS)


# ---------------------------------------------------------------- mini dataset


def test_layout_and_pair_counts(mini_data):
    assert entries(mini_data)[:9] == ["test", "test/gt"] + [f"test/gt/{n}.png" for n in TEST_NAMES] + ["test/input"]
    for split in ("train", "test"):
        for sub in ("input", "gt"):
            assert (mini_data / split / sub).is_dir()
    train, test = list_pairs(mini_data, "train"), list_pairs(mini_data, "test")
    assert len(train) == 5 and len(test) == 6
    assert [p.name for p in test] == TEST_NAMES
    assert sorted([p.name for p in train] + [p.name for p in test]) == ALL_NAMES
    for p in train + test:
        assert p.input.name == p.gt.name == f"{p.name}.png"
        with Image.open(p.input) as a, Image.open(p.gt) as b:
            assert a.mode == b.mode == "RGB"
            assert (a.height, a.width) == (b.height, b.width) == DATA_SIZE


def test_build_is_byte_identical_twice(mini_data, tmp_path):
    MiniDataset(size=DATA_SIZE).prepare(tmp_path / "again")
    cmp = filecmp.dircmp(mini_data, tmp_path / "again")
    assert entries(mini_data) == entries(tmp_path / "again")
    for rel in entries(mini_data):
        a, b = mini_data / rel, tmp_path / "again" / rel
        if a.is_file():
            assert a.read_bytes() == b.read_bytes(), rel
    assert not cmp.diff_files


def test_seed_changes_the_degradation_not_the_ground_truth(mini_data, tmp_path):
    MiniDataset(size=DATA_SIZE, seed=1).prepare(tmp_path / "seed1")
    for name in ("astronaut", "coffee"):
        assert (mini_data / "test/gt" / f"{name}.png").read_bytes() == (tmp_path / "seed1/test/gt" / f"{name}.png").read_bytes()
        assert not np.array_equal(load_png(mini_data / "test/input" / f"{name}.png"),
                                  load_png(tmp_path / "seed1/test/input" / f"{name}.png"))


def test_inputs_are_darker_than_their_ground_truth(mini_data):
    for split in ("train", "test"):
        for p in list_pairs(mini_data, split):
            low, gt = load_png(p.input), load_png(p.gt)
            assert low.mean() < 0.6 * gt.mean(), p.name


def test_custom_split_and_size(tmp_path):
    MiniDataset(size=(16, 20), test=["chelsea"], seed=3).prepare(tmp_path / "d")
    assert [p.name for p in list_pairs(tmp_path / "d", "test")] == ["chelsea"]
    assert len(list_pairs(tmp_path / "d", "train")) == 10
    assert image_size(tmp_path / "d/test/input/chelsea.png") == (16, 20)


def test_training_views_are_crops_of_the_photograph_and_the_test_split_has_one_view(mini_data, tmp_path):
    MiniDataset(size=DATA_SIZE, views=3).prepare(tmp_path / "d")
    train = {p.name for p in list_pairs(tmp_path / "d", "train")}
    stems = {p.name for p in list_pairs(mini_data, "train")}
    assert train == {f"{s}{v}" for s in stems for v in ("", "_view1", "_view2")}
    assert [p.name for p in list_pairs(tmp_path / "d", "test")] == TEST_NAMES
    # view 0 is the whole photograph: the same pair as a build with one view
    assert (tmp_path / "d/train/gt/retina.png").read_bytes() == (mini_data / "train/gt/retina.png").read_bytes()
    assert not np.array_equal(load_png(tmp_path / "d/train/gt/retina_view1.png"), load_png(mini_data / "train/gt/retina.png"))


def test_a_view_is_a_crop_of_60_to_90_percent_of_each_side():
    # every pixel of the photograph holds its own coordinates, so a crop says where it came from
    yy, xx = np.mgrid[0:200, 0:150]
    photo = Image.fromarray(np.stack([yy, xx, np.zeros_like(xx)], -1).astype(np.uint8))
    assert mini.view(photo, 0, np.random.default_rng(0)) is photo
    for seed in range(20):
        crop = np.asarray(mini.view(photo, 1, np.random.default_rng(seed)))
        h, w = crop.shape[:2]
        top, left = int(crop[0, 0, 0]), int(crop[0, 0, 1])
        assert 0.6 * 200 - 1 <= h <= 0.9 * 200 + 1 and 0.6 * 150 - 1 <= w <= 0.9 * 150 + 1
        assert np.array_equal(crop, np.asarray(photo)[top:top + h, left:left + w])


def test_grace_hopper_comes_from_matplotlib(mini_data):
    import matplotlib
    from PIL import Image as PILImage

    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    want = np.round(mini.fit(PILImage.open(path).convert("RGB"), DATA_SIZE) * 255)
    assert np.array_equal(load_png(mini_data / "test/gt/grace_hopper.png") * 255, want)


def test_registered_as_mini():
    assert isinstance(DATASETS.build({"type": "mini", "params": {"size": [16, 16]}}), MiniDataset)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"test": ["astronaut", "nope"]}, "nope"),
        ({"size": (4, 40)}, ">= 8"),
        ({"size": (40,)}, "size"),
        ({"test": ALL_NAMES}, "every photo"),
    ],
)
def test_bad_parameters_raise_before_writing(tmp_path, kwargs, words):
    with pytest.raises(LmarError, match=words):
        MiniDataset(**kwargs).prepare(tmp_path / "out")
    assert entries(tmp_path) == []


def test_failure_midway_leaves_no_output_and_no_temp(tmp_path, monkeypatch):
    real, seen = mini._photo, []

    def flaky(name):
        seen.append(name)
        if len(seen) == 5:
            raise LmarError(f"scikit-image photo {name} is missing")
        return real(name)

    monkeypatch.setattr(mini, "_photo", flaky)
    with pytest.raises(LmarError, match="missing"):
        MiniDataset(size=(16, 16)).prepare(tmp_path / "out")
    assert len(seen) == 5
    assert entries(tmp_path) == []


def test_failure_keeps_a_previous_build_intact(tmp_path, monkeypatch):
    MiniDataset(size=(16, 16)).prepare(tmp_path / "out")
    before = {rel: (tmp_path / "out" / rel).read_bytes() for rel in entries(tmp_path / "out")
              if (tmp_path / "out" / rel).is_file()}
    monkeypatch.setattr(mini, "_photo", lambda name: (_ for _ in ()).throw(LmarError("boom")))
    with pytest.raises(LmarError, match="boom"):
        MiniDataset(size=(20, 20)).prepare(tmp_path / "out")
    assert entries(tmp_path) == ["out"] + [f"out/{r}" for r in entries(tmp_path / "out")]
    assert {rel: (tmp_path / "out" / rel).read_bytes() for rel in before} == before


def test_fit_crops_to_the_aspect_ratio():
    im = Image.new("RGB", (300, 100), (255, 0, 0))
    im.paste((0, 0, 255), (0, 0, 100, 100))  # a blue left third, cropped away when fitting to 1:1
    arr = mini.fit(im, (10, 10))
    assert arr.shape == (10, 10, 3) and arr.dtype == np.float32
    assert np.allclose(arr[..., 0], 1.0) and np.allclose(arr[..., 2], 0.0)


# ---------------------------------------------------------------- paired folders


def test_input_without_ground_truth_is_named(data_copy):
    (data_copy / "test/gt/coffee.png").unlink()
    with pytest.raises(LmarError) as exc:
        list_pairs(data_copy, "test")
    assert str(data_copy / "test/input/coffee.png") in str(exc.value)
    assert "ground truth" in str(exc.value)


def test_size_mismatch_names_both_files(data_copy):
    write_rgb(data_copy / "test/gt/rocket.png", 40, 72)
    with pytest.raises(LmarError) as exc:
        list_pairs(data_copy, "test")
    msg = str(exc.value)
    assert str(data_copy / "test/input/rocket.png") in msg and str(data_copy / "test/gt/rocket.png") in msg
    assert "48x72" in msg and "40x72" in msg
    assert len(list_pairs(data_copy, "test", check_sizes=False)) == len(TEST_NAMES)


@pytest.mark.parametrize("missing", ["test/input", "test/gt", "test"])
def test_missing_folder_is_named(data_copy, missing):
    import shutil

    shutil.rmtree(data_copy / missing)
    with pytest.raises(LmarError, match="missing dataset folder") as exc:
        list_pairs(data_copy, "test")
    assert str(data_copy / "test") in str(exc.value)


def test_empty_split_and_duplicate_names(tmp_path):
    for sub in ("input", "gt"):
        (tmp_path / "test" / sub).mkdir(parents=True)
    with pytest.raises(LmarError, match="no images"):
        list_pairs(tmp_path, "test")
    write_rgb(tmp_path / "test/input/a.png", 8, 8)
    write_rgb(tmp_path / "test/gt/a.png", 8, 8)
    Image.open(tmp_path / "test/input/a.png").save(tmp_path / "test/input/a.jpg")
    with pytest.raises(LmarError, match="two images named 'a'"):
        list_pairs(tmp_path, "test")


def test_ground_truth_may_have_another_extension_and_other_files_are_ignored(tmp_path):
    write_rgb(tmp_path / "test/input/b.png", 8, 10)
    write_rgb(tmp_path / "test/input/a.png", 8, 10)
    write_rgb(tmp_path / "test/gt/a.png", 8, 10)
    Image.open(write_rgb(tmp_path / "x/b.png", 8, 10)).save(tmp_path / "test/gt/b.JPG", format="JPEG")
    (tmp_path / "test/input/notes.txt").write_text("not an image")
    pairs = list_pairs(tmp_path, "test")
    assert [(p.name, p.gt.name) for p in pairs] == [("a", "a.png"), ("b", "b.JPG")]


# ---------------------------------------------------------------- images


def test_read_write_round_trip(tmp_path):
    path = write_rgb(tmp_path / "a.png", 5, 7)
    x = read_image(path)
    assert x.shape == (3, 5, 7) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    write_png(x, tmp_path / "b.png")
    assert np.array_equal(load_png(tmp_path / "a.png"), load_png(tmp_path / "b.png"))
    assert entries(tmp_path) == ["a.png", "b.png"]  # no temp file left


def test_to_uint8_clamps_and_rounds():
    x = torch.tensor([-0.5, 0.0, 0.5 / 255, 1.49 / 255, 1.0, 2.0]).view(1, 1, 6).expand(3, 1, 6)
    assert to_uint8(x)[0, :, 0].tolist() == [0, 0, 0, 1, 255, 255]


def test_grey_and_opaque_rgba_images_are_read_as_rgb(tmp_path):
    Image.new("L", (4, 3), 128).save(tmp_path / "g.png")
    Image.new("RGBA", (4, 3), (10, 20, 30, 255)).save(tmp_path / "a.png")
    Image.new("RGBA", (4, 3), (10, 20, 30, 40)).save(tmp_path / "t.png")
    assert read_image(tmp_path / "g.png").shape == (3, 3, 4)
    assert read_image(tmp_path / "a.png")[:, 0, 0].mul(255).round().tolist() == [10, 20, 30]  # opaque: alpha dropped
    with pytest.raises(LmarError, match="transparency"):  # never dropped silently
        read_image(tmp_path / "t.png")


def test_unreadable_image_is_named(tmp_path):
    bad = tmp_path / "garbage.png"
    bad.write_bytes(b"\x00\x01 definitely not a png" * 10)
    for fn in (read_image, image_size):
        with pytest.raises(LmarError, match="cannot read image") as exc:
            fn(bad)
        assert str(bad) in str(exc.value)


def test_truncated_image_is_named(tmp_path):
    good = write_rgb(tmp_path / "good.png", 40, 40)
    bad = tmp_path / "truncated.png"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    assert image_size(bad) == (40, 40)  # the header is intact
    with pytest.raises(LmarError, match="cannot read image") as exc:
        read_image(bad)
    assert str(bad) in str(exc.value)


def test_missing_image_is_named(tmp_path):
    with pytest.raises(LmarError, match="image not found") as exc:
        read_image(tmp_path / "nope.png")
    assert str(tmp_path / "nope.png") in str(exc.value)


# ---------------------------------------------------------------- the degradation's ranges


def _old_degradation(gt: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The inputs as the module made them before its ranges were parameters (its docstring's formula,
    written out here with the default ranges as literals)."""
    e, g = rng.uniform(0.15, 0.35), rng.uniform(1.5, 2.2)
    m = 1.0 + rng.uniform(-0.08, 0.08, size=3)
    a, b = rng.uniform(0.002, 0.008), rng.uniform(0.004, 0.012)
    dark = e * gt.astype(np.float64) ** g * m
    return np.clip(dark + np.sqrt(a * np.clip(dark, 0, None) + b * b) * rng.standard_normal(gt.shape), 0, 1)


def test_the_default_ranges_make_the_inputs_the_formula_made_before_they_were_parameters(mini_data, tmp_path,
                                                                                         monkeypatch):
    monkeypatch.setattr(mini, "degrade_low_light", lambda gt, rng, **ranges: _old_degradation(gt, rng))
    MiniDataset(size=DATA_SIZE).prepare(tmp_path / "old")
    assert entries(mini_data) == entries(tmp_path / "old")
    assert all((mini_data / r).read_bytes() == (tmp_path / "old" / r).read_bytes()
               for r in entries(mini_data) if r.endswith(".png"))


def test_fixed_ranges_without_noise_or_cast_give_exposure_times_gamma_by_hand(tmp_path):
    MiniDataset(size=(24, 36), views=2, exposure=[0.25, 0.25], gamma=[1.8, 1.8], cast=0.0,
                shot_noise=[0, 0], read_noise=[0, 0]).prepare(tmp_path / "d")
    for split in ("train", "test"):
        for p in list_pairs(tmp_path / "d", split):
            # the ground truth is 8-bit: its rounding moves 0.25 * gt ** 1.8 by at most 0.45 * 0.5/255
            want = 0.25 * load_png(p.gt).astype(np.float64) ** 1.8
            assert np.abs(load_png(p.input) - want).max() <= (0.5 + 0.23 + 1e-6) / 255, p.name


def test_the_ranges_change_the_inputs_not_the_ground_truth(mini_data, tmp_path):
    MiniDataset(size=DATA_SIZE, exposure=[0.25, 0.25], gamma=[1.8, 1.8], cast=0.0).prepare(tmp_path / "d")
    pngs = [r for r in entries(mini_data) if r.endswith(".png")]
    assert all((mini_data / r).read_bytes() == (tmp_path / "d" / r).read_bytes() for r in pngs if "/gt/" in r)
    assert not any((mini_data / r).read_bytes() == (tmp_path / "d" / r).read_bytes() for r in pngs if "/input/" in r)


@pytest.mark.parametrize("key, value, words", [
    ("exposure", [0.3, 0.2], "low <= high"), ("exposure", [0.2, 1.5], "<= 1"), ("gamma", [0, 2], "> 0"),
    ("cast", -0.1, ">= 0"), ("read_noise", [0.01], "a list of 2 items")])
def test_a_bad_range_is_one_error_naming_its_key(key, value, words):
    with pytest.raises(LmarError, match=rf"mini\.params\.{key} must be .*{words}"):
        DATASETS.build({"type": "mini", "params": {key: value}}, "mini")
