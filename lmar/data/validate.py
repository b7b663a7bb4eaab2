"""Validation of a prepared (or user-supplied) dataset, reporting every problem by file name."""

from __future__ import annotations

from pathlib import Path

from lmar.core.errors import LmarError
from lmar.data.images import image_size, read_image
from lmar.data.pairs import images_by_stem

MAX_LISTED = 20


def split_problems(inputs: Path, gts: Path, expected: int | None, decode: bool, progress=None) -> list[str]:
    """Every problem of one split: missing folders, unpaired files, size mismatches, undecodable
    images, a pair count that differs from ``expected``."""
    problems = [f"missing folder {d}" for d in (inputs, gts) if not d.is_dir()]
    if problems:
        return problems
    try:
        ins, outs = images_by_stem(inputs), images_by_stem(gts)
    except LmarError as exc:  # two files with one name
        return [str(exc)]
    problems += [f"input without ground truth: {ins[s]}" for s in sorted(set(ins) - set(outs))]
    problems += [f"ground truth without input: {outs[s]}" for s in sorted(set(outs) - set(ins))]
    common = sorted(set(ins) & set(outs))
    if not common:
        problems.append(f"{inputs.parent}: no image pairs (every split needs at least one)")
    elif expected is not None and len(common) != expected:
        problems.append(f"{inputs.parent}: {len(common)} pairs, expected {expected}")
    for stem in progress(common) if progress else common:
        try:
            si, sg = image_size(ins[stem]), image_size(outs[stem])
            if si != sg:
                problems.append(f"size mismatch: {ins[stem]} is {si[0]}x{si[1]}, {outs[stem]} is {sg[0]}x{sg[1]}")
            elif decode:
                read_image(ins[stem])
                read_image(outs[stem])
        except LmarError as exc:
            problems.append(str(exc))
    return problems


def raise_if_problems(problems: list[str], where: str) -> None:
    if problems:
        listed = "\n  ".join(problems[:MAX_LISTED])
        more = f"\n  ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        raise LmarError(f"dataset {where} has {len(problems)} problem(s):\n  {listed}{more}")


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_LISTED])
    return shown + (f", ... ({len(names) - MAX_LISTED} more)" if len(names) > MAX_LISTED else "")


def check_test_split(folder: str | Path, names: list[str], spec: dict, name: str) -> None:
    """Refuse a prepared test split that is not the one the dataset's config entry declares
    (:meth:`lmar.data.base.Dataset.declared_test`): other image names, or another number of pairs.

    ``folder``: the prepared dataset; ``names``: its test images' names; ``spec``: the entry
    ``datasets.<name>`` (``{type, params}``), from the trusted config (as prepare-data builds it). A folder prepared for other params (or a linked folder
    changed since) would otherwise be evaluated and reported as if it were this config's."""
    from lmar.core.registry import DATASETS

    declared = DATASETS.build(spec, f"config key datasets.{name}").declared_test()
    if declared is None:
        return
    key, want = declared
    where = f"config key datasets.{name}.params.{key}"
    redo = (f"The folder was prepared for other params or its files changed since: delete {folder} and "
            "prepare it again (rerun the workflow, or `python -m lmar prepare-data` with this entry).")
    test = Path(folder) / "test"
    if isinstance(want, int):
        if len(names) != want:
            raise LmarError(f"{where} expects {want} test pairs but {test} holds {len(names)}. {redo}")
        return
    missing, extra = sorted(set(want) - set(names)), sorted(set(names) - set(want))
    if missing or extra:
        parts = [f"missing {_listed(missing)}" if missing else "", f"not listed {_listed(extra)}" if extra else ""]
        raise LmarError(
            f"{where} lists {len(want)} test images but {test} holds {len(names)} "
            f"({'; '.join(p for p in parts if p)}). {redo}"
        )
