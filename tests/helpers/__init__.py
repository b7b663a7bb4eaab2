"""What the tests share besides fixtures (``conftest.py`` holds those): where the project is, the
tiny specs the session's models are trained with, images written and read, the CLI and Snakemake run
from a test, synthetic table rows and stand-in weight files.

Test modules import shared code from here only, never from ``conftest`` or from one another
(``tests/project/test_tests_layout.py`` checks).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

# only what conftest.py needs is imported here at the top (numpy, torch, PIL): the GPU machine runs the
# fused-kernel tests with little else installed; OpenCV and PyYAML are imported where used

ROOT = Path(__file__).resolve().parents[2]  # the project
TINY = ROOT / "tests" / "workflow" / "tiny_workflow.yaml"  # the smallest config a workflow test runs
# the authors' released models and reference outputs, where this checkout has them (tests skip without);
# LMAR_TEST_AUTHORS names another folder (the GPU call carries a copy: workflow/scripts/gpu_prepare.sh)
AUTHORS = Path(os.environ.get("LMAR_TEST_AUTHORS") or ROOT.parent / "shared" / "authors")
SNAKEMAKE = shutil.which("snakemake", path=str(Path(sys.executable).parent)) or "snakemake"

# the session's tiny models and data (conftest.py's fixtures build them)
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


# the lock
def lock_pins() -> dict[str, str]:
    """requirements.lock as {name: version}, names lower-case with '-' for '_'; every line pinned with ==."""
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"requirements.lock: {line!r} is not pinned with =="
            pins[name.lower().replace("_", "-")] = version
    return pins


# images
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


def to_16bit(path):
    """Rewrite an 8-bit RGB PNG as the 16-bit PNG of the same values (v * 257 = v / 255 * 65535)."""
    import cv2

    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"), dtype=np.uint16) * 257
    cv2.imwrite(str(path), arr[..., ::-1])


def entries(folder: Path) -> list[str]:
    """Every name under ``folder`` (recursively), relative, sorted: to show nothing was left behind."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# the CLI, in this process
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


# checkpoints and training
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


def run_interpreted(script: str, timeout: float, **env: str) -> dict:
    """Run the test module ``script`` as a program under Triton's CPU interpreter (``TRITON_INTERPRET=1``,
    which must be set before Triton is imported: hence a process of its own), with ``env`` added; the
    JSON object its last line of output prints."""
    paths = [str(ROOT), str(ROOT / "tests"), os.environ.get("PYTHONPATH")]
    full = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=os.pathsep.join(filter(None, paths)), **env)
    proc = subprocess.run([sys.executable, script], cwd=ROOT, env=full, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert proc.returncode == 0, f"interpreter worker failed:\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


# Snakemake, in a subprocess
def snakemake(*args: str, cwd: Path = ROOT, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        [SNAKEMAKE, "-s", str(ROOT / "Snakefile"), *args], cwd=cwd, env=env, capture_output=True, text=True,
        check=kw.pop("check", False), **kw,  # callers read returncode
    )


def dry_run_jobs(stdout: str) -> list[tuple[str, str, dict]]:
    """``(rule, wildcards, resources)`` of each job in a dry run's output (``snakemake -n``)."""
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule )", stdout):
        m = re.match(r"(?:local)?rule (\w+):", block)
        if m:
            w, r = re.search(r"wildcards: (.*)", block), re.search(r"resources: (.*)", block)
            resources = dict(kv.split("=", 1) for kv in r.group(1).split(", ")) if r else {}
            jobs.append((m.group(1), w.group(1) if w else "", resources))
    return jobs


def tiny_config(tmp_path: Path, change) -> Path:
    """``tmp_path/config.yaml``: the tiny workflow config (:data:`TINY`) after ``change(cfg)``."""
    import yaml

    cfg = yaml.safe_load(TINY.read_text())
    change(cfg)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def write_config(tmp_path: Path, **changes) -> Path:
    """The tiny config with each dotted key of ``changes`` (``"evaluation.scales"``) set to its value."""
    def change(cfg):
        for dotted, value in changes.items():
            node = cfg
            *parents, last = dotted.split(".")
            for key in parents:
                node = node[key]
            node[last] = value

    return tiny_config(tmp_path, change)


def plan(tmp_path: Path, change) -> tuple[int, str]:
    """Plan (``snakemake -n``) the tiny config after ``change(cfg)``: exit status and output."""
    path = tiny_config(tmp_path, change)
    res = snakemake("-n", "--cores", "1", "all", "--directory", str(tmp_path / "run"), "--configfile", str(path))
    return res.returncode, res.stdout + res.stderr


# rows of a results table: (resampler, target, scale) -> per-image (psnr, ssim) for images a and b
RESULT_VALUES = {
    ("bicubic", "x2", 2.0): [(20.0, 0.80), (22.0, 0.82)],
    ("bicubic", "x3", 3.0): [(19.0, 0.70), (19.0, 0.70)],
    ("lmar", "x2", 2.0): [(22.0, 0.84), (23.0, 0.84)],
    ("lmar", "x3", 3.0): [(18.0, 0.69), (18.5, 0.69)],
    ("full_resolution", "full", 1.0): [(30.0, 0.95), (31.0, 0.97)],
}


def result_rows(resampler, backbone="unet", dataset="mini", only=None):
    out = []
    for (name, target, scale), vals in RESULT_VALUES.items():
        if name != (only or resampler):
            continue
        for image, (psnr, ssim) in zip("ab", vals):
            out.append({"dataset": dataset, "backbone": backbone, "resampler": resampler, "target": target,
                        "scale": scale, "target_h": 10, "target_w": 10, "image": image, "psnr": psnr, "ssim": ssim,
                        "code_version": "abc1234", "device": "cpu:test", "seed": 0,
                        "resize_loss": "l1" if resampler == "lmar" else ""})
    return out


# stand-ins for weight files that cannot be downloaded here
def stand_in_alexnet(home: Path, seed: int = 0) -> Path:
    import torchvision

    from lmar.parts import weights

    torch.manual_seed(seed)
    path = weights.weight_path("alexnet", home)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), path)  # every key torchvision has
    return path


def stand_in_lpips(home: Path, seed: int = 1) -> Path:
    from lmar.parts import weights

    gen = torch.Generator().manual_seed(seed)
    path = weights.weight_path("lpips_alex", home)
    path.parent.mkdir(parents=True, exist_ok=True)
    chns = (64, 192, 384, 256, 256)
    torch.save({f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1, generator=gen) for i, c in enumerate(chns)}, path)
    return path


def accept_weight(monkeypatch, name: str, path: Path) -> None:
    """Make ``path`` pass the sha256 check for ``name`` (test-only: stand-ins cannot have the real hash)."""
    from lmar.core.hashing import sha256_hex
    from lmar.parts import weights

    monkeypatch.setitem(weights.EXPECTED_SHA256, name, sha256_hex(path))


def real_lpips(home: Path) -> Path:
    """The LPIPS linear layers the PyPI package lpips ships, where pyiqa looks for them."""
    import lpips

    from lmar.parts import weights

    path = weights.weight_path("lpips_alex", home)
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(lpips.__file__).parent / weights.LPIPS_PACKAGE_FILE, path)
    return path


# LMAR's edge-loss weight, written out pixel by pixel from the authors' formula (not the library's code)
def authors_edge_mask(gray: np.ndarray) -> np.ndarray:
    """M of an (H, W) image in [0, 1]: each pixel's 3x3 neighbourhood (edges repeated), the Scharr
    weights 3, 10, 3 across each axis, each response clamped to [-1, 1] (the authors clamp to +-255 on
    a 0..255 scale), M = (|gx| + |gy|) / 2."""
    g = np.pad(np.asarray(gray, dtype=np.float64), 1, mode="edge")
    H, W = gray.shape
    out = np.zeros((H, W))
    for i in range(H):
        for j in range(W):
            n = g[i : i + 3, j : j + 3]  # rows i-1..i+1, columns j-1..j+1
            gx = 3 * (n[0, 2] - n[0, 0]) + 10 * (n[1, 2] - n[1, 0]) + 3 * (n[2, 2] - n[2, 0])
            gy = 3 * (n[2, 0] - n[0, 0]) + 10 * (n[2, 1] - n[0, 1]) + 3 * (n[2, 2] - n[0, 2])
            out[i, j] = (abs(min(max(gx, -1.0), 1.0)) + abs(min(max(gy, -1.0), 1.0))) / 2
    return out


class MarkerPickle:
    """Unpickled, it creates the marker file (``Path.touch``): harmless, but proof that a full load ran code,
    what a planted checkpoint, weight file or resume state would do."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def readme_record(pattern: str, what: str) -> tuple[str, Path]:
    """(the README's text, its runs of white space made one space; the record under docs/measured/ that the
    sentence ``pattern`` names in its one group), for the tests that recompute the README's figures."""
    text = " ".join((ROOT / "README.md").read_text().split())
    named = re.search(pattern, text)
    assert named, f"the README no longer names the record of {what}"
    return text, ROOT / named.group(1)
