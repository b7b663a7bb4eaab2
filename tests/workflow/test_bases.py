"""Ablations as config entries: ``base: <entry>`` plus the keys that change."""

from __future__ import annotations

import pytest

from helpers import ROOT, plan, snakemake

from lmar.core.errors import LmarError
from lmar.run.config import check_parts, resolve_bases

LMAR = {"type": "lmar", "params": {"hidden": 16, "depth": 2}, "train": {"epochs": 1, "crop": 32, "target_min": 8,
                                                                        "target_max": 32}}


def config(**resamplers) -> dict:
    return {"datasets": {"mini": {"type": "mini"}}, "backbones": {"unet": {"type": "unet_lite"}},
            "resamplers": {"lmar": LMAR, **resamplers}}


def test_a_derived_entry_is_its_base_with_the_given_keys_changed():
    cfg = resolve_bases(config(narrow={"base": "lmar", "params": {"hidden": 8}},
                               fixed={"base": "narrow", "train": {"epochs": 2}},
                               r_bicubic={"base": "lmar", "params": {"interpolation": "bicubic"}, "train": {}}))
    r = cfg["resamplers"]
    assert r["narrow"] == {"type": "lmar", "params": {"hidden": 8, "depth": 2}, "train": LMAR["train"]}
    assert r["fixed"] == {"type": "lmar", "params": {"hidden": 8, "depth": 2}, "train": {**LMAR["train"], "epochs": 2}}
    assert r["r_bicubic"]["params"] == {"hidden": 16, "depth": 2, "interpolation": "bicubic"}
    assert r["lmar"] == LMAR  # the base itself is unchanged
    check_parts(cfg)


@pytest.mark.parametrize("entries, words", [
    ({"x": {"base": "nope"}}, "config key resamplers.x.base: no entry 'nope' in resamplers"),
    ({"x": {"base": "y"}, "y": {"base": "x"}}, "the bases form a cycle: x -> y -> x"),
    ({"x": {"base": "x"}}, "the bases form a cycle: x -> x"),
])
def test_unknown_or_cyclic_bases_are_refused(entries, words):
    with pytest.raises(LmarError, match=words):
        resolve_bases(config(**entries))


def test_an_override_naming_an_unknown_key_is_refused():
    with pytest.raises(LmarError, match="config key resamplers.x.params: unknown key 'hiden'"):
        check_parts(resolve_bases(config(x={"base": "lmar", "params": {"hiden": 8}})))


@pytest.mark.slow
def test_an_ablation_entry_plans_one_more_training(tmp_path):
    rc, out = plan(tmp_path, lambda c: c["resamplers"].update(narrow={"base": "lmar", "params": {"hidden": 8}}))
    assert rc == 0, out
    counts = {p[0]: int(p[1]) for p in (ln.split() for ln in out.splitlines()) if len(p) == 2 and p[1].isdigit()}
    assert counts["train_resampler"] == 2 and counts["evaluate"] == 4
    assert counts["plot_ablation"] == 1  # a variant of lmar beside lmar: the ablation figure


@pytest.mark.slow
def test_the_ablation_config_plans_one_training_per_ablation(tmp_path):
    res = snakemake("-n", "-p", "--cores", "1", "all", "--directory", str(tmp_path),
                    "--configfile", str(ROOT / "workflow" / "configs" / "ablations.yaml"))
    assert res.returncode == 0, res.stderr[-2000:]
    counts = {p[0]: int(p[1]) for p in (ln.split() for ln in res.stdout.splitlines()) if len(p) == 2 and p[1].isdigit()}
    # 2 backbones x 3 seeds pretrained; lmar on each (6), the learned resizer at seed 0 (2), the 10
    # ablations on one backbone and seed (10); evaluated: lanczos3, bicubic, area, lmar and
    # full_resolution on 6 (30), plus the 2 + 10 one-seed entries
    assert counts["pretrain_backbone"] == 6 and counts["train_resampler"] == 18 and counts["evaluate"] == 42
    # its ten variants of lmar get the ablation figure (the tiny config's single lmar does not: below)
    assert counts["plot_ablation"] == 1 and "plot-ablation results/ablations/results.parquet" in res.stdout
    # the 6 backbones all come from the zoo (it holds seeds 0, 1 and 2): none trains here
    pretrain = [ln for ln in (res.stdout + res.stderr).splitlines() if "lmar pretrain-backbone" in ln]
    copied = sorted(ln.split("--from-zoo ")[1].split()[0].rsplit("/", 1)[-1] for ln in pretrain if "--from-zoo" in ln)
    assert len(pretrain) == 6, pretrain
    assert copied == [f"mini-{b}-seed{s}.pt" for b in ("nafnet", "unet") for s in (0, 1, 2)], pretrain


@pytest.mark.slow
def test_seeds_multiply_trainings_and_evaluations_but_nothing_twice(tmp_path):
    rc, out = plan(tmp_path, lambda c: c.update(seeds=[0, 1, 2]))
    assert rc == 0, out
    counts = {p[0]: int(p[1]) for p in (ln.split() for ln in out.splitlines()) if len(p) == 2 and p[1].isdigit()}
    # tiny: 1 dataset x 1 backbone, resamplers bicubic, lmar (trained), full_resolution
    assert counts["prepare_data"] == 1 and counts["pretrain_backbone"] == 3 and counts["train_resampler"] == 3
    assert "plot_ablation" not in counts  # one trainable resampler of each type: no variants to draw
    assert counts["evaluate"] == 3 * 3
