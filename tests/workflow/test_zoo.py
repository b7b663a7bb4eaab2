"""The backbone zoo (lmar/zoo): the default config's backbones start from shipped weights whose
sha256, recipe and curve are on record; anything that differs from an entry trains its own, and
says why; a changed zoo file is refused before it is copied."""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from helpers import ROOT, snakemake

from lmar.core.errors import LmarError
from lmar.data.mini import PHOTOS
from lmar.run.zoo import ZOO_DIR, find, match_key, records, take, write_entry

DEFAULT = yaml.safe_load((ROOT / "config.yaml").read_text())
BACKBONES = sorted(DEFAULT["backbones"])
CONFIGS = ROOT / "workflow" / "configs"
# each other degradation's config files, applied in order over the default (the narrow one extends the wide)
VARIANTS = {"wide": ["wide_degradation"], "narrow": ["wide_degradation", "narrow_degradation"]}
TAGS = {"default": "fixed-", "wide": "", "narrow": "narrow-"}  # how each names its zoo entries: mini-<tag><backbone>


def entry(backbone: str, seed: int = 0, config: str = "default") -> str:
    return f"mini-{TAGS[config]}{backbone}-seed{seed}"


def default(backbone: str) -> tuple[dict, dict]:
    return copy.deepcopy(DEFAULT["datasets"]["mini"]), copy.deepcopy(DEFAULT["backbones"][backbone])


def variant(name: str, backbone: str) -> tuple[dict, dict]:
    """The default's dataset and backbone as the variant's config files change them (their degradation's
    ranges, and their backbones' recipe where they set one), merged here by hand."""
    dataset, spec = default(backbone)
    for stem in VARIANTS[name]:
        changes = yaml.safe_load((CONFIGS / f"{stem}.yaml").read_text())
        dataset["params"].update(changes["datasets"]["mini"]["params"])
        spec["train"].update(changes.get("backbones", {}).get(backbone, {}).get("train", {}))
    return dataset, spec


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("config, seed", [("default", DEFAULT["seed"]), ("wide", 0), ("wide", 1), ("wide", 2),
                                          ("narrow", 0)])
@pytest.mark.parametrize("backbone", BACKBONES)
def test_every_default_backbone_starts_from_a_shipped_entry_whose_file_has_its_recorded_sha256(backbone, config, seed):
    """The zoo holds the default's backbones (its fixed degradation's, mini-fixed-*) at seed 0, the wide
    degradation's at seeds 0, 1 and 2 and the narrow degradation's at seed 0; the wide degradation's records
    were written before the degradation's ranges were dataset params, so this also checks that a record
    without them reads as the dataset's defaults, which wide_degradation.yaml writes out."""
    path, why = find(*(default(backbone) if config == "default" else variant(config, backbone)), seed)
    assert path is not None, why
    assert why == f"starts from the zoo's {entry(backbone, seed, config)}"
    record = json.loads(path.with_suffix(".json").read_text())
    assert sha256(path) == record["sha256"]  # hashlib here, independent of lmar.parts.weights
    assert (ZOO_DIR / record["curve"]).is_file()
    for key in ("code_version", "config_hash", "trained_on", "minutes", "converged", "final_val_psnr"):
        assert record[key] not in (None, ""), key


def test_a_default_written_out_still_matches():
    dataset, spec = default("nafnet")
    spec["train"]["amp"] = False  # the recipe's default, now explicit
    dataset["params"].update(photos=list(PHOTOS))  # the dataset's default photographs, written out
    path, why = find(dataset, spec, 0)
    assert path is not None and path.name == f"{entry('nafnet')}.pt", why


def test_the_dataset_s_own_ranges_left_unsaid_match_the_wide_entries_that_predate_them():
    dataset, spec = variant("wide", "nafnet")
    for key in ("exposure", "gamma", "cast", "shot_noise", "read_noise"):
        del dataset["params"][key]
    path, why = find(dataset, spec, 0)
    assert path is not None and path.name == f"{entry('nafnet', config='wide')}.pt", why


CHANGES = {
    "train.lr": (lambda d, s: s["train"].update(lr=0.002), "train.lr is 0.002 here, 0.001 in the zoo"),
    "params": (lambda d, s: s["params"].update(width=16), "backbone.params.width is 16 here, 8 in the zoo"),
    "dataset views": (lambda d, s: d["params"].update(views=3), "dataset.params.views is 3 here"),
    "dataset size": (lambda d, s: d["params"].update(size=[180, 270]), "dataset.params.size is [180, 270] here"),
    # the wide degradation's records predate the ranges as params: a record without one reads as its default
    "dataset exposure": (lambda d, s: d["params"].update(exposure=[0.15, 0.3]),
                         "dataset.params.exposure is [0.15, 0.3] here, [0.15, 0.35] in the zoo"),
    "dataset noise": (lambda d, s: d["params"].update(read_noise=[0.004, 0.01]),
                      "dataset.params.read_noise is [0.004, 0.01] here, [0.004, 0.012] in the zoo"),
}


@pytest.mark.parametrize("case", list(CHANGES))
def test_a_backbone_that_differs_from_the_zoo_trains_its_own_and_says_which_key(case):
    dataset, spec = variant("wide", "nafnet")
    change, words = CHANGES[case]
    change(dataset, spec)
    path, why = find(dataset, spec, 0)
    assert path is None
    assert why.startswith("trains its own: unlike the zoo's mini-nafnet-seed0, ")
    assert words in why


def test_another_seed_trains_its_own():
    path, why = find(*default("unet"), 3)
    assert path is None and "seed is 3 here, 0 in the zoo" in why
    path, why = find(*variant("narrow", "unet"), 1)  # the narrow degradation's zoo holds seed 0 alone
    assert path is None and why.startswith("trains its own: unlike the zoo's mini-narrow-unet-seed0, seed is 1 here")


def test_a_range_of_the_narrow_degradation_changed_trains_its_own_naming_it():
    dataset, spec = variant("narrow", "nafnet")
    dataset["params"]["gamma"] = [1.7, 2.0]
    path, why = find(dataset, spec, 0)
    assert path is None and why == ("trains its own: unlike the zoo's mini-narrow-nafnet-seed0, dataset.params.gamma "
                                    "is [1.7, 2.0] here, [1.7, 1.9] in the zoo")


def test_the_default_data_with_the_wide_degradation_s_recipe_trains_its_own_naming_the_epochs():
    """The default's entries were trained for 240 epochs: its data with the wide degradation's 180 do not match."""
    dataset, _ = default("unet")
    path, why = find(dataset, variant("wide", "unet")[1], 0)
    assert path is None and why.startswith(f"trains its own: unlike the zoo's {entry('unet')}, ")
    assert "train.epochs is 180 here, 240 in the zoo" in why and "train.step_size is 90 here, 80 in the zoo" in why


def test_a_backbone_type_the_zoo_lacks_trains_its_own():
    dataset, _ = default("unet")
    path, why = find(dataset, {"type": "unet_lite", "params": {"width": 8}}, 0)
    assert path is None
    assert why == "trains its own: the zoo has no unet_lite backbone trained on a mini dataset"


def _zoo_copy(tmp_path: Path, backbone: str) -> Path:
    folder = tmp_path / "zoo"
    folder.mkdir()
    for suffix in (".pt", ".json", ".curve.csv"):
        shutil.copyfile(ZOO_DIR / f"mini-{backbone}-seed0{suffix}", folder / f"mini-{backbone}-seed0{suffix}")
    return folder / f"mini-{backbone}-seed0.pt"


def test_take_copies_the_checkpoint_and_its_curve_byte_for_byte(tmp_path):
    src = _zoo_copy(tmp_path, "nafnet")
    out = tmp_path / "run" / "backbone.pt"
    record = take(src, out, tmp_path / "run" / "backbone.curve.csv")
    assert sha256(out) == record["sha256"] == sha256(src)
    assert (tmp_path / "run" / "backbone.curve.csv").read_bytes() == src.with_suffix("").with_suffix(
        ".curve.csv").read_bytes()


def test_a_changed_zoo_file_is_refused_and_nothing_is_written(tmp_path):
    src = _zoo_copy(tmp_path, "nafnet")
    data = bytearray(src.read_bytes())
    data[-100] ^= 0xFF
    src.write_bytes(bytes(data))
    out = tmp_path / "run" / "backbone.pt"
    with pytest.raises(LmarError, match=r"has sha256 [0-9a-f]{64}, its record says .*the file changed"):
        take(src, out, tmp_path / "run" / "backbone.curve.csv")
    assert not out.exists() and not (tmp_path / "run" / "backbone.curve.csv").exists()


def test_a_zoo_file_without_its_record_is_refused(tmp_path):
    src = _zoo_copy(tmp_path, "unet")
    src.with_suffix(".json").unlink()
    with pytest.raises(LmarError, match="has no zoo record mini-unet-seed0.json beside it"):
        take(src, tmp_path / "b.pt", tmp_path / "b.curve.csv")


def test_an_unreadable_record_is_one_error_naming_it(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(LmarError, match=r"zoo record .*bad\.json cannot be read"):
        records(tmp_path)


def test_write_entry_records_the_files_sha256_the_match_and_the_tables_verdict(backbone_ckpt, tmp_path):
    from lmar.run import checkpoint

    spec = checkpoint.load(backbone_ckpt, "backbone")
    entry_spec = {"type": spec["spec"]["type"], "params": spec["spec"]["params"], "train": spec["meta"]["train"]}
    dataset = {"type": "mini", "params": {"size": [48, 72], "test": ["astronaut"]}}
    path = write_entry(backbone_ckpt, backbone_ckpt.with_suffix("").with_suffix(".curve.csv"), "mini", dataset,
                       "b", entry_spec, 0, tmp_path / "out")
    record = json.loads(path.read_text())
    assert record["name"] == "mini-b-seed0" and path.name == "mini-b-seed0.json"
    assert record["sha256"] == sha256(backbone_ckpt) == sha256(tmp_path / "out" / "mini-b-seed0.pt")
    assert record["match"] == match_key(dataset, entry_spec, 0)
    assert record["match"]["dataset"]["params"]["views"] == 1  # defaults filled in
    curve = pd.read_csv(tmp_path / "out" / "mini-b-seed0.curve.csv")
    assert record["epochs"] == len(curve)
    assert record["converged"][0] in ("yes", "no")
    # the entry stands in for exactly this backbone, and only for it
    assert find(dataset, entry_spec, 0, folder=tmp_path / "out")[0] == tmp_path / "out" / "mini-b-seed0.pt"
    assert find(dataset, entry_spec, 1, folder=tmp_path / "out")[0] is None


# ---------------------------------------------------------------- the plan


def _plan(tmp_path: Path, *config_files: Path) -> str:
    res = snakemake("-n", "-p", "--cores", "2", "all", "--directory", str(tmp_path / "run"), "--configfile",
                    *map(str, config_files))
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout + res.stderr


@pytest.mark.slow
def test_the_default_plan_copies_both_backbones_from_the_zoo_and_a_changed_recipe_trains_its_own(tmp_path):
    out = _plan(tmp_path, ROOT / "config.yaml")
    copies = [line for line in out.splitlines() if "pretrain-backbone" in line and "--from-zoo" in line]
    assert len(copies) == 2, out[-3000:]
    assert all(any(f"{entry(b)}.pt" in line for line in copies) for b in ("unet", "nafnet"))
    assert f"zoo: backbones.unet on mini, seed 0: starts from the zoo's {entry('unet')}" in out

    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump({"extends": str(ROOT / "config.yaml"),
                                       "backbones": {"unet": {"train": {"lr": 0.002}}}}))
    out = _plan(tmp_path, changed)
    trains = [line for line in out.splitlines() if "pretrain-backbone" in line]
    assert [("--from-zoo" in line, "--name unet" in line) for line in sorted(trains, key=lambda t: "unet" in t)] == [
        (True, False), (False, True)]
    assert (f"zoo: backbones.unet on mini, seed 0: trains its own: unlike the zoo's {entry('unet')}, train.lr is "
            "0.002 here, 0.001 in the zoo") in out

    off = tmp_path / "off.yaml"
    off.write_text(yaml.safe_dump({"extends": str(ROOT / "config.yaml"), "zoo": False}))
    assert "--from-zoo" not in _plan(tmp_path, off)

    # on a GPU too: the device is not part of the match (each job's device is its own concern)
    gpu = tmp_path / "gpu.yaml"
    gpu.write_text(yaml.safe_dump({"extends": str(ROOT / "config.yaml"), "device": "cuda"}))
    out = _plan(tmp_path, gpu)
    assert sum("--from-zoo" in line for line in out.splitlines() if "pretrain-backbone" in line) == 2, out[-3000:]


@pytest.mark.parametrize("name", sorted(records()))
def test_a_shipped_checkpoint_written_before_the_rooms_still_loads_and_enhances(name):
    """A checkpoint names its part by its registered type, never by the module that holds it, so the
    zoo's files (written before lmar/ moved into rooms) load after any move of the code."""
    import torch

    from lmar.run import checkpoint

    record = records()[name]
    net, ckpt = checkpoint.load_backbone(ZOO_DIR / record["file"], torch.device("cpu"))
    assert ckpt["spec"]["type"] == record["match"]["backbone"]["type"] and ":" not in ckpt["spec"]["type"]
    assert type(net).registry_name == ckpt["spec"]["type"]
    x = torch.rand(1, 3, 24, 36)
    with torch.no_grad():
        y = net(x)
    assert y.shape == x.shape and torch.isfinite(y).all()


def test_the_package_ships_the_zoos_files():
    """pyproject's package data names every file of lmar/zoo (relative to the package lmar)."""
    import fnmatch
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["lmar"]
    shipped = [p.relative_to(ROOT / "lmar").as_posix() for p in ZOO_DIR.iterdir()]
    assert shipped and all(any(fnmatch.fnmatch(f, pattern) for pattern in data) for f in shipped), shipped


def test_a_copy_of_an_entry_is_named_by_its_bytes_wherever_it_lies(tmp_path):
    from lmar.run.evaluate import backbone_weights
    from lmar.run.zoo import entry_of

    copy_ = tmp_path / "elsewhere" / "backbone.pt"
    copy_.parent.mkdir()
    shutil.copyfile(ZOO_DIR / "mini-nafnet-seed1.pt", copy_)
    assert entry_of(copy_) == "mini-nafnet-seed1"
    assert backbone_weights(copy_, {"meta": {"weights": "trained"}}) == (
        "trained, a copy of the zoo's mini-nafnet-seed1 (sha256 as its record)")
    # the authors' release keeps its own word even if its bytes were an entry's
    assert backbone_weights(copy_, {"meta": {"weights": "authors' release"}}) == "authors' release"
    raw = bytearray(copy_.read_bytes())
    raw[-1] ^= 1  # one bit changed: no longer the entry
    copy_.write_bytes(bytes(raw))
    assert entry_of(copy_) is None
    assert backbone_weights(copy_, {"meta": {}}) == "trained"


def test_an_unreadable_zoo_names_no_entry_and_stops_nothing(tmp_path):
    from lmar.run.zoo import entry_of

    folder = tmp_path / "zoo"
    folder.mkdir()
    (folder / "broken.json").write_text("{not json")
    ckpt = tmp_path / "b.pt"
    ckpt.write_bytes(b"x")
    assert entry_of(ckpt, folder) is None


def test_an_evaluation_with_a_zoo_copy_says_so_in_every_row_and_one_trained_here_does_not(mini_data, backbone_ckpt,
                                                                                           tmp_path):
    from helpers import CPU, LABELS

    from lmar.run.evaluate import evaluate

    copy_ = tmp_path / "models" / "backbone.pt"
    copy_.parent.mkdir()
    shutil.copyfile(ZOO_DIR / "mini-unet-seed0.pt", copy_)
    zoo_rows = evaluate(mini_data, copy_, {"type": "bicubic"}, None, {"scales": [2]}, tmp_path / "z.csv", tmp_path / "zi", CPU,
                        dict(LABELS))
    assert set(zoo_rows["backbone_weights"]) == {"trained, a copy of the zoo's mini-unet-seed0 (sha256 as its record)"}
    own = evaluate(mini_data, backbone_ckpt, {"type": "bicubic"}, None, {"scales": [2]}, tmp_path / "o.csv", tmp_path / "oi", CPU,
                   dict(LABELS))
    assert set(own["backbone_weights"]) == {"trained"}


def _with_test_photos(dataset: dict, photos: list[str], stems: list[str]) -> dict:
    from lmar.data.mini import PHOTOS, TEST

    params = dataset.setdefault("params", {})
    params["photos"] = [*params.get("photos", PHOTOS), *photos]
    params["test"] = [*params.get("test", TEST), *stems]
    return dataset


def test_a_test_photograph_the_training_split_never_held_keeps_the_zoo():
    dataset, spec = default("unet")
    path, why = find(_with_test_photos(dataset, ["camera.png", "coins.png"], ["camera", "coins"]), spec, 0)
    assert path is not None and path.name == f"{entry('unet')}.pt", why


def test_a_training_photograph_moved_to_the_test_split_trains_its_own():
    dataset, spec = default("unet")
    path, why = find(_with_test_photos(dataset, [], ["color"]), spec, 0)
    assert path is None and why.startswith(f"trains its own: unlike the zoo's {entry('unet')}, ")
    assert "dataset.params.train is [\"ihc.png\"" in why and 'here, ["color.png", "ihc.png"' in why


def test_the_training_pairs_do_not_depend_on_the_test_split(tmp_path):
    """What the zoo's match relies on, checked on the prepared files: the training split of a mini dataset
    is byte for byte the same when the test split gains photographs the training split never held."""
    from lmar.data.mini import PHOTOS, TEST, MiniDataset

    small = {"size": (24, 36), "seed": 0, "views": 2}
    MiniDataset(photos=list(PHOTOS), test=list(TEST), **small).prepare(tmp_path / "a")
    MiniDataset(photos=[*PHOTOS, "camera.png"], test=[*TEST, "camera"], **small).prepare(tmp_path / "b")
    train = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a" / "train").rglob("*.png"))
    assert len(train) == 2 * 2 * (len(PHOTOS) - len(TEST))  # input and gt, 2 views, 5 photographs
    assert train == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b" / "train").rglob("*.png"))
    assert all((tmp_path / "a" / p).read_bytes() == (tmp_path / "b" / p).read_bytes() for p in train)
    assert (tmp_path / "b" / "test" / "input" / "camera.png").is_file()


def test_a_record_naming_a_dataset_type_as_code_or_without_its_keys_is_compared_whole_and_imports_nothing(tmp_path):
    """A record is data: its dataset type is looked up among the registered names only (a 'module:Class'
    there would be imported by the registry), and params the type cannot read are compared as they are."""
    dataset, spec = default("unet")
    for name, recorded in (("code", {"type": "lmar_no_such_module:Nope", "params": {}}),
                           ("partial", {"type": "mini", "params": {"size": [360, 540]}})):
        match = {**match_key(dataset, spec, 0), "dataset": recorded}
        (tmp_path / f"mini-unet-{name}.json").write_text(json.dumps({"match": match}))
    path, why = find(dataset, spec, 0, folder=tmp_path)
    assert path is None and "unlike the zoo's mini-unet-partial" in why


@pytest.mark.slow
@pytest.mark.parametrize("config, tag, seeds", [("zoo.yaml", "", [0, 1, 2]), ("zoo_narrow.yaml", "-narrow", [0]),
                                                ("zoo_fixed.yaml", "-fixed", [0])])
def test_each_zoo_target_plans_the_entries_the_zoo_ships_under_their_names(config, tag, seeds, tmp_path):
    """Each zoo config regenerates exactly the shipped entries of its degradation, named by its zoo_tag,
    so that `make zoo`, `make zoo-narrow` and `make zoo-fixed` each copy their own files into lmar/zoo."""
    res = snakemake("-n", "-p", "--cores", "2", "zoo", "--directory", str(tmp_path / "run"), "--configfile",
                    str(CONFIGS / config))
    assert res.returncode == 0, res.stderr[-3000:]
    # the Makefile's zoo-<name> copies from results/zoo-<name>/: the experiment's folder
    assert yaml.safe_load((CONFIGS / config).read_text())["experiment"] == f"zoo{tag}"
    out = res.stdout + res.stderr
    names = sorted(f"mini{tag}-{b}-seed{s}" for b in BACKBONES for s in seeds)
    planned = sorted(line.rsplit("/", 1)[-1].removesuffix(".json") for line in out.split()
                     if line.endswith(".json") and "/zoo/mini/" in line and "dirname" not in line)
    assert sorted(set(planned)) == names, out[-3000:]
    assert all(f"--dataset mini{tag} " in line for line in out.splitlines() if "lmar zoo-entry" in line)
    tagged = tuple(f"mini-{t}" for t in TAGS.values() if t)
    shipped = sorted(n for n in records() if n.startswith(f"mini{tag}-") and (tag or not n.startswith(tagged)))
    assert shipped == names
