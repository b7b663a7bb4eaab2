"""Evaluation: DEU on every test image at every target, scored per image, one tidy CSV per run."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Collection
from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm

from lmar import checkpoint
from lmar.atomic import atomic_dir, atomic_path
from lmar.cost import param_count, stage_flops
from lmar.data.image_write import quantize, write_image
from lmar.data.images import read_image, read_image_bits
from lmar.data.pairs import list_pairs
from lmar.interpolation import check_method
from lmar.metrics import Scorer
from lmar.paths import path_component
from lmar.pipeline import check_target, deu_staged
from lmar.provenance import code_version, device_name
from lmar.runtime import check_precision, noting_nondeterminism, precision_mode, synchronize
from lmar.targets import FULL, Target, parse_targets

log = logging.getLogger(__name__)


def _schedule(meta) -> str:
    """The `train` block a checkpoint was trained with (its recipe, defaults filled in), as JSON."""
    train = meta.get("train") if isinstance(meta, dict) else None
    return json.dumps(train, sort_keys=True) if isinstance(train, dict) else ""


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
) -> pd.DataFrame:
    """``labels``: dataset, backbone, resampler names, seed and config hash, copied to every row;
    ``allow``: modules the backbone checkpoint's spec may name (the trust rule, :mod:`lmar.registry`)."""
    targets = parse_targets(evaluation)
    upsampler = evaluation.get("upsampler", "bicubic")
    check_method(upsampler, False)
    precision = check_precision(evaluation.get("precision", "fp32"), "config key evaluation.precision")
    backbone, backbone_ckpt_content = checkpoint.load_backbone(backbone_ckpt, device, allow)
    where = f"config key resamplers.{labels.get('resampler', '?')}"
    resampler, train_meta = checkpoint.build_resampler(resampler_spec, resampler_ckpt, device, where)
    scorer = Scorer(
        evaluation.get("metrics", ["psnr", "ssim"]), device, evaluation.get("required_metrics", ["psnr", "ssim"])
    )
    pairs = list_pairs(data, "test")
    if resampler.is_identity:
        targets = [Target(FULL, scale=1.0)]
    fixed = {
        **labels,
        "backbone_type": (backbone_ckpt_content.get("spec") or {}).get("type", ""),
        "backbone_params": json.dumps((backbone_ckpt_content.get("spec") or {}).get("params") or {}, sort_keys=True),
        "resampler_type": resampler_spec["type"],
        "resampler_params": json.dumps(resampler_spec.get("params") or {}, sort_keys=True),
        "upsampler": upsampler,
        "precision": precision,
        "resize_loss": train_meta.get("resize_loss", ""),
        # where the weights came from: trained here, or the authors' release (lmar.released)
        "backbone_weights": backbone_ckpt_content.get("meta", {}).get("weights", "trained"),
        "resampler_weights": train_meta.get("weights", "trained") if resampler.trainable else "none",
        # the training budget of each part (its `train` block as run), reported under the table
        "backbone_train": _schedule(backbone_ckpt_content.get("meta")),
        "resampler_train": _schedule(train_meta) if resampler.trainable else "",
        "code_version": code_version(),
        "device": device_name(device),
        "torch_version": torch.__version__,
        "backbone_n_params": param_count(backbone),
        "resampler_n_params": param_count(resampler),
        "missing_metrics": json.dumps(scorer.missing) if scorer.missing else "",
    }
    rows, nondeterministic = [], set()
    with atomic_dir(images_dir) as tmp, torch.no_grad():
        for target in targets:
            flops = None  # the stages' GFLOPs at this target, counted once, for the first image's size
            for pair in tqdm(pairs, desc=f"{labels.get('resampler')} {target.label}", unit="img", mininterval=5):
                (x, bits), gt = read_image_bits(pair.input), read_image(pair.gt)
                size = target.resolve(x.shape[-2:])
                if not resampler.is_identity:
                    check_target(size, x.shape[-2:], backbone, f"target {target.label} of {pair.input}")
                xd = x[None].to(device)
                if flops is None:  # in the run's precision, which decides LMAR's fused path
                    with precision_mode(precision, device):
                        flops = stage_flops(resampler, backbone, upsampler, tuple(x.shape[-2:]), size, device)
                synchronize(device)
                t0 = time.perf_counter()
                with precision_mode(precision, device), noting_nondeterminism(device, nondeterministic):
                    y, stages = deu_staged(xd, size, resampler, backbone, upsampler, device)
                synchronize(device)
                seconds = time.perf_counter() - t0
                out = quantize(y[0], bits)  # scored exactly as saved: a PNG of the input's bit depth
                write_image(out, tmp / path_component(target.label, "target name") / f"{pair.name}.png", bits)
                scores = scorer(torch.from_numpy(out.astype("float32")).permute(2, 0, 1) / (2**bits - 1), gt)
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
                        **stages,
                        **flops,
                    }
                )
                log.info("%s %s %s", target.label, pair.name, " ".join(f"{k}={v:.4f}" for k, v in scores.items()))
        df = pd.DataFrame(rows)
        # on CUDA: the ops PyTorch could not run deterministically (lmar.runtime.noting_nondeterminism)
        df["nondeterministic_ops"] = " ".join(sorted(nondeterministic))
        front = ["dataset", "backbone", "resampler", "target", "scale", "target_h", "target_w", "image"]
        df = df[front + [c for c in df.columns if c not in front]]
        with atomic_path(out_csv) as t:
            df.to_csv(t, index=False)
    return df
