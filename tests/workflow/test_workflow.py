"""The Snakemake DAG: lint, planning, config validation, and a tiny run end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from helpers import ROOT, real_lpips, snakemake, write_config


def test_lint_passes():
    res = snakemake("--lint")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Congratulations" in res.stdout + res.stderr


def test_default_config_plans_every_step(tmp_path):
    res = snakemake("-n", "-p", "--cores", "8", "all", "--directory", str(tmp_path),
                    "--configfile", str(ROOT / "config.yaml"))
    assert res.returncode == 0, res.stderr
    out = res.stdout + res.stderr
    # the training curves' panels in the tables' order (config order: unet before nafnet, learned_resizer
    # before lmar), not by name
    (command,) = [line for line in out.splitlines() if "-m lmar plot-curves" in line]
    panels = [p.split("/seed0/")[0].split("/")[-1] + "/" + p.split("/seed0/")[1].split(".curve")[0]
              for p in command.split() if p.endswith(".curve.csv")]
    assert panels == ["unet/backbone", "unet/resampler_learned_resizer", "unet/resampler_lmar",
                      "nafnet/backbone", "nafnet/resampler_learned_resizer", "nafnet/resampler_lmar"]
    # the job costs in the order the jobs depend on each other, each step's in config order
    (command,) = [line for line in out.splitlines() if "-m lmar record --benchmarks" in line]
    jobs = [p.split("/mini-default/")[1].removesuffix(".tsv") for p in command.split() if p.endswith(".tsv")]
    resamplers = ["lanczos3", "bicubic", "area", "learned_resizer", "lmar", "full_resolution"]
    assert jobs == (["pretrain_backbone/mini/unet/seed0", "pretrain_backbone/mini/nafnet/seed0"]
                    + [f"train_resampler/mini/{b}/seed0/{r}" for b in ("unet", "nafnet")
                       for r in ("learned_resizer", "lmar")]
                    + [f"evaluate/mini/{b}/seed0/{r}" for b in ("unet", "nafnet") for r in resamplers])
    counts = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    assert counts["prepare_data"] == 1
    assert counts["pretrain_backbone"] == 2  # unet and nafnet
    assert counts["train_resampler"] == 2 * 2  # lmar and the learned resizer per backbone; the rest do not train
    assert counts["evaluate"] == 2 * 6  # lanczos3, bicubic, area, learned_resizer, lmar, full_resolution
    assert counts["table"] == 1 and counts["plot"] == 1


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"resamplers.bicubic.type": "bicubicc"}, "resamplers.bicubic.type"),
        ({"backbones.unet.type": "no_such_net"}, "backbones.unet.type"),
        ({"evaluation.scales": [0]}, "scales"),
        ({"evaluation.scales": ["abc"]}, "scales"),
    ],
)
def test_bad_config_stops_before_running(tmp_path, change, expected):
    cfg = write_config(tmp_path, **change)
    res = snakemake("-n", "--cores", "1", "all", "--directory", str(tmp_path), "--configfile", str(cfg))
    assert res.returncode != 0
    assert expected in res.stdout + res.stderr
    assert not (tmp_path / "results").exists()


def make_uhdll_copy(root: Path, n_train: int = 3, n_test: int = 2) -> Path:
    """Random images in UHD-LL's published layout {training_set,testing_set}/{input,gt}."""
    rng = np.random.default_rng(0)
    for split, n in (("training_set", n_train), ("testing_set", n_test)):
        for i in range(n):
            gt = rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)
            for sub, img in (("gt", gt), ("input", (gt // 4).astype(np.uint8))):
                (root / split / sub).mkdir(parents=True, exist_ok=True)
                Image.fromarray(img).save(root / split / sub / f"{i}_UHD_LL.png")
    return root


@pytest.mark.slow
def test_tiny_workflow_end_to_end(tmp_path):
    """The embedded dataset and a published-layout dataset named by local_path, through every step."""
    local = make_uhdll_copy(tmp_path / "my-UHD-LL")
    cfg = write_config(tmp_path, **{"datasets.local": {
        "type": "uhd_ll", "params": {"local_path": str(local), "expected": {"train": 3, "test": 2}}}})
    res = snakemake("--cores", "2", "all", "--directory", str(tmp_path), "--configfile", str(cfg), timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    out = tmp_path / "results" / "tiny"
    table = (out / "table.md").read_text()
    assert "| **lmar - bicubic** |" in table and "| x2 | x3 |" in table
    assert "Nothing was left out." in (out / "left_out.md").read_text() and "Left out" not in table
    assert "### local / unet" in table and "### mini / unet" in table
    df = pd.read_parquet(out / "results.parquet")
    assert set(df["resampler"]) == {"bicubic", "lmar", "full_resolution"}
    # per dataset: 2 test images x (2 scales x 2 resamplers + full resolution)
    assert (df.groupby("dataset").size() == 2 * 5).all() and set(df["dataset"]) == {"mini", "local"}
    (prepared,) = (tmp_path / "resources" / "data" / "local").iterdir()  # resources/data/<name>/<key>
    assert (prepared / "test" / "gt").resolve() == (local / "testing_set" / "gt")
    report = snakemake("--report", str(tmp_path / "report.html"), "--directory", str(tmp_path), "--configfile", str(cfg))
    assert report.returncode == 0, report.stderr[-2000:]
    html = (tmp_path / "report.html").read_text(errors="replace")
    for shown in ("psnr_vs_scale.png", "table.md", "config.resolved.yaml", "environment.txt", "job_costs.md"):
        assert shown in html, shown
    assert "paired difference to the" in html  # a caption (workflow/report/plot.rst)
    costs = pd.read_csv(out / "job_costs.csv")
    assert set(costs["step"]) == {"pretrain_backbone", "train_resampler", "evaluate"} and len(costs) == 2 + 2 + 2 * 3
    for col in ("dataset", "backbone", "scale", "target_h", "target_w", "image", "psnr", "ssim",
                "seed", "config_hash", "code_version", "device"):
        assert df[col].notna().all(), col
    assert set(df.loc[df.resampler == "lmar", "resize_loss"]) == {"l1"}
    # every part's parameters in columns of their own (values from tests/workflow/tiny_workflow.yaml)
    assert set(df["backbone.width"]) == {8} and set(df["backbone.train.epochs"]) == {2}
    assert set(df.loc[df.resampler == "lmar", "resampler.hidden"]) == {16}
    assert pd.read_csv(out / "results.csv").shape == df.shape
    # the budget of every trained part, from the recipes as run (defaults filled in), under the table
    assert "Training budget of backbone unet: epochs 2, batch_size 2, size [24, 36], amp False" in table
    assert "Training budget of resampler lmar: epochs 1, repeats 1, crop 32, amp False" in table
    assert (out / "psnr_vs_scale.png").stat().st_size > 0
    for job in ("pretrain_backbone/mini/unet/seed0", "train_resampler/mini/unet/seed0/lmar",
                "evaluate/mini/unet/seed0/lmar"):
        assert (tmp_path / "logs" / "tiny" / f"{job}.log").stat().st_size > 0


@pytest.mark.slow
def test_a_metric_subset_with_lpips_missing_runs_through(tmp_path, monkeypatch):
    """metrics [psnr, lpips] with no LPIPS weights here (not required): no SSIM anywhere, LPIPS said
    missing with its reason, the PSNR tables and the figures made, Snakemake's exit status 0, and
    `lmar left-out` (make run's last step) exit status 3."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no_weights"))
    cfg = write_config(tmp_path, **{"evaluation.metrics": ["psnr", "lpips"], "evaluation.required_metrics": ["psnr"],
                                    "weights": {"dir": str(tmp_path / "no_weights")}})
    res = snakemake("--cores", "2", "all", "--directory", str(tmp_path), "--configfile", str(cfg), timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    out = tmp_path / "results" / "tiny"
    df = pd.read_parquet(out / "results.parquet")
    assert "ssim" not in df and df["lpips"].isna().all() and df["psnr"].notna().all()
    table = (out / "table.md").read_text()
    assert "PSNR (dB) ↑" in table and "SSIM" not in table and "## Overview" not in table
    assert "**Left out:** LPIPS not computed for 10 of 10 rows (resamplers bicubic, full_resolution, lmar): " in table
    check = subprocess.run([sys.executable, "-m", "lmar", "left-out", str(out / "left_out.md")],
                           capture_output=True, text=True)
    assert check.returncode == 3 and "left out: LPIPS not computed for 10 of 10 rows" in check.stderr
    lpips_block = table.split("LPIPS ↓")[1].split("###")[0]
    assert "| n/a" in lpips_block and "**" not in lpips_block  # nothing ranked on a metric never computed
    assert (out / "crops.png").stat().st_size > 0 and (out / "gain_heatmap.pdf").stat().st_size > 0


# Loaded at every Python start of the workflow below (sitecustomize on PYTHONPATH): the expected
# sha256 of AlexNet becomes the stand-in's own, as the unit tests do with monkeypatch. Nothing else
# changes: the evaluation jobs still check the hash and load with weights_only=True.
_ACCEPT_STAND_IN = """import os
if os.environ.get("STAND_IN_ALEXNET_SHA256"):
    from lmar.parts import weights
    weights.EXPECTED_SHA256["alexnet"] = os.environ["STAND_IN_ALEXNET_SHA256"]
"""


@pytest.mark.slow
def test_lpips_with_stand_in_weights_runs_through(tmp_path, monkeypatch):
    """metrics [psnr, lpips], both required, with a stand-in AlexNet (random weights) and the lpips
    package's real linear layers in the config's weights folder: every row has LPIPS, equal to pyiqa's
    own loading of the same files on a saved output, and the table ranks it."""
    import pyiqa
    import torch
    import torchvision

    from lmar.core.hashing import sha256_hex
    from lmar.data.images import read_image
    from lmar.parts.weights import weight_path

    home = tmp_path / "weights"
    alex = weight_path("alexnet", home)
    alex.parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), alex)
    lin = real_lpips(home)
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(_ACCEPT_STAND_IN)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(shim), str(ROOT)]))
    monkeypatch.setenv("STAND_IN_ALEXNET_SHA256", sha256_hex(alex))
    monkeypatch.setenv("TORCH_HOME", str(home))
    cfg = write_config(tmp_path, **{"evaluation.metrics": ["psnr", "lpips"], "evaluation.scales": [2],
                                    "evaluation.required_metrics": ["psnr", "lpips"], "weights": {"dir": str(home)}})
    res = snakemake("--cores", "2", "all", "--directory", str(tmp_path), "--configfile", str(cfg), timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    out = tmp_path / "results" / "tiny"
    df = pd.read_parquet(out / "results.parquet")
    assert df["lpips"].notna().all() and (df["lpips"] > 0).all() and "ssim" not in df
    table = (out / "table.md").read_text()
    assert "LPIPS not computed" not in table and "Nothing was left out." in (out / "left_out.md").read_text()
    lpips_block = table.split("LPIPS ↓")[1].split("###")[0]
    assert "**" in lpips_block and "n/a" not in lpips_block  # ranked: lower is better

    # pyiqa's normal loading, allowed here only because both files are known stand-ins
    theirs = pyiqa.create_metric("lpips", device="cpu", as_loss=False, pretrained_model_path=str(lin),
                                 pretrained=True)
    row = df[(df.resampler == "bicubic") & (df.image == "coffee")].iloc[0]
    saved = read_image(out / "outputs/mini/unet/seed0/bicubic" / row.target / "coffee.png")
    (gt_file,) = (tmp_path / "resources/data/mini").glob("*/test/gt/coffee.png")  # resources/data/<name>/<key>
    gt = read_image(gt_file)
    with torch.no_grad():
        expected = float(theirs(saved[None], gt[None]))
    assert row.lpips == pytest.approx(expected, abs=1e-5)
