"""Evaluation: DEU on every test image at every target, scored per image, one tidy CSV per run."""

from __future__ import annotations

import json
import logging
import math
import os
import resource
import time
from collections.abc import Collection
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm

from lmar.core.atomic import atomic_dir, atomic_path
from lmar.core.errors import LmarError
from lmar.core.paths import path_component
from lmar.core.provenance import code_version, device_name
from lmar.core.runtime import check_precision, noting_nondeterminism, precision_mode, synchronize, usable_cpus
from lmar.data.image_write import levels_array, quantize_levels, write_image
from lmar.data.images import image_size, to_float
from lmar.data.loader import decoded_pairs, resolve_workers
from lmar.data.pairs import list_pairs
from lmar.data.validate import check_test_split
from lmar.parts.cost import param_count, stage_flops
from lmar.parts.resize import check_method
from lmar.run import checkpoint, cpu_wait, zoo
from lmar.run.curves import backbone_convergence
from lmar.run.eval_breakdown import clock, device_peak_over, note_device_peak, start, timed_iter
from lmar.run.metrics import Scorer
from lmar.run.pipeline import STAGES, check_target, deu_staged
from lmar.run.targets import FULL, Target, figure_target, parse_targets

log = logging.getLogger(__name__)

DEFAULT_SAVE_OUTPUTS = 3  # the first 3 test images by name (workflow/schemas/config.schema.yaml)
WRITERS = 2  # background threads encoding the saved sample on CUDA


class _InPlace:
    """An executor that runs each task at once, in the calling thread (a CPU evaluation's writer: a thread
    of its own, even one waited for before each timed pass, left the next passes' threads waiting for a
    CPU for 4 to 13% of their time, against under 5% written in place; measured in
    docs/measured/cpu-2026-12-06-timing). A task's error is kept in its future, as a pool's would be."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def submit(self, fn, *args, **kwargs) -> Future:
        future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - raised where the futures are read, as from a pool
            future.set_exception(exc)
        return future


def parse_save_outputs(value) -> int | str:
    """``evaluation.save_outputs``: a whole number >= 0 of test images (the first by name), or "all"."""
    if value == "all" or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return value
    raise LmarError(f"config key evaluation.save_outputs must be a whole number >= 0 or 'all', got {value!r}")


def load_1m() -> float:
    """The host's 1-minute load average now (``os.getloadavg``); NaN where the system has none."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return math.nan


def _schedule(meta) -> str:
    """The `train` block a checkpoint was trained with (its recipe, defaults filled in), as JSON."""
    train = meta.get("train") if isinstance(meta, dict) else None
    return json.dumps(train, sort_keys=True) if isinstance(train, dict) else ""


def backbone_weights(ckpt: Path, content: dict) -> str:
    """Where the backbone's weights came from, as the table's footer says it: the checkpoint's own word
    ("trained", or the authors' release), and for a copy of a zoo entry its name (found by sha256:
    :func:`lmar.run.zoo.entry_of`), so that a reader knows the backbone was trained before this run."""
    weights = str((content.get("meta") or {}).get("weights", "trained"))
    name = zoo.entry_of(ckpt) if weights == "trained" else None
    return f"trained, a copy of the zoo's {name} (sha256 as its record)" if name else weights


def evaluate(
    data: Path,
    backbone_ckpt: Path,
    resampler_spec: dict,
    resampler_ckpt: Path | None,
    evaluation: dict,
    out_csv: Path,
    images_dir: Path,
    device: torch.device,
    labels: dict,
    allow: Collection[str] = (),
    breakdown: dict | None = None,
    dataset_spec: dict | None = None,
) -> pd.DataFrame:
    """``labels``: dataset, backbone, resampler names, seed and config hash, copied to every row;
    ``allow``: modules the backbone checkpoint's spec may name (the trust rule, :mod:`lmar.core.registry`);
    ``breakdown``: a dict filled with where the job's time went and its peak memory (BREAKDOWN; also logged);
    ``dataset_spec``: the config entry ``datasets.<labels["dataset"]>``: a test split other than the one
    it declares is refused (:func:`lmar.data.validate.check_test_split`).

    Each test pair is decoded once (ahead, by ``evaluation.workers`` processes) and serves every target;
    each output is quantised on the device to the levels a saved file would hold and scored from those,
    one at a time (:class:`lmar.run.metrics.Scorer`). Files are written for the ``evaluation.save_outputs`` sample only,
    between the timed passes (on CUDA by background threads, each pass waiting for their writes; on a
    CPU in place, :class:`_InPlace`); each row's
    ``cpu_wait`` says how much its timed pass's threads waited for a CPU (:mod:`lmar.run.cpu_wait`)."""
    t_start = time.perf_counter()
    targets = parse_targets(evaluation)
    upsampler = evaluation.get("upsampler", "bicubic")
    check_method(upsampler, False)
    precision = check_precision(evaluation.get("precision", "fp32"), "config key evaluation.precision")
    save = parse_save_outputs(evaluation.get("save_outputs", DEFAULT_SAVE_OUTPUTS))
    workers = resolve_workers(evaluation.get("workers", "auto"), device, torch.get_num_threads())
    backbone, backbone_ckpt_content = checkpoint.load_backbone(backbone_ckpt, device, allow)
    where = f"config key resamplers.{labels.get('resampler', '?')}"
    resampler, train_meta = checkpoint.build_resampler(resampler_spec, resampler_ckpt, device, where)
    scorer = Scorer(
        evaluation.get("metrics", ["psnr", "ssim"]), device, evaluation.get("required_metrics", ["psnr", "ssim"])
    )
    pairs = list_pairs(data, "test")
    if dataset_spec is not None:
        check_test_split(data, [p.name for p in pairs], dataset_spec, labels.get("dataset", "?"))
    if resampler.is_identity:
        targets = [Target(FULL, scale=1.0)]
    weights = backbone_weights(backbone_ckpt, backbone_ckpt_content)
    fixed = {
        **labels,
        "backbone_type": (backbone_ckpt_content.get("spec") or {}).get("type", ""),
        "backbone_params": json.dumps((backbone_ckpt_content.get("spec") or {}).get("params") or {}, sort_keys=True),
        "resampler_type": resampler_spec["type"],
        "resampler_params": json.dumps(resampler_spec.get("params") or {}, sort_keys=True),
        "upsampler": upsampler,
        "precision": precision,
        "resize_loss": train_meta.get("resize_loss", ""),
        # where the weights came from: trained here, or the authors' release (lmar.parts.lmar.released)
        "backbone_weights": weights,
        # whether the backbone had converged, from the curve beside its checkpoint (lmar.report.verdicts)
        **backbone_convergence(backbone_ckpt, weights),
        "resampler_weights": train_meta.get("weights", "trained") if resampler.trainable else "none",
        # early stopping's choice (train.val_pairs): the epoch whose weights were kept, -1 the initial ones
        "resampler_kept_epoch": train_meta.get("kept_epoch", "") if resampler.trainable else "",
        # the training budget of each part (its `train` block as run), reported under the table
        "backbone_train": _schedule(backbone_ckpt_content.get("meta")),
        "resampler_train": _schedule(train_meta) if resampler.trainable else "",
        "code_version": code_version(),
        "device": device_name(device),
        "torch_version": torch.__version__,
        "backbone_n_params": param_count(backbone),
        "resampler_n_params": param_count(resampler),
        "missing_metrics": json.dumps(scorer.missing) if scorer.missing else "",
        # what the timings were taken under (with each row's cpu_wait, load_1m and timed_at): the cost
        # table marks a time whose threads waited for a CPU (or, unmeasured, under too high a load)
        "cpus": usable_cpus(),
        "threads": torch.get_num_threads(),
    }
    names = [p.name for p in pairs]
    sample = set(names if save == "all" else names[:save])
    figure = (names[0], figure_target(targets, image_size(pairs[0].input)).label)  # always written
    parts = start(breakdown if breakdown is not None else {}, device, pairs=len(pairs), targets=len(targets),
                  workers=workers, setup_s=time.perf_counter() - t_start)
    rows, nondeterministic, flops = [], set(), {}  # flops: the stages' GFLOPs per target, for the first image
    writing = ThreadPoolExecutor(WRITERS) if device.type == "cuda" else _InPlace()  # see _InPlace
    with atomic_dir(images_dir) as tmp, torch.no_grad(), writing as writers:
        written, pending = [], []  # every write, and those submitted since the last timed pass
        loop_start = time.perf_counter()
        decoded = timed_iter(decoded_pairs(pairs, device, workers), parts, "wait_s", "first_wait_s")
        progress = tqdm(decoded, total=len(pairs), desc=str(labels.get("resampler")), unit="pair", mininterval=5)
        for pair, source in zip(progress, pairs):  # in order; the progress bar first, so that it sees the end
            parts["decode_s"] += pair.decode_s
            with clock(parts, "transfer_s", device):
                x, bits, gt = pair.on(device)
            for target in targets:
                size = target.resolve(x.shape[-2:])
                if not resampler.is_identity:
                    check_target(size, x.shape[-2:], backbone, f"target {target.label} of {source.input}",
                                 by_scale=target.scale is not None)
                if target.label not in flops:  # in the run's precision, which decides LMAR's fused path
                    with clock(parts, "count_flops_s", device), precision_mode(precision, device):
                        flops[target.label] = stage_flops(resampler, backbone, upsampler, tuple(x.shape[-2:]), size,
                                                          device)
                with clock(parts, "write_s", device):  # nothing of this job's own runs beside the timed pass
                    wait(pending)
                    pending.clear()
                synchronize(device)
                timed_at, load_before, waits = datetime.now(UTC), load_1m(), cpu_wait.snapshot()
                t0 = time.perf_counter()
                peaks = []
                with precision_mode(precision, device), noting_nondeterminism(device, nondeterministic):
                    y, stages = deu_staged(x[None], size, resampler, backbone, upsampler, device, peaks)
                synchronize(device)
                seconds = time.perf_counter() - t0
                waited = cpu_wait.wait_share(waits, cpu_wait.snapshot())  # NaN where not measurable
                load = max(load_before, load_1m())  # NaN where there is no load average
                for stage in STAGES:
                    parts[f"{stage}_s"] += stages[f"{stage}_ms"] / 1e3
                note_device_peak(parts, peaks)
                with clock(parts, "score_s", device), device_peak_over(parts, device):
                    # the levels a saved file holds, laid out as a file is read (H, W, C): scored exactly as
                    # the file read back would be (a reduction's last bit follows the memory layout)
                    levels = quantize_levels(y[0], bits).permute(1, 2, 0).contiguous()
                    scores = scorer(to_float(levels, bits), gt)
                if pair.name in sample or (pair.name, target.label) == figure:
                    with clock(parts, "write_s", device):
                        path = tmp / path_component(target.label, "target name") / f"{pair.name}.png"
                        pending.append(writers.submit(write_image, levels_array(levels, bits), path, bits))
                        written.append(pending[-1])
                rows.append(
                    {
                        **fixed,
                        "target": target.label,
                        "scale": target.effective_scale(x.shape[-2:]),
                        "target_h": size[0],
                        "target_w": size[1],
                        "image": pair.name,
                        **scores,
                        "time_s": seconds,
                        "load_1m": load,
                        "cpu_wait": waited,
                        "timed_at": timed_at.isoformat(timespec="milliseconds"),
                        **stages,
                        **flops[target.label],
                    }
                )
                log.info("%s %s %s", target.label, pair.name, " ".join(f"{k}={v:.4f}" for k, v in scores.items()))
        with clock(parts, "write_s", device):
            for future in written:
                future.result()  # a failed write fails the job (and the folder is not kept)
        parts["loop_s"] = time.perf_counter() - loop_start
        order = {t.label: i for i, t in enumerate(targets)}  # rows by target, then image (as listed)
        df = pd.DataFrame(sorted(rows, key=lambda r: order[r["target"]]))
        # on CUDA: the ops PyTorch could not run deterministically (lmar.core.runtime.noting_nondeterminism)
        df["nondeterministic_ops"] = " ".join(sorted(nondeterministic))
        front = ["dataset", "backbone", "resampler", "target", "scale", "target_h", "target_w", "image"]
        df = df[front + [c for c in df.columns if c not in front]]
        with atomic_path(out_csv) as t:
            df.to_csv(t, index=False)
        parts["outputs_written"] = len(written)
        parts["bytes_written"] = sum(f.stat().st_size for f in tmp.rglob("*") if f.is_file()) + out_csv.stat().st_size
    parts["wall_s"] = time.perf_counter() - t_start
    parts["peak_host_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    parts["peak_workers_host_mib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    log.info("time and memory: %s", json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in parts.items()}))
    return df
