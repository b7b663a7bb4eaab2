"""Training: pretrain a backbone (L1 to ground truth), then a resampler against it, frozen.

Every number comes from the config's ``train`` block, bound to the part's recipe (:mod:`lmar.parts.recipes`).
Each trainer also writes its training curve beside the checkpoint (:mod:`lmar.run.curves`): per epoch the
learning rate used, the wall time and each logged loss part.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Collection
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from lmar.core.errors import LmarError
from lmar.core.fingerprint import fingerprint, part_modules
from lmar.core.hashing import sha256_hex
from lmar.core.params import bind_recipe
from lmar.core.provenance import code_version, config_hash, device_name
from lmar.core.registry import BACKBONES, RESAMPLERS
from lmar.data.identity import pairs_hash
from lmar.data.images import read_image
from lmar.data.loader import PRELOAD_MAX
from lmar.data.pairs import list_pairs
from lmar.parts.resize import resize
from lmar.run import checkpoint
from lmar.run.curves import KEPT, START, TOTAL, CurveRecorder, curve_path, write_curve
from lmar.run.resume import Saver, check_state, restore, rng_states

log = logging.getLogger(__name__)


def recipe(cls: type, spec: dict, where: str) -> dict:
    """The part's ``train`` block bound to its recipe (:mod:`lmar.parts.recipes`), defaults filled in."""
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


def pair_loader(pairs, transform=lambda t: t):
    """``load(i) -> (input, gt)``, transformed; small datasets are cached, large ones streamed."""

    def load(i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return transform(read_image(pairs[i].input)), transform(read_image(pairs[i].gt))

    return lru_cache(maxsize=None)(load) if len(pairs) <= PRELOAD_MAX else load


def _snapshot(net: torch.nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def _epochs(name: str, cfg: dict, net, opt, sched, gen: torch.Generator, n_order: int, steps: int, step_fn,
            saver: Saver, run: str, total_key: str, validate=None,
            keep_best: bool = False) -> tuple[dict, float, list[dict], dict | None]:
    """The epoch loop both trainers share, kill-safe (:mod:`lmar.run.resume`): per epoch a random order of
    ``n_order`` samples, then ``steps`` calls ``step_fn(order, i, epoch) -> (loss, parts)``, each followed
    by the optimiser's step; the sums of ``{total_key: loss, **parts}`` are averaged per epoch into
    the curve, with ``validate() -> {name: value}`` (held-out scores, e.g. ``val_psnr``) where given.
    A loss that is not finite stops training with one line naming the step.

    ``keep_best`` (with ``validate``): early stopping that may keep the initialisation. The held-out
    ``val_psnr`` is taken before the first step too (the curve's first row, epoch -1; its ``kept``
    column marks the row whose weights were kept, :mod:`lmar.run.curves`); the weights of the best of
    the initialisation and every epoch (the first of equals) are kept (in the resume state as well)
    and loaded into ``net`` at the end. Returns the last epoch's means, the seconds spent training (across
    attempts), the curve's rows and, with ``keep_best``, ``{"epoch": best epoch (-1: the
    initialisation), "val_psnr": its score, "val_psnr_init": the initialisation's}``."""
    epochs = int(cfg["epochs"])
    log.info("=== %s: attempt started %s (pid %d)", name, time.strftime("%Y-%m-%d %H:%M:%S %Z"), os.getpid())
    state = saver.load(lambda s: check_state(s, net, opt, gen, n_order, epochs, steps))
    epoch, start, rows, spent, order, sums = 0, 0, [], 0.0, None, {}
    if state is not None:
        try:
            restore(state, net, opt, sched, gen)
        except Exception as exc:  # noqa: BLE001 - checked beforehand: only a part's own loading code gets here
            saver.set_aside(f"it failed to load ({(str(exc).strip().splitlines() or [''])[0]})")
            raise LmarError(f"training {name}: its resume state {saver.path} passed the checks but failed to load "
                            "and has been set aside; rerun to start over") from None
        epoch, start, rows, spent = state["epoch"], state["step"], state["curve"], state["seconds"]
        order, sums = state["order"], state["sums"]
    best = state.get("best") if state is not None else None
    if keep_best and best is None:  # the initialisation is the first candidate
        score = validate()["val_psnr"]
        best = {"model": _snapshot(net), "epoch": START, "val_psnr": score, "val_psnr_init": score}
        log.info("%s: held-out PSNR before training %.4f dB", name, score)
    t0 = time.perf_counter() - spent
    with CurveRecorder(run) as curve:  # before the bar: a bad TensorBoard folder is one error on a line of its own
        bar = tqdm(range(epoch, epochs), desc=f"{'resume' if state else 'train'} {name}", unit="epoch", mininterval=5)
        curve.rows = list(rows)
        if keep_best and not any(row["epoch"] == START for row in curve.rows):  # resumed: already there
            curve.add_start({"val_psnr": best["val_psnr_init"]})
        means: dict[str, float] = {}
        for epoch in bar:
            resumed = state is not None and epoch == state["epoch"]
            t_epoch = time.perf_counter() - (state["epoch_seconds"] if resumed else 0.0)
            lr = opt.param_groups[0]["lr"]  # the rate this epoch trains at
            if not resumed:
                order, sums, start = torch.randperm(n_order, generator=gen), {}, 0
            for i in range(start, steps):
                loss, parts = step_fn(order, i, epoch)
                value = loss.item()
                if not math.isfinite(value):
                    raise LmarError(f"training {name} stopped: the loss is {value} at epoch {epoch}, step {i + 1} "
                                    f"of {steps} (step {epoch * steps + i + 1} of the run); lower the learning rate "
                                    "(train.lr) or check the training data")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                for key, v in {total_key: value, **parts}.items():
                    sums[key] = sums.get(key, 0.0) + v
                global_step = epoch * steps + i + 1
                if saver.due(global_step) and global_step < epochs * steps:
                    saver.save({"model": net.state_dict(), "optim": opt.state_dict(), "sched": sched.state_dict(),
                                "rng": rng_states(gen), "epoch": epoch, "step": i + 1, "global_step": global_step,
                                "order": order, "sums": sums, "curve": curve.rows,
                                "epoch_seconds": time.perf_counter() - t_epoch,
                                "seconds": time.perf_counter() - t0, **({"best": best} if keep_best else {})})
            sched.step()
            means = {k: v / steps for k, v in sums.items()}
            if validate is not None:
                means.update(validate())
            if keep_best and means["val_psnr"] > best["val_psnr"]:
                best = {**best, "model": _snapshot(net), "epoch": epoch, "val_psnr": means["val_psnr"]}
            bar.set_postfix({total_key: f"{means[total_key]:.4f}"}, refresh=False)
            log.info("epoch %d %s lr %.2e", epoch, " ".join(f"{k} {v:.5f}" for k, v in means.items()),
                     sched.get_last_lr()[0])
            curve.add(epoch, lr, time.perf_counter() - t_epoch, means)
        rows = curve.rows
    if keep_best:
        rows = [{**row, KEPT: int(row["epoch"] == best["epoch"])} for row in rows]
        net.load_state_dict(best["model"])
        log.info("%s: kept the weights of %s (held-out PSNR %.4f dB; %.4f before training)", name,
                 "the initialisation" if best["epoch"] < 0 else f"epoch {best['epoch']}", best["val_psnr"],
                 best["val_psnr_init"])
    kept = {k: v for k, v in best.items() if k != "model"} if keep_best else None
    return means, time.perf_counter() - t0, rows, kept


def _code(*modules: str) -> str:
    """The fingerprint of the code a job runs (:mod:`lmar.core.fingerprint`), as the workflow's ``code(...)``
    takes it: the harness module and each part's module. A part module without Python source (e.g.
    ``__main__``) is named instead, with a warning: an edit to it goes unnoticed (its weights' fit is
    still checked when a state is read)."""
    try:
        return fingerprint(modules)
    except LmarError:
        pass
    parts = []
    for module in modules:
        try:
            parts.append(fingerprint([module]))
        except LmarError as exc:
            log.warning("resume: %s; an edit to it will not stop a resume (a change of its weights will)", exc)
            parts.append(module)
    return config_hash(parts)


def _saver(out: Path, save: dict | None, facts: tuple, data: Path, pairs, modules, **more: str) -> Saver:
    """The resume state's saver for one job, identified (what makes two attempts one job) by its
    ``facts`` (config, seed, pair names, device type), the content of its training ``pairs``
    (``data``'s train split), the code of ``modules`` and any ``more`` parts, e.g. the backbone's sha256."""
    save = save or {}

    def identity() -> dict[str, str]:
        return {"config": config_hash(facts), "data": pairs_hash(pairs, Path(data) / "train"),
                "code": _code(*modules), **more}

    return Saver(out, identity, int(save.get("every_steps", 0)), float(save.get("every_minutes", 0)))


VAL_SPLIT_SEED = 0  # which training pairs are held out: the same for every training seed


def validation_split(pairs: list, n_val: int, where: str) -> tuple[list, list]:
    """(fitted, held out): ``n_val`` of the training ``pairs`` drawn once by :data:`VAL_SPLIT_SEED`
    (not the training seed: every seed is judged on the same pairs), the rest fitted, in name order."""
    if n_val >= len(pairs):
        raise LmarError(f"{where}.train.val_pairs is {n_val}, but the training split has {len(pairs)} pairs: "
                        "hold out fewer, so that some are left to fit")
    held = set(torch.randperm(len(pairs), generator=torch.Generator().manual_seed(VAL_SPLIT_SEED))[:n_val].tolist())
    return [p for i, p in enumerate(pairs) if i not in held], [p for i, p in enumerate(pairs) if i in held]


def _psnr(out: torch.Tensor, gt: torch.Tensor) -> float:
    """PSNR (dB) of ``out`` clipped to [0, 1] against ``gt``, from their mean squared error."""
    mse = F.mse_loss(out.float().clamp(0, 1), gt.float()).item()
    return 10 * math.log10(1 / max(mse, 1e-12))


def _validation(net, pairs: list, device: torch.device, run=None):
    """``validate() -> {"val_psnr": mean PSNR (dB)}`` on the held-out ``pairs``: ``run(x) -> [outputs]`` of
    each input (a batch of one) at full resolution (default: ``[net(x)]``), the PSNR of each output
    (:func:`_psnr`), then the mean over them; in eval mode and without gradients; the net is put back in training mode."""
    load = pair_loader(pairs)
    run = run or (lambda x: [net(x)])

    def validate() -> dict[str, float]:
        net.eval()
        scores = []
        with torch.no_grad():
            for i in range(len(pairs)):
                x, y = load(i)
                scores.extend(_psnr(out, y[None].to(device)) for out in run(x[None].to(device)))
        net.train()
        return {"val_psnr": sum(scores) / len(scores)}

    return validate


def _deu_runs(resampler, backbone, cfg: dict):
    """``run(x)``: the Downsample -> Enhance -> Upsample outputs of ``x`` at each of ``cfg["val_scales"]``
    (target = each side / scale, rounded as the evaluation rounds it), upsampled by ``cfg["val_upsampler"]``."""
    from lmar.run.pipeline import deu
    from lmar.run.targets import Target

    targets = [Target(f"x{s:g}", scale=float(s)) for s in cfg["val_scales"]]

    def run(x: torch.Tensor) -> list[torch.Tensor]:
        hw = tuple(x.shape[-2:])
        return [deu(x, t.resolve(hw), resampler, backbone, cfg["val_upsampler"]) for t in targets]

    return run


def pretrain_backbone(data: Path, spec: dict, out: Path, device: torch.device, seed: int, name: str = "backbone",
                      save: dict | None = None) -> dict:
    """``save``: ``{every_steps, every_minutes}``, how often to save the resume state (lmar.run.resume)."""
    where = f"config key backbones.{name}"
    cfg = recipe(BACKBONES.get(spec.get("type"), f"{where}.type"), spec, where)
    net = BACKBONES.build(spec, where).to(device).train()
    size = tuple(int(s) for s in cfg["size"])
    every = list_pairs(data, "train")
    pairs, held_out = validation_split(every, int(cfg.get("val_pairs", 0)), where)
    crop = cfg.get("crop")
    # whole training images resized to the training size (docs/method.md section 5), or random crops
    load = pair_loader(pairs, (lambda t: t) if crop else (lambda t: resize(t[None], size, "bicubic", True)[0]))
    opt, sched = _optimiser(net.parameters(), cfg)
    autocast, fmt = _speed(cfg, device, net)
    gen = torch.Generator().manual_seed(seed)
    bs = int(cfg["batch_size"])
    steps = math.ceil(len(pairs) / bs)

    def sample(k: int) -> torch.Tensor:
        """Pair ``k`` as one (6, crop, crop) tensor, input then ground truth: a random square, flipped."""
        both = _random_crop(torch.cat(load(k)), int(crop), gen)
        for dim in (-1, -2):  # left-right, upside down
            if torch.rand(1, generator=gen).item() < 0.5:
                both = both.flip(dim)
        if cfg.get("transpose") and torch.rand(1, generator=gen).item() < 0.5:
            both = both.transpose(-1, -2)
        if cfg.get("shuffle_channels"):
            order = torch.randperm(3, generator=gen)
            both = torch.cat([both[:3][order], both[3:][order]])
        return both

    def step(order, i, epoch):
        idx = order[i * bs : (i + 1) * bs]
        if crop:
            x, y = torch.stack([sample(int(k)) for k in idx]).split(3, dim=1)
        else:
            x, y = (torch.stack(t) for t in zip(*(load(int(i)) for i in idx)))
            if torch.rand(1, generator=gen).item() < 0.5:  # a horizontal flip
                x, y = x.flip(-1), y.flip(-1)
        with autocast():
            return F.l1_loss(net(x.to(device, memory_format=fmt)).float(), y.to(device)), {}

    # the device's type, not its index: a resumed attempt may hold another GPU (lmar.core.gpus)
    saver = _saver(out, save, ("backbone", spec, cfg, seed, [p.name for p in every], device.type), data, every,
                   ["lmar.run.train", *part_modules(type(net), spec.get("params"))])
    means, seconds, rows, _ = _epochs(f"pretrain {name}", cfg, net, opt, sched, gen, len(pairs), steps, step, saver,
                                   f"{name}/seed{seed}", "l1", _validation(net, held_out, device) if held_out else None)
    rate = _throughput(steps * int(cfg["epochs"]), seconds, f"pretrain {name}")
    meta = {"train": cfg, "final_l1": means["l1"], "seed": seed, "n_train": len(pairs),
            "validation": sorted(p.name for p in held_out), "final_val_psnr": means.get("val_psnr"),
            "steps_per_second": rate, "parameters": sum(p.numel() for p in net.parameters()),
            "device": device_name(device), "code_version": code_version()}
    write_curve(rows, curve_path(out))
    checkpoint.save(out, "backbone", {"type": spec["type"], "params": spec.get("params") or {}}, net, meta)
    saver.done()
    return meta


def _random_crop(x: torch.Tensor, crop: int, gen: torch.Generator) -> torch.Tensor:
    H, W = x.shape[-2:]
    ch, cw = min(crop, H), min(crop, W)
    top = int(torch.randint(0, H - ch + 1, (1,), generator=gen))
    left = int(torch.randint(0, W - cw + 1, (1,), generator=gen))
    return x[..., top : top + ch, left : left + cw]


def trained_against(backbone_ckpt: Path, backbone_meta: dict, sha: str) -> dict:
    """The record of the backbone a resampler is trained against, kept in its checkpoint's meta so
    that ``lmar enhance`` can refuse another backbone: the file's sha256, its spec and its name."""
    spec = backbone_meta.get("spec") or {}
    return {"backbone_sha256": sha, "backbone_file": Path(backbone_ckpt).name,
            "backbone_spec": {"type": spec.get("type"), "params": spec.get("params") or {}}}


def train_resampler(
    data: Path, backbone_ckpt: Path, spec: dict, out: Path, device: torch.device, seed: int, name: str = "resampler",
    allow: Collection[str] = (), save: dict | None = None,
) -> dict:
    """``allow``: modules the backbone checkpoint's spec may name (the trust rule, :mod:`lmar.core.registry`);
    ``save``: how often to save the resume state (as :func:`pretrain_backbone`)."""
    where = f"config key resamplers.{name}"
    cfg = recipe(RESAMPLERS.get(spec.get("type"), f"{where}.type"), spec, where)
    net = RESAMPLERS.build(spec, where).to(device).train()
    backbone, backbone_meta = checkpoint.load_backbone(backbone_ckpt, device, allow)
    loss_fn, info = net.make_loss(backbone, cfg, device)
    lo, hi, step_px = int(cfg["target_min"]), int(cfg["target_max"]), int(cfg["target_step"])
    sizes = list(range(lo, hi, step_px))
    fixed = cfg.get("fixed_target")  # None: a random target per sample
    every = list_pairs(data, "train")
    pairs, held_out = validation_split(every, int(cfg.get("val_pairs", 0)), where)
    load = pair_loader(pairs)
    opt, sched = _optimiser([p for p in net.parameters() if p.requires_grad], cfg)
    autocast, fmt = _speed(cfg, device, net, [backbone])
    gen = torch.Generator().manual_seed(seed)
    n = len(pairs) * int(cfg["repeats"])

    def step(order, i, epoch):
        k = int(order[i])
        both = torch.cat(load(k % len(pairs)))[None]  # one crop for input and gt
        x, gt = _random_crop(both, int(cfg["crop"]), gen).split(3, dim=1)
        s = sizes[int(torch.randint(0, len(sizes), (1,), generator=gen))]  # drawn even when fixed: same crops
        s = min(s if fixed is None else int(fixed), min(x.shape[-2:]) - 1)
        with autocast():
            return loss_fn(x.to(device, memory_format=fmt), gt.to(device), (s, s), epoch)

    backbone_sha = sha256_hex(backbone_ckpt)
    saver = _saver(out, save, ("resampler", spec, cfg, seed, [p.name for p in every], device.type), data, every,
                   ["lmar.run.train", *part_modules(type(net), spec.get("params")),
                    *part_modules(type(backbone), (backbone_meta.get("spec") or {}).get("params"))],
                   backbone=backbone_sha)

    validate = _validation(net, held_out, device, _deu_runs(net, backbone, cfg)) if held_out else None
    means, seconds, rows, kept = _epochs(f"train {name}", cfg, net, opt, sched, gen, n, n, step, saver,
                                         f"{name}/seed{seed}", TOTAL, validate, keep_best=bool(held_out))
    rate = _throughput(n * int(cfg["epochs"]), seconds, f"train {name}")
    meta = {"train": cfg, "final_losses": means, "seed": seed, "steps_per_second": rate, **info,
            "validation": sorted(p.name for p in held_out),
            **({"kept_epoch": kept["epoch"], "val_psnr_kept": kept["val_psnr"],
                "val_psnr_init": kept["val_psnr_init"]} if kept else {}),
            **trained_against(backbone_ckpt, backbone_meta, backbone_sha)}
    write_curve(rows, curve_path(out))
    checkpoint.save(out, "resampler", {"type": spec["type"], "params": spec.get("params") or {}}, net, meta)
    saver.done()
    return meta
