"""Shared fixtures: a tiny mini dataset, a tiny pretrained backbone and a tiny trained LMAR.

Everything runs on CPU with very small schedules; session-scoped fixtures are built once.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

CPU = torch.device("cpu")
DATA_SIZE = (48, 72)  # (H, W) of the session's mini dataset
# MiniDataset's default test split
TEST_NAMES = ["astronaut", "chelsea", "coffee", "grace_hopper", "hubble_deep_field", "rocket"]
N_TEST, N_TRAIN = len(TEST_NAMES), 5  # its pairs (one view of each photograph)

BACKBONE_SPEC = {
    "type": "unet_lite",
    "params": {"width": 8},
    "train": {"epochs": 1, "batch_size": 2, "size": [24, 36]},
}
LMAR_PARAMS = {"hidden": 16, "depth": 2}
LMAR_SPEC = {
    "type": "lmar",
    "params": LMAR_PARAMS,
    "train": {"epochs": 1, "crop": 32, "target_min": 8, "target_max": 32, "repeats": 1, "resize_loss": "l1"},
}
LABELS = {"dataset": "mini", "backbone": "unet", "resampler": "lmar", "config_hash": "abc123", "seed": 0}


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """The CLI's --threads (runtime.setup) changes a process-wide setting: put it back."""
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.fixture
def empty_torch_home(tmp_path, monkeypatch):
    """TORCH_HOME (and the hub dir) point at an empty folder: no pretrained weights anywhere."""
    home = tmp_path / "torch_home"
    home.mkdir()
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)  # restored after the test
    torch.hub.set_dir(str(home / "hub"))
    return home


@pytest.fixture(scope="session")
def mini_data(tmp_path_factory) -> Path:
    """The embedded mini dataset at 48x72: 5 train and 6 test pairs. Read-only: copy it to modify."""
    from lmar.data.mini import MiniDataset

    root = tmp_path_factory.mktemp("mini") / "data"
    MiniDataset(size=DATA_SIZE).prepare(root)
    return root


@pytest.fixture
def data_copy(mini_data, tmp_path) -> Path:
    """A private, writable copy of the mini dataset."""
    dst = tmp_path / "data"
    shutil.copytree(mini_data, dst)
    return dst


@pytest.fixture(scope="session")
def backbone_ckpt(mini_data, tmp_path_factory) -> Path:
    from lmar.run.train import pretrain_backbone

    out = tmp_path_factory.mktemp("backbone") / "unet.pt"
    torch.manual_seed(0)
    pretrain_backbone(mini_data, BACKBONE_SPEC, out, CPU, seed=0, name="unet")
    return out


@pytest.fixture(scope="session")
def lmar_ckpt(mini_data, backbone_ckpt, tmp_path_factory) -> Path:
    from lmar.run.train import train_resampler

    out = tmp_path_factory.mktemp("lmar") / "lmar.pt"
    torch.manual_seed(0)
    train_resampler(mini_data, backbone_ckpt, LMAR_SPEC, out, CPU, seed=0, name="lmar")
    return out


@pytest.fixture(scope="session")
def frozen_backbone(backbone_ckpt):
    from lmar.run.checkpoint import load_backbone

    net, _ = load_backbone(backbone_ckpt, CPU)
    return net


@pytest.fixture(scope="session")
def lmar_eval(mini_data, backbone_ckpt, lmar_ckpt, tmp_path_factory):
    """LMAR evaluated at x2 and x3 on the test split: (DataFrame, csv path, images dir)."""
    from lmar.run.evaluate import evaluate

    out = tmp_path_factory.mktemp("eval")
    csv, images = out / "lmar.csv", out / "images"
    df = evaluate(mini_data, backbone_ckpt, {"type": "lmar", "params": LMAR_PARAMS}, lmar_ckpt,
                  {"scales": [2, 3], "upsampler": "bicubic", "metrics": ["psnr", "ssim"], "save_outputs": "all"},
                  csv, images, CPU, dict(LABELS))
    return df, csv, images


@pytest.fixture
def make_module(tmp_path, monkeypatch):
    """``make_module(name, code)``: an importable module written in the test's folder (forgotten after)."""
    import sys

    made = []

    def make(name: str, code: str) -> str:
        (tmp_path / f"{name}.py").write_text(code)
        monkeypatch.syspath_prepend(str(tmp_path))
        monkeypatch.delitem(sys.modules, name, raising=False)
        made.append(name)
        return name

    yield make
    for name in made:
        sys.modules.pop(name, None)


def write_rgb(path: Path, h: int, w: int, seed: int = 0) -> Path:
    """A random RGB PNG of (h, w)."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
    return path


def load_png(path: Path) -> np.ndarray:
    """(H, W, 3) float64 in [0, 1]."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float64) / 255.0


def entries(folder: Path) -> list[str]:
    """Every name under ``folder`` (recursively), relative, sorted: to show nothing was left behind."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def run_cli(capsys, *argv) -> tuple[int, str]:
    """``lmar`` run in this process: (exit status, what it wrote to stderr)."""
    from lmar.cli import main

    capsys.readouterr()
    rc = main([str(a) for a in argv])
    return rc, capsys.readouterr().err


def one_error(rc: int, err: str) -> str:
    """The single ``error:`` line of a refused command (exit 2, no traceback)."""
    assert rc == 2, err
    lines = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def planted_checkpoint(src: Path, dst: Path, spec: dict) -> Path:
    """A copy of a real checkpoint whose spec is replaced by ``spec``."""
    ckpt = torch.load(src, map_location="cpu", weights_only=True)
    ckpt["spec"] = spec
    torch.save(ckpt, dst)
    return dst


def kill_resampler_loss_at(monkeypatch, resampler_type: str, call: int) -> None:
    """Make the training loss of registered resampler ``resampler_type`` raise RuntimeError("killed
    midway") on its ``call``-th call: a job killed midway, for the resume tests."""
    from lmar.core.registry import RESAMPLERS

    cls = RESAMPLERS.get(resampler_type)
    real = cls.make_loss

    def make_loss(self, backbone, cfg, device):
        loss_fn, info = real(self, backbone, cfg, device)
        calls = []

        def failing(x, gt, size, epoch):
            calls.append(1)
            if len(calls) == call:
                raise RuntimeError("killed midway")
            return loss_fn(x, gt, size, epoch)

        return failing, info

    monkeypatch.setattr(cls, "make_loss", make_loss)
