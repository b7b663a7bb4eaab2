"""The experiment grid: `only:` narrows a resampler's share, `extends:` lets configs share one grid,
and tables compare like with like when resamplers ran with different seeds."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from helpers import ROOT, snakemake

from lmar.core.errors import LmarError
from lmar.report.overview import markdown_table
from lmar.run.config import apply_extends, check_parts, grid

CONFIGS = ROOT / "workflow" / "configs"


def run(**resamplers) -> dict:
    return {"seeds": [0, 1, 2], "datasets": {"mini": {"type": "mini"}},
            "backbones": {"unet": {"type": "unet_lite"}, "naf": {"type": "nafnet", "params": {"width": 8}}},
            "resamplers": resamplers}


def test_only_narrows_a_resampler_to_the_named_backbones_and_seeds():
    cfg = run(bicubic={"type": "bicubic"}, ablation={"type": "area", "only": {"backbones": ["unet"], "seeds": [0]}})
    check_parts(cfg)
    cells = grid(cfg)
    # written out by hand: bicubic on 2 backbones x 3 seeds, the ablation once
    assert sorted(cells) == sorted([("mini", b, s, "bicubic") for b in ("unet", "naf") for s in (0, 1, 2)]
                                   + [("mini", "unet", 0, "ablation")])


@pytest.mark.parametrize("only, words", [
    ({"backbones": ["vgg"]}, r"config key resamplers.x.only.backbones: \['vgg'\] not in this run's backbones \(unet, naf\)"),
    ({"seeds": [7]}, r"config key resamplers.x.only.seeds: \[7\] not in this run's seeds \(0, 1, 2\)"),
    ({"scales": [2]}, "config key resamplers.x.only: unknown key 'scales'"),
])
def test_only_naming_what_the_run_lacks_is_refused(only, words):
    with pytest.raises(LmarError, match=words):
        check_parts(run(x={"type": "area", "only": only}))


def test_only_is_for_resamplers():
    cfg = run(x={"type": "area"})
    cfg["backbones"]["unet"]["only"] = {"seeds": [0]}
    with pytest.raises(LmarError, match="config key backbones.unet.only: only resamplers can be restricted"):
        check_parts(cfg)


def write(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    return path


def test_extends_merges_mappings_and_replaces_other_values(tmp_path):
    write(tmp_path / "grids" / "root.yaml", {"seed": 1, "evaluation": {"scales": [2, 3], "upsampler": "bicubic"}})
    write(tmp_path / "grids" / "base.yaml", {"extends": "root.yaml", "resamplers": {"a": {"type": "area"}},
                                             "evaluation": {"metrics": ["psnr"]}})
    child = write(tmp_path / "exp" / "one.yaml", {"extends": "../grids/base.yaml", "experiment": "one",
                                                   "resamplers": {"b": {"type": "bicubic"}},
                                                   "evaluation": {"scales": [4]}})
    merged = apply_extends(yaml.safe_load(child.read_text()), [child])
    assert merged == {"experiment": "one", "seed": 1, "resamplers": {"a": {"type": "area"}, "b": {"type": "bicubic"}},
                      "evaluation": {"scales": [4], "upsampler": "bicubic", "metrics": ["psnr"]}}


@pytest.mark.parametrize("files, words", [
    ({"a.yaml": {"extends": "missing.yaml"}}, "config key extends .'missing.yaml'.: cannot read .*missing.yaml"),
    ({"a.yaml": {"extends": "b.yaml"}, "b.yaml": {"extends": "a.yaml"}}, "extend each other in a cycle"),
    ({"a.yaml": {"extends": "b.yaml"}, "b.yaml": [1, 2]}, "b.yaml must hold a mapping of config keys"),
])
def test_bad_extends_is_refused_naming_the_file(tmp_path, files, words):
    for name, data in files.items():
        write(tmp_path / name, data)
    with pytest.raises(LmarError, match=words):
        apply_extends(yaml.safe_load((tmp_path / "a.yaml").read_text()), [tmp_path / "a.yaml"])


def test_the_paper_configs_share_one_grid_and_differ_only_in_name_and_dataset():
    resolved = {}
    for name in ("uhd_ll", "uhd_lol4k"):
        path = CONFIGS / f"{name}.yaml"
        raw = yaml.safe_load(path.read_text())
        assert set(raw) == {"extends", "experiment", "datasets"}  # no copy of the grid
        resolved[name] = apply_extends(raw, [path])
    ll, lol = resolved["uhd_ll"], resolved["uhd_lol4k"]
    assert {k: v for k, v in ll.items() if k not in ("experiment", "datasets")} == \
           {k: v for k, v in lol.items() if k not in ("experiment", "datasets")}
    assert set(ll["backbones"]) == {"unet", "nafnet"}
    assert {"lmar", "learned_resizer", "bicubic", "lanczos3", "area", "full_resolution"} <= set(ll["resamplers"])
    check_parts(ll)


def rows(resampler, seeds, psnr_by_seed):
    return [{"dataset": "d", "backbone": "b", "resampler": resampler, "target": "x2", "scale": 2.0, "image": im,
             "seed": s, "psnr": psnr_by_seed[s] + k, "ssim": 0.5} for s in seeds for k, im in enumerate(("i1", "i2"))]


def test_resamplers_run_with_fewer_seeds_get_their_own_paired_table():
    df = pd.DataFrame(rows("lmar", [0, 1, 2], {0: 30.0, 1: 31.0, 2: 32.0})
                      + rows("bicubic", [0, 1, 2], {0: 29.0, 1: 29.0, 2: 29.0})
                      + rows("no-kernel", [0], {0: 29.5}))
    text = markdown_table(df, gain=("lmar", "bicubic"))
    over_all, seed0 = text.split("### ")[1:]
    # over all seeds: lmar (30.5, 31.5, 32.5 per seed -> 31.5), bicubic 29.5; the one-seed entry is absent
    assert "mean over 2 test images x 3 seeds (0, 1, 2)" in over_all
    assert "| lmar | 31.50 / 0.5000 |" in over_all and "no-kernel" not in over_all
    # the gain +1, +2, +3 by seed: the bootstrap's interval is [+1, +3] (all three seeds drawn as seed 0 has
    # chance 1/27 > 2.5%); with 3 seeds it covers Student's t over them: 2 +- 4.3027 x 1 / sqrt(3) = [-0.48,
    # +4.48], within noise (a gain that one lucky seed could carry); SSIM 0.5 for both: 0, within noise
    assert "| **lmar - bicubic** | +2.00 [-0.48, +4.48] within noise / +0.0000 [+0.0000, +0.0000] within noise |" in over_all
    # seed 0 alone: every resampler that ran with it, lmar at seed 0 only (30.5), so the comparison is paired
    assert "mean over 2 test images, seed 0" in seed0
    assert "| lmar | 30.50 / 0.5000 |" in seed0 and "| no-kernel | 30.00 / 0.5000 |" in seed0
    assert "| **lmar - bicubic** | +1.00 [+1.00, +1.00] † / +0.0000 [+0.0000, +0.0000] within noise |" in seed0


@pytest.mark.slow
@pytest.mark.parametrize("name", ["uhd_ll", "uhd_lol4k"])
def test_each_paper_config_plans_its_grid_once(tmp_path, name):
    res = snakemake("-n", "--cores", "1", "all", "--directory", str(tmp_path),
                    "--configfile", str(CONFIGS / f"{name}.yaml"))
    assert res.returncode == 0, res.stderr[-2000:]
    counts = {p[0]: int(p[1]) for p in (ln.split() for ln in res.stdout.splitlines()) if len(p) == 2 and p[1].isdigit()}
    # 2 backbones pretrained once each; lmar and the learned resizer trained once per backbone;
    # 6 resamplers x 2 backbones evaluated (all sizes in each job); one table and one plot
    assert {k: counts[k] for k in ("download_dataset", "prepare_data", "pretrain_backbone", "train_resampler",
                                   "evaluate", "table", "plot")} == {
        "download_dataset": 1, "prepare_data": 1, "pretrain_backbone": 2, "train_resampler": 4, "evaluate": 12,
        "table": 1, "plot": 1}
