"""The training verbs: pretrain an enhancement backbone (or copy its zoo entry, or convert the
authors' released weights), publish a trained backbone to the zoo, train a resampler against a frozen
backbone."""

from __future__ import annotations

from pathlib import Path

from lmar.cli.verb_table import ALLOW, DEVICE, SEED, device_of, flag, spec, verb
from lmar.core.errors import LmarError

RELEASED = (flag("--released", type=Path, default=None, metavar="FILE",
                 help="the authors' released weights (sha256 checked): convert them instead of training"),)
RESUME = (flag("--save-every-steps", type=int, default=0, metavar="N",
               help="save the resume state every N optimiser steps (0: off); a rerun resumes from it"),
          flag("--save-every-minutes", type=float, default=10.0, metavar="M",
               help="save the resume state every M minutes of training (0: off; default 10)"))


def _save(args) -> dict:
    if args.save_every_steps < 0 or args.save_every_minutes < 0:
        raise LmarError("--save-every-steps and --save-every-minutes must be >= 0 (0 switches one off)")
    return {"every_steps": args.save_every_steps, "every_minutes": args.save_every_minutes}


def _no_curve(ckpt: Path) -> None:
    """A part converted from released weights was not trained: its curve has the header alone."""
    from lmar.run.curves import curve_path, write_curve

    write_curve([], curve_path(ckpt))


def _import_released(kind: str, args) -> None:
    """Convert the authors' released weights instead of training (``--released``)."""
    from lmar.run.checkpoint import import_released

    import_released(kind, args.spec, args.released, args.out, f"config key {kind}s.{args.name}")
    _no_curve(args.out)


@verb("pretrain-backbone", "train an enhancement backbone (L1 to ground truth)",
      flag("--data", type=Path, required=True),
      spec("--spec", "backbone entry as JSON: {type, params, train}"),
      flag("--name", default="backbone"),
      flag("--out", type=Path, required=True),
      RELEASED,
      flag("--from-zoo", type=Path, default=None, metavar="FILE",
           help="a zoo checkpoint (lmar/zoo) whose entry matches this backbone: copy it and its curve "
                "(sha256 checked) instead of training"),
      RESUME, DEVICE, SEED)
def pretrain_backbone(args):
    if args.released:
        return _import_released("backbone", args)
    if args.from_zoo:
        from lmar.run.curves import curve_path
        from lmar.run.zoo import take

        record = take(args.from_zoo, args.out, curve_path(args.out))
        print(f"{args.out}: the zoo's {record['name']} (sha256 {record['sha256'][:12]}), not trained here")
        return
    from lmar.run import train

    train.pretrain_backbone(args.data, args.spec, args.out, device_of(args), args.seed, args.name, _save(args))


@verb("zoo-entry", "publish a trained backbone as a zoo entry (checkpoint, curve, record)",
      flag("--ckpt", type=Path, required=True, help="the trained backbone checkpoint"),
      flag("--dataset", required=True, help="the entry's name before -<backbone>-seed<N>: the dataset's config "
           "name, with the config's zoo_tag"),
      spec("--dataset-spec", "its config entry as JSON"),
      flag("--backbone", required=True, help="the backbone's config name"),
      spec("--spec", "the backbone's config entry as JSON"),
      flag("--seed", type=int, required=True),
      flag("--out-dir", type=Path, required=True))
def zoo_entry(args):
    from lmar.run.curves import curve_path
    from lmar.run.zoo import write_entry

    print(write_entry(args.ckpt, curve_path(args.ckpt), args.dataset, args.dataset_spec, args.backbone, args.spec,
                      args.seed, args.out_dir))


@verb("train-resampler", "train a resampler against a frozen backbone",
      flag("--data", type=Path, required=True),
      flag("--backbone", type=Path, required=True, help="backbone checkpoint"),
      spec("--spec", "resampler entry as JSON: {type, params, train}"),
      flag("--name", default="resampler"),
      flag("--out", type=Path, required=True),
      RELEASED, RESUME, ALLOW, DEVICE, SEED)
def train_resampler(args):
    if args.released:
        return _import_released("resampler", args)
    from lmar.run import train

    train.train_resampler(args.data, args.backbone, args.spec, args.out, device_of(args), args.seed, args.name,
                          args.allow_module, _save(args))
