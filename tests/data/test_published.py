"""Published datasets: local_path linking and validation, the fetch step, weights and LPIPS wiring."""

from __future__ import annotations

import hashlib
import io
import math
import os
import zipfile
from pathlib import Path

import pytest
import torch

from helpers.local_http import LocalServer, Payload
from PIL import Image

from lmar.core.errors import LmarError
from lmar.core.registry import DATASETS
from lmar.data.fetch import fetch
from lmar.data.pairs import list_pairs
from lmar.data.published import UHDLL

UHDLL_LAYOUT = ("training_set/input", "training_set/gt", "testing_set/input", "testing_set/gt")


def _png(path: Path, hw=(12, 16), value=128) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (hw[1], hw[0]), (value, value // 2, 30)).save(path)


def make_uhdll(root: Path, n_train=3, n_test=2) -> Path:
    """A tiny copy of UHD-LL's published layout: {training_set,testing_set}/{input,gt}."""
    for split, n in (("training_set", n_train), ("testing_set", n_test)):
        for i in range(n):
            _png(root / split / "input" / f"{i}_UHD_LL.png", value=40)
            _png(root / split / "gt" / f"{i}_UHD_LL.png", value=200)
    return root


def spec(**params) -> dict:
    return {"type": "uhd_ll", "params": {"expected": {"train": 3, "test": 2}, **params}}


def test_local_path_is_linked_into_our_layout(tmp_path):
    src = make_uhdll(tmp_path / "UHD-LL")
    out = tmp_path / "prepared"
    DATASETS.build(spec(local_path=str(src))).prepare(out)
    assert (out / "train" / "input").is_symlink()  # linked, not copied
    assert (out / "train" / "input").resolve() == (src / "training_set" / "input").resolve()
    assert len(list_pairs(out, "train")) == 3 and len(list_pairs(out, "test")) == 2


@pytest.mark.parametrize("out_at", ["the data", "inside the data", "above the data"])
def test_an_output_folder_overlapping_the_data_is_refused_and_the_data_kept(tmp_path, out_at):
    """Preparing replaces its output folder whole: pointed at (or around) the user's own data it
    would delete it. Refused before anything is written."""
    src = make_uhdll(tmp_path / "mine" / "UHD-LL")
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    out = {"the data": src, "inside the data": src / "prepared", "above the data": tmp_path / "mine"}[out_at]
    before = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    with pytest.raises(LmarError, match=f"output folder {out} overlaps the dataset's folder"):
        DATASETS.build(spec(local_path=str(src))).prepare(out)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == before
    assert len(list((src / "training_set" / "input").iterdir())) == 3


def test_local_path_one_level_down_is_found(tmp_path):
    make_uhdll(tmp_path / "wrapper" / "UHD-LL")
    DATASETS.build(spec(local_path=str(tmp_path / "wrapper"))).prepare(tmp_path / "out")
    assert len(list_pairs(tmp_path / "out", "test")) == 2


def test_missing_ground_truth_is_named(tmp_path):
    src = make_uhdll(tmp_path / "UHD-LL")
    (src / "training_set" / "gt" / "1_UHD_LL.png").unlink()
    with pytest.raises(LmarError, match=r"input without ground truth: .*training_set/input/1_UHD_LL.png"):
        DATASETS.build(spec(local_path=str(src))).prepare(tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_every_problem_is_listed(tmp_path):
    src = make_uhdll(tmp_path / "UHD-LL")
    _png(src / "testing_set" / "gt" / "0_UHD_LL.png", hw=(10, 16))  # size mismatch
    (src / "training_set" / "input" / "2_UHD_LL.png").write_bytes(b"not a png")  # undecodable
    with pytest.raises(LmarError) as err:
        DATASETS.build(spec(local_path=str(src))).prepare(tmp_path / "out")
    msg = str(err.value)
    assert "2 problem(s)" in msg
    assert "testing_set/gt/0_UHD_LL.png" in msg and "training_set/input/2_UHD_LL.png" in msg


def test_published_counts_are_checked(tmp_path):
    src = make_uhdll(tmp_path / "UHD-LL")
    with pytest.raises(LmarError, match=r"3 pairs, expected 2000"):
        DATASETS.build({"type": "uhd_ll", "params": {"local_path": str(src)}}).prepare(tmp_path / "out")


def test_wrong_layout_says_what_is_expected(tmp_path):
    (tmp_path / "elsewhere" / "train").mkdir(parents=True)
    with pytest.raises(LmarError, match=r"training_set/input/.*testing_set/gt/"):
        DATASETS.build(spec(local_path=str(tmp_path / "elsewhere"))).prepare(tmp_path / "out")


def _zip_of(root: Path, top: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for f in sorted(root.rglob("*.png")):
            z.write(f, f"{top}/{f.relative_to(root)}")
    return buf.getvalue()


def test_fetch_downloads_extracts_and_prepares(tmp_path, monkeypatch):
    body = _zip_of(make_uhdll(tmp_path / "src"), "UHD-LL")
    with LocalServer() as server:
        url = server.add("/UHD-LL.zip", Payload(body, cut_after=len(body) // 2))  # resumed once
        monkeypatch.setattr(UHDLL, "source", {"kind": "url", "url": url, "file": "UHD-LL.zip",
                                              "sha256": hashlib.sha256(body).hexdigest()})
        fetch(spec(), "uhd_ll", tmp_path / "downloads", tmp_path / "archives", tmp_path / "checksums.json")
    assert "UHD-LL.zip" in (tmp_path / "checksums.json").read_text()
    DATASETS.build(spec(download_dir=str(tmp_path / "downloads"))).prepare(tmp_path / "data")
    assert len(list_pairs(tmp_path / "data", "train")) == 3


def test_fetch_with_a_bad_checksum_leaves_nothing(tmp_path, monkeypatch):
    body = _zip_of(make_uhdll(tmp_path / "src"), "UHD-LL")
    with LocalServer() as server:
        url = server.add("/UHD-LL.zip", body)
        monkeypatch.setattr(UHDLL, "source", {"kind": "url", "url": url, "file": "UHD-LL.zip", "sha256": "0" * 64})
        with pytest.raises(LmarError, match="sha256"):
            fetch(spec(), "uhd_ll", tmp_path / "downloads", tmp_path / "archives", tmp_path / "checksums.json")
    assert not (tmp_path / "downloads").exists()


def _split_archives(dest: Path, parts: dict[str, list[str]]) -> Path:
    """A stand-in for a Drive folder of zips: archive name -> the files (PNG pairs) it holds."""
    dest.mkdir(parents=True)
    for archive, names in parts.items():
        with zipfile.ZipFile(dest / archive, "w") as z:
            for n in names:
                buf = io.BytesIO()
                Image.new("RGB", (16, 12), (40, 20, 30)).save(buf, format="PNG")
                z.writestr(n, buf.getvalue())
    return dest


def test_a_folder_of_archives_is_unpacked_into_one_tree(tmp_path, monkeypatch):
    """UHD-Haze is a Drive folder: two archives sharing a name stem (the train and the test split) must
    both arrive; unpacking each into a folder named by the name's first part kept only the last."""
    import lmar.data.fetch as fetch_module

    parts = {"UHD-Haze.part1.zip": [f"UHD-Haze/train/{d}/{i}.png" for d in ("input", "gt") for i in range(3)],
             "UHD-Haze.part2.zip": [f"UHD-Haze/test/{d}/{i}.png" for d in ("input", "gt") for i in range(2)]}
    monkeypatch.setattr(fetch_module, "gdrive_folder_download", lambda _id, dest: _split_archives(Path(dest), parts))
    haze = {"type": "uhd_haze", "params": {"expected": {"train": 3, "test": 2}}}
    fetch(haze, "uhd_haze", tmp_path / "dl", tmp_path / "ar", tmp_path / "c.json")
    DATASETS.build({**haze, "params": {**haze["params"], "download_dir": str(tmp_path / "dl")}}).prepare(tmp_path / "data")
    assert len(list_pairs(tmp_path / "data", "train")) == 3 and len(list_pairs(tmp_path / "data", "test")) == 2


def test_two_archives_holding_the_same_file_are_refused_naming_both(tmp_path, monkeypatch):
    import lmar.data.fetch as fetch_module

    parts = {"a.zip": ["x/train/input/0.png"], "b.zip": ["x/train/input/0.png"]}
    monkeypatch.setattr(fetch_module, "gdrive_folder_download", lambda _id, dest: _split_archives(Path(dest), parts))
    with pytest.raises(LmarError, match=r"archives .*a\.zip and .*b\.zip both hold x/train/input/0\.png"):
        fetch({"type": "uhd_haze"}, "uhd_haze", tmp_path / "dl", tmp_path / "ar", tmp_path / "c.json")
    assert not (tmp_path / "dl").exists()


def test_manual_source_says_where_to_put_the_files(tmp_path):
    with pytest.raises(LmarError) as err:
        fetch({"type": "uhd_lol4k"}, "uhd_lol4k", tmp_path / "dl", tmp_path / "ar", tmp_path / "c.json")
    msg = str(err.value)
    assert "cannot be downloaded automatically" in msg and str(tmp_path / "dl") in msg
    assert "train/low/" in msg and "test/high/" in msg and "local_path" in msg


# ------------------------------------------------------------------ weights and LPIPS


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    home = tmp_path / "torch"
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home


def test_seed_weights_copies_lpips_layers_and_reports_unfetchable_ones(torch_home):
    from lmar.parts.weights import seed_weights, weight_path

    with LocalServer() as server:
        base = server.url("/models/")  # serves nothing: every file answers 404
        status = seed_weights(torch_home, ["lpips_alex", "alexnet"], base_url=base)
        assert status["lpips_alex"]["ok"] and weight_path("lpips_alex", torch_home).is_file()
        assert not status["alexnet"]["ok"] and "404" in status["alexnet"]["reason"]
        with pytest.raises(LmarError, match="404"):
            seed_weights(torch_home, ["alexnet"], required=["alexnet"], base_url=base)


def test_seed_weights_rejects_a_file_whose_hash_does_not_match_its_name(torch_home):
    from lmar.parts.weights import seed_weights, weight_path

    with LocalServer() as server:
        server.add("/models/alexnet-owt-7be5be79.pth", b"not the real weights")
        status = seed_weights(torch_home, ["alexnet"], base_url=server.url("/models/"))
    assert not status["alexnet"]["ok"] and "sha256" in status["alexnet"]["reason"]
    assert not weight_path("alexnet", torch_home).exists()


def test_lpips_through_pyiqa_with_local_weights(torch_home, monkeypatch):
    """Wiring, not values: AlexNet-shaped random weights plus the lpips package's linear layers
    (the stand-in's own hash replaces torchvision's published prefix, which it cannot match)."""
    import torchvision

    import lmar.parts.weights
    from lmar.parts.weights import seed_weights, weight_path
    from lmar.run.metrics import Scorer

    seed_weights(torch_home, ["lpips_alex"])
    alex = weight_path("alexnet", torch_home)
    alex.parent.mkdir(parents=True)
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), alex)
    monkeypatch.setitem(lmar.parts.weights.EXPECTED_SHA256, "alexnet", lmar.core.hashing.sha256_hex(alex.read_bytes()))
    scorer = Scorer(["psnr", "lpips"], torch.device("cpu"), required=["psnr", "lpips"])
    a, b = torch.rand(3, 32, 32), torch.rand(3, 32, 32)
    scores = scorer(a, b)
    assert math.isfinite(scores["lpips"]) and scores["lpips"] > 0
    assert scorer(a, a)["lpips"] == pytest.approx(0.0, abs=1e-6)


def test_lpips_missing_is_reported_not_fatal_unless_required(torch_home):
    from lmar.run.metrics import Scorer

    scorer = Scorer(["psnr", "lpips"], torch.device("cpu"))
    assert "alexnet-owt-7be5be79.pth" in scorer.missing["lpips"]
    scores = scorer(torch.rand(3, 16, 16), torch.rand(3, 16, 16))
    assert math.isnan(scores["lpips"]) and math.isfinite(scores["psnr"])
    with pytest.raises(LmarError, match="required"):
        Scorer(["psnr", "lpips"], torch.device("cpu"), required=["lpips"])


def test_prepared_folder_follows_the_umask(tmp_path):
    src = make_uhdll(tmp_path / "UHD-LL")
    old = os.umask(0o022)
    try:
        DATASETS.build(spec(local_path=str(src))).prepare(tmp_path / "out")
    finally:
        os.umask(old)
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o755  # not mkdtemp's private 0o700
