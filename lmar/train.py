"""Training: pretrain a backbone (L1 to ground truth), then a resampler against it, frozen.

Every number comes from the config's ``train`` block, bound to the part's recipe (:mod:`lmar.recipes`).
Each trainer also writes its training curve beside the checkpoint (:mod:`lmar.curves`): per epoch the
learning rate used, the wall time and each logged loss part.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Collection
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from lmar import checkpoint
from lmar.curves import CurveRecorder, curve_path
from lmar.data.images import read_image
from lmar.data.pairs import list_pairs
from lmar.errors import LmarError
from lmar.interpolation import resize
from lmar.params import bind_recipe
from lmar.registry import BACKBONES, RESAMPLERS

log = logging.getLogger(__name__)


def recipe(cls: type, spec: dict, where: str) -> dict:
    """The part's ``train`` block bound to its recipe (:mod:`lmar.recipes`), defaults filled in."""
    if getattr(cls, "train_recipe", None) is None:
        raise LmarError(f"{where} ({spec.get('type')}) has nothing to train")
    return bind_recipe(cls.train_recipe, spec.get("train"), f"{where}.train")


def _speed(cfg: dict, device: torch.device, trained: torch.nn.Module, others=()):
    """Apply the speed options; returns (autocast context factory, input memory format)."""
    fmt = torch.channels_last if cfg["channels_last"] else torch.contiguous_format
    for m in (trained, *others):
        m.to(memory_format=fmt)
    if cfg["compile"]:
        trained.compile(dynamic=True)
    enabled = cfg["amp"] == "bf16"
    return (lambda: torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)), fmt


def _throughput(steps: int, seconds: float, name: str) -> float:
    rate = steps / max(seconds, 1e-9)
    log.info("%s: %d steps in %.1f s, %.3f steps/s", name, steps, seconds, rate)
    return rate


def _optimiser(params, cfg: dict):
    opt = torch.optim.Adam(params, lr=float(cfg["lr"]))
    return opt, torch.optim.lr_scheduler.StepLR(opt, step_size=int(cfg["step_size"]), gamma=float(cfg["gamma"]))


PRELOAD_MAX = 64  # datasets up to this many pairs are decoded once and kept in memory


def pair_loader(pairs, transform=lambda t: t):
    """``load(i) -> (input, gt)``, transformed; small datasets are cached, large ones streamed."""

    def load(i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return transform(read_image(pairs[i].input)), transform(read_image(pairs[i].gt))

    return lru_cache(maxsize=None)(load) if len(pairs) <= PRELOAD_MAX else load


def pretrain_backbone(data: Path, spec: dict, out: Path, device: torch.device, seed: int, name: str = "backbone") -> dict:
    where = f"config key backbones.{name}"
    cfg = recipe(BACKBONES.get(spec.get("type"), f"{where}.type"), spec, where)
    net = BACKBONES.build(spec, where).to(device).train()
    size = tuple(int(s) for s in cfg["size"])
    pairs = list_pairs(data, "train")
    # whole training images resized to the training size (docs/method.md section 5)
    load = pair_loader(pairs, lambda t: resize(t[None], size, "bicubic", True)[0])
    opt, sched = _optimiser(net.parameters(), cfg)
    autocast, fmt = _speed(cfg, device, net)
    gen = torch.Generator().manual_seed(seed)
    bs = int(cfg["batch_size"])
    t0 = time.perf_counter()
    steps = math.ceil(len(pairs) / bs)
    bar = tqdm(range(int(cfg["epochs"])), desc=f"pretrain {name}", unit="epoch", mininterval=5)
    with CurveRecorder(f"{name}/seed{seed}") as curve:
        for epoch in bar:
            t_epoch, lr = time.perf_counter(), opt.param_groups[0]["lr"]  # the rate this epoch trains at
            order = torch.randperm(len(pairs), generator=gen)
            total = 0.0
            for i in range(steps):
                idx = order[i * bs : (i + 1) * bs]
                x, y = (torch.stack(t) for t in zip(*(load(int(i)) for i in idx)))
                flip = torch.rand(1, generator=gen).item() < 0.5
                if flip:
                    x, y = x.flip(-1), y.flip(-1)
                x, y = x.to(device, memory_format=fmt), y.to(device)
                with autocast():
                    loss = F.l1_loss(net(x).float(), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.item()
            sched.step()
            bar.set_postfix(l1=f"{total / steps:.4f}", refresh=False)
            log.info("epoch %d l1 %.5f lr %.2e", epoch, total / steps, sched.get_last_lr()[0])
            curve.add(epoch, lr, time.perf_counter() - t_epoch, {"l1": total / steps})
        rate = _throughput(steps * int(cfg["epochs"]), time.perf_counter() - t0, f"pretrain {name}")
        meta = {"train": cfg, "final_l1": total / steps, "seed": seed, "n_train": len(pairs),
                "steps_per_second": rate, "parameters": sum(p.numel() for p in net.parameters())}
        curve.write(curve_path(out))
        checkpoint.save(out, "backbone", {"type": spec["type"], "params": spec.get("params") or {}}, net, meta)
    return meta


def _random_crop(x: torch.Tensor, crop: int, gen: torch.Generator) -> torch.Tensor:
    H, W = x.shape[-2:]
    ch, cw = min(crop, H), min(crop, W)
    top = int(torch.randint(0, H - ch + 1, (1,), generator=gen))
    left = int(torch.randint(0, W - cw + 1, (1,), generator=gen))
    return x[..., top : top + ch, left : left + cw]


def train_resampler(
    data: Path, backbone_ckpt: Path, spec: dict, out: Path, device: torch.device, seed: int, name: str = "resampler",
    allow: Collection[str] = (),
) -> dict:
    """``allow``: modules the backbone checkpoint's spec may name (the trust rule, :mod:`lmar.registry`)."""
    where = f"config key resamplers.{name}"
    cfg = recipe(RESAMPLERS.get(spec.get("type"), f"{where}.type"), spec, where)
    net = RESAMPLERS.build(spec, where).to(device).train()
    backbone, _ = checkpoint.load_backbone(backbone_ckpt, device, allow)
    loss_fn, info = net.make_loss(backbone, cfg, device)
    lo, hi, step = int(cfg["target_min"]), int(cfg["target_max"]), int(cfg["target_step"])
    sizes = list(range(lo, hi, step))
    fixed = cfg.get("fixed_target")  # None: a random target per sample
    pairs = list_pairs(data, "train")
    load = pair_loader(pairs)
    opt, sched = _optimiser([p for p in net.parameters() if p.requires_grad], cfg)
    autocast, fmt = _speed(cfg, device, net, [backbone])
    gen = torch.Generator().manual_seed(seed)
    n = len(pairs) * int(cfg["repeats"])
    t0 = time.perf_counter()
    bar = tqdm(range(int(cfg["epochs"])), desc=f"train {name}", unit="epoch", mininterval=5)
    with CurveRecorder(f"{name}/seed{seed}") as curve:
        for epoch in bar:
            t_epoch, lr = time.perf_counter(), opt.param_groups[0]["lr"]  # the rate this epoch trains at
            sums: dict[str, float] = {}
            for k in torch.randperm(n, generator=gen).tolist():
                both = torch.cat(load(k % len(pairs)))[None]  # one crop for input and gt
                x, gt = _random_crop(both, int(cfg["crop"]), gen).split(3, dim=1)
                s = sizes[int(torch.randint(0, len(sizes), (1,), generator=gen))]  # drawn even when fixed: same crops
                s = min(s if fixed is None else int(fixed), min(x.shape[-2:]) - 1)
                with autocast():
                    loss, parts = loss_fn(x.to(device, memory_format=fmt), gt.to(device), (s, s), epoch)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                for key, v in {"total": loss.item(), **parts}.items():
                    sums[key] = sums.get(key, 0.0) + v
            sched.step()
            means = {k: v / n for k, v in sums.items()}
            bar.set_postfix(loss=f"{means['total']:.4f}", refresh=False)
            log.info("epoch %d %s", epoch, " ".join(f"{k} {v:.5f}" for k, v in means.items()))
            curve.add(epoch, lr, time.perf_counter() - t_epoch, means)
        rate = _throughput(n * int(cfg["epochs"]), time.perf_counter() - t0, f"train {name}")
        meta = {"train": cfg, "final_losses": means, "seed": seed, "steps_per_second": rate, **info}
        curve.write(curve_path(out))
        checkpoint.save(out, "resampler", {"type": spec["type"], "params": spec.get("params") or {}}, net, meta)
    return meta
