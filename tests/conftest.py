"""Shared fixtures: a tiny mini dataset, a tiny pretrained backbone and a tiny trained LMAR.

Everything runs on CPU with very small schedules; session-scoped fixtures are built once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from helpers import BACKBONE_SPEC, CPU, DATA_SIZE, LABELS, LMAR_PARAMS, LMAR_SPEC


def _fast_failing_slurm_conf(folder: Path) -> Path | None:
    """Where SLURM's client is configured but its controller is down: a copy of its slurm.conf with
    MessageTimeout=1, written in ``folder``. None with a controller up, no SLURM, or a file or client
    that does not answer (SLURM is then left as it is)."""
    conf = Path(os.environ.get("SLURM_CONF", "/etc/slurm/slurm.conf"))
    if shutil.which("scontrol") is None or not conf.is_file():
        return None
    fast = folder / "slurm.conf"
    try:
        fast.write_text(conf.read_text() + "\nMessageTimeout=1\n")
        ping = subprocess.run(["scontrol", "ping"], env={**os.environ, "SLURM_CONF": str(fast)},
                              capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    return fast if "DOWN" in ping else None


@pytest.fixture(scope="session", autouse=True)
def _slurm_client_without_a_controller_fails_fast(tmp_path_factory):
    """Where SLURM's client is configured but its controller is down, each SLURM query fails at once.

    Snakemake imports every executor plugin it has at start, and the SLURM plugin's import asks
    `scontrol show config` (its own 10 s limit); a client whose controller does not answer retries for
    MessageTimeout (default 10 s), so every `snakemake` the tests start would wait 9 s for nothing. With
    the controller down, the session's SLURM_CONF is the same file with MessageTimeout=1 (scontrol then
    fails at once, as the plugin already allows for); with a controller up, or no SLURM, nothing changes.
    """
    fast = _fast_failing_slurm_conf(tmp_path_factory.mktemp("slurm"))
    with pytest.MonkeyPatch.context() as patch:
        if fast is not None:
            patch.setenv("SLURM_CONF", str(fast))
        yield


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


