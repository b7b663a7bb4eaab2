"""The backbone zoo: backbones trained once, to a plateau, on the embedded dataset, shipped in this
folder so that the default experiment does not pretrain them.

An entry is three files named ``<dataset>[-<zoo_tag>]-<backbone>-seed<seed>``: the checkpoint (``.pt``, as
:mod:`lmar.run.checkpoint` writes it), its training curve (``.curve.csv``) and a record (``.json``):
the checkpoint's sha256, the ``match`` (what a config must say for the entry to stand in for its
own pretraining: the dataset entry, the backbone's type and params and its bound ``train`` recipe,
each with defaults filled in, and the seed), the config hash of that match, the code version that
trained it, the machine, the minutes and the last held-out PSNR.

A config's backbone starts from the zoo when an entry matches it exactly (``zoo: true``, the
default); the device and the code fingerprint are not part of the match, and of the dataset only what
decides the training pairs is (:func:`training_view`). Anything else trains its
own, and the plan says why (:func:`find`). ``make zoo-fixed`` regenerates the default's entries
(workflow/configs/zoo_fixed.yaml), ``make zoo`` and ``make zoo-narrow`` those of the other degradations.
A zoo checkpoint is data like any other: its sha256 is checked against
its record before it is copied, and it is read with ``weights_only=True``.
"""

from __future__ import annotations

import json
import platform
import shutil
from pathlib import Path

from lmar.core.atomic import atomic_path
from lmar.core.errors import LmarError
from lmar.core.hashing import sha256_hex
from lmar.core.params import bind, bind_recipe
from lmar.core.provenance import code_version, config_hash
from lmar.core.registry import BACKBONES, DATASETS

ZOO_DIR = Path(__file__).resolve().parent.parent / "zoo"  # lmar/zoo: the entries (data, no code)


def entry_name(dataset: str, backbone: str, seed: int) -> str:
    return f"{dataset}-{backbone}-seed{int(seed)}"


def _plain(obj):
    """JSON's view of ``obj`` (tuples become lists), so that a config and a record compare equal."""
    return json.loads(json.dumps(obj, sort_keys=True))


def match_key(dataset_spec: dict, backbone_spec: dict, seed: int, where: str = "config") -> dict:
    """What an entry must agree on: the dataset's and the backbone's type and params, and the backbone's
    train recipe, each bound with its defaults filled in (so that a default written out matches it left
    out), and the seed."""
    dcls = DATASETS.get(dataset_spec.get("type"), f"{where}: dataset type")
    bcls = BACKBONES.get(backbone_spec.get("type"), f"{where}: backbone type")
    params = {k: v for k, v in bind(bcls, backbone_spec.get("params"), f"{where}.params").items()}
    return _plain({
        "dataset": {"type": dataset_spec["type"], "params": bind(dcls, dataset_spec.get("params"), f"{where} dataset")},
        "backbone": {"type": backbone_spec["type"], "params": params},
        "train": bind_recipe(bcls.train_recipe, backbone_spec.get("train"), f"{where}.train"),
        "seed": int(seed),
    })


def _flat(obj, prefix: str = "") -> dict:
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: obj}


def differences(here: dict, there: dict) -> list[str]:
    """Each key whose value differs between two match keys, as 'key is A here, B in the zoo'."""
    a, b = _flat(here), _flat(there)
    out = []
    for key in sorted(set(a) | set(b)):
        if a.get(key, "(unset)") != b.get(key, "(unset)"):
            out.append(f"{key} is {json.dumps(a.get(key, '(unset)'))} here, {json.dumps(b.get(key, '(unset)'))} "
                       "in the zoo")
    return out


def records(folder: Path = ZOO_DIR) -> dict[str, dict]:
    """Every entry's record in ``folder``, by name; a record that is not a JSON mapping is an error naming it."""
    out = {}
    for path in sorted(Path(folder).glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise LmarError(f"zoo record {path} cannot be read ({exc}); restore it from the repository "
                            "(git checkout) or run make zoo") from None
        if not isinstance(record, dict) or not isinstance(record.get("match"), dict):
            raise LmarError(f"zoo record {path} has no 'match' mapping; restore it from the repository or run make zoo")
        out[path.stem] = record
    return out


def training_view(match: dict) -> dict:
    """A match key with its dataset params reduced to what decides the training pairs
    (:meth:`lmar.data.base.Dataset.training_identity` of its dataset type): the part :func:`find` compares.
    A key naming a dataset type this code does not know is left whole (it matches nothing registered)."""
    dataset = match.get("dataset")
    if not isinstance(dataset, dict) or not isinstance(dataset.get("params"), dict) or \
            dataset.get("type") not in DATASETS.names():
        return match
    try:
        params = DATASETS.get(dataset["type"], "zoo record: dataset type").training_identity(dataset["params"])
    except (KeyError, TypeError):  # a record without a key the type reads: compared whole
        return match
    return {**match, "dataset": {"type": dataset["type"], "params": _plain(params)}}


def find(dataset_spec: dict, backbone_spec: dict, seed: int, where: str = "config",
         folder: Path = ZOO_DIR) -> tuple[Path | None, str]:
    """(the checkpoint of the entry that matches, or None; why, in a few words). The dataset is compared
    on what decides the training pairs (:func:`training_view`), the rest whole. Among entries of the
    same dataset and backbone type that do not match, the reason names the keys of the closest one."""
    key = training_view(match_key(dataset_spec, backbone_spec, seed, where))
    near = []
    for name, record in records(folder).items():
        theirs = training_view(record["match"])
        if theirs == key:
            return Path(folder) / f"{name}.pt", f"starts from the zoo's {name}"  # named by the record, not by its text
        if (theirs.get("dataset", {}).get("type"), theirs.get("backbone", {}).get("type")) == (
                key["dataset"]["type"], key["backbone"]["type"]):
            near.append((len(differences(key, theirs)), name, differences(key, theirs)))
    if not near:
        return None, (f"trains its own: the zoo has no {key['backbone']['type']} backbone trained on a "
                      f"{key['dataset']['type']} dataset")
    _, name, diff = min(near)
    return None, f"trains its own: unlike the zoo's {name}, {'; '.join(diff)}"


def entry_of(ckpt: Path, folder: Path = ZOO_DIR) -> str | None:
    """The name of the zoo entry whose checkpoint ``ckpt`` is, byte for byte (its sha256 is the one an
    entry's record holds), else None; None too where the zoo cannot be read (a question of provenance,
    not a reason to stop an evaluation). A copy is named by what it holds, wherever it was copied to."""
    digest = sha256_hex(ckpt)
    try:
        found = records(folder)
    except LmarError:
        return None
    return next((name for name, record in found.items() if record.get("sha256") == digest), None)


def _record_of(ckpt: Path, folder: Path) -> tuple[dict, str]:
    name = Path(ckpt).name.removesuffix(".pt")
    record = records(folder).get(name)
    if record is None:
        raise LmarError(f"{ckpt} has no zoo record {name}.json beside it; restore the zoo (git checkout lmar/zoo) "
                        "or set zoo: false to train instead")
    return record, name


def take(ckpt: Path, out: Path, curve_out: Path) -> dict:
    """Copy the zoo checkpoint ``ckpt`` to ``out`` and its curve to ``curve_out``, after checking the
    checkpoint's sha256 against its record and that it reads as a backbone checkpoint (no code
    unpickled). Nothing is written when a check fails. The files are named by the entry (the
    checkpoint's name), never by a path read from its record. Returns the record."""
    from lmar.run import checkpoint

    ckpt = Path(ckpt)
    folder = ckpt.parent
    record, name = _record_of(ckpt, folder)
    digest = sha256_hex(ckpt)
    if digest != record.get("sha256"):
        raise LmarError(f"zoo checkpoint {ckpt} has sha256 {digest}, its record says {record.get('sha256')}: the file "
                        "changed. Restore it (git checkout lmar/zoo), regenerate the zoo (make zoo), or set zoo: false")
    checkpoint.load(ckpt, "backbone")
    curve = folder / f"{name}.curve.csv"
    if not curve.is_file():
        raise LmarError(f"zoo entry {name}: its curve {curve} is missing; restore it (git checkout lmar/zoo)")
    with atomic_path(out) as tmp_ckpt, atomic_path(curve_out) as tmp_curve:
        shutil.copyfile(ckpt, tmp_ckpt)
        shutil.copyfile(curve, tmp_curve)
    return record


def _machine() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def write_entry(ckpt: Path, curve: Path, dataset: str, dataset_spec: dict, backbone: str, backbone_spec: dict,
                seed: int, out_dir: Path) -> Path:
    """Publish a trained backbone as a zoo entry in ``out_dir`` (checkpoint, curve, record); returns
    the record's path. The record's converged verdict is the tables' (:mod:`lmar.report.verdicts`)."""
    import pandas as pd

    from lmar.run import checkpoint
    from lmar.run.curves import convergence

    meta = checkpoint.load(ckpt, "backbone")["meta"]
    rows = pd.read_csv(curve)
    name = entry_name(dataset, backbone, seed)
    match = match_key(dataset_spec, backbone_spec, seed, f"config key backbones.{backbone}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    record = {
        "name": name, "file": f"{name}.pt", "curve": f"{name}.curve.csv", "sha256": sha256_hex(ckpt),
        "match": match, "config_hash": config_hash(match),
        # the code that trained it, as its checkpoint recorded it; else the code that published it
        "code_version": meta.get("code_version") or code_version(),
        "trained_on": {"machine": _machine(), "device": meta.get("device")},
        "minutes": round(float(rows["seconds"].sum()) / 60, 1) if len(rows) else 0.0,
        "epochs": len(rows), "validation": meta.get("validation"), "final_val_psnr": meta.get("final_val_psnr"),
        "converged": list(convergence(rows)),
    }
    with atomic_path(out_dir / record["file"]) as tmp:
        shutil.copyfile(ckpt, tmp)
    with atomic_path(out_dir / record["curve"]) as tmp:
        shutil.copyfile(curve, tmp)
    with atomic_path(out_dir / f"{name}.json") as tmp:
        Path(tmp).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return out_dir / f"{name}.json"
