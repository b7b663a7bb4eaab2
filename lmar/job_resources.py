"""What a job asks a scheduler for: memory (``mem_mb``) and wall time (``runtime``, minutes), sized
from the config rather than fixed, so that a cluster profile can place the paper's 4K jobs and the
embedded default's small ones alike.

These are estimates, deliberately generous, made before any data exists: the dataset's frame size
and pair counts come from :meth:`lmar.data.base.Dataset.plan_shape` (a published dataset's counts,
the embedded dataset's own size; 4K frames otherwise); training costs from the ``train`` block
(epochs, batch, size or crop, repeats); evaluation from the test pairs and the number of target
sizes. The rates below are per megapixel of network input per sample, with a margin over what
was measured here (a U-Net at width 8 trained at about 6 s per megapixel-sample on 2 CPU cores).
Each retry (Snakemake's ``attempt``, with ``--retries``) asks for that multiple of both. A job
that needs more than estimated is overridden from the command line or a profile:
``--set-resources evaluate:mem_mb=64000``.
"""

from __future__ import annotations

import math

from lmar.data.loader import PREFETCH  # pairs each loader worker decodes ahead
from lmar.train import PRELOAD_MAX  # datasets up to this many pairs are kept in memory while training

BASE_MB = 3000  # Python, PyTorch, pyiqa and a CUDA context
TRAIN_BYTES_PER_PIXEL = 4096  # a training sample's activations and gradients, per input pixel
EVAL_BYTES_PER_PIXEL = 1024  # inference activations, per pixel of the backbone's input
IMAGE_BYTES_PER_PIXEL = 200  # full-resolution copies an evaluation holds (input, gt, output, map)
SECONDS_PER_MP = {"cpu": {"train": 12.0, "eval": 4.0}, "gpu": {"train": 0.1, "eval": 0.05}}
MIN_MINUTES = 10


def _minutes(seconds: float, attempt: int) -> int:
    return attempt * max(MIN_MINUTES, math.ceil(2 * seconds / 60) + 5)


def _mb(nbytes: float, attempt: int) -> int:
    return attempt * math.ceil(1.5 * (BASE_MB + nbytes / 2**20))


def prepare(shape, attempt: int = 1) -> dict:
    """Building or checking a dataset: every pair decoded once (about 1 s per 4K pair), two at a time."""
    H, W, n_train, n_test = shape
    seconds = (n_train + n_test) * H * W / 1e6 * 0.12
    return {"mem_mb": _mb(2 * H * W * 3 * 4 * 2, attempt), "runtime": _minutes(seconds, attempt)}


def pretrain(train: dict, shape, gpu: bool, attempt: int = 1) -> dict:
    """A backbone's pretraining: whole training images resized to ``train.size``, in batches."""
    H, W, n_train, _ = shape
    h, w = train.get("size", (H, W))
    batch, epochs = int(train.get("batch_size", 1)), int(train.get("epochs", 1))
    preload = n_train * h * w * 3 * 4 * 2 if n_train <= PRELOAD_MAX else batch * H * W * 3 * 4 * 2
    seconds = epochs * n_train * h * w / 1e6 * SECONDS_PER_MP["gpu" if gpu else "cpu"]["train"]
    return {"mem_mb": _mb(preload + batch * h * w * TRAIN_BYTES_PER_PIXEL, attempt),
            "runtime": _minutes(seconds, attempt)}


def train_resampler(train: dict, shape, gpu: bool, attempt: int = 1) -> dict:
    """A resampler's training: ``repeats`` random crops of each full-resolution training pair per
    epoch, through the resampler and the frozen backbone (both in the backward pass)."""
    H, W, n_train, _ = shape
    crop = int(train.get("crop", min(H, W)))
    epochs, repeats = int(train.get("epochs", 1)), int(train.get("repeats", 1))
    preload = n_train * H * W * 3 * 4 * 2 if n_train <= PRELOAD_MAX else H * W * 3 * 4 * 2
    seconds = 2 * epochs * n_train * repeats * crop * crop / 1e6 * SECONDS_PER_MP["gpu" if gpu else "cpu"]["train"]
    return {"mem_mb": _mb(preload + 2 * crop * crop * TRAIN_BYTES_PER_PIXEL, attempt),
            "runtime": _minutes(seconds, attempt)}


def evaluate(n_targets: int, shape, gpu: bool, full_resolution: bool = False, attempt: int = 1,
             workers: int = 1) -> dict:
    """DEU on every test pair at ``n_targets`` sizes (the full-resolution row: one, the backbone at
    full resolution), and the metrics at full resolution; ``workers`` loader processes each holding
    PREFETCH decoded pairs (at most 16 bits per channel) ahead."""
    H, W, _, n_test = shape
    backbone_pixels = H * W  # at most: the full-resolution row, or the largest target (x1.5: 44%)
    seconds = n_test * max(1, n_targets) * H * W / 1e6 * SECONDS_PER_MP["gpu" if gpu else "cpu"]["eval"]
    nbytes = H * W * IMAGE_BYTES_PER_PIXEL + backbone_pixels * EVAL_BYTES_PER_PIXEL * (1 if full_resolution else 0.5)
    nbytes += workers * PREFETCH * 2 * H * W * 3 * 2
    return {"mem_mb": _mb(nbytes, attempt), "runtime": _minutes(seconds, attempt)}
