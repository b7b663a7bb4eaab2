"""The table step (``lmar table``): ``table.md`` and its LaTeX, CSV and statistics files, from results
files only (the store, :mod:`lmar.report.store`), and the record of what was left out."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from lmar.core.atomic import atomic_path
from lmar.core.metric_table import METRICS
from lmar.report.blocks import finite_scores, unequal_images
from lmar.report.overview import SHOWN, markdown_table
from lmar.report.stats import learned_names
from lmar.report.store import load_results

log = logging.getLogger(__name__)


def _budget(train_json: str) -> str:
    """A `train` block as recorded in the rows, in words: the keys that size the run first."""
    train = json.loads(train_json)
    first = [k for k in ("epochs", "repeats", "batch_size", "size", "crop") if k in train]
    return ", ".join(f"{k} {train[k]}" for k in first + sorted(set(train) - set(first)))


def _budgets(df: pd.DataFrame) -> str:
    """Each trained part's `train` block, from the rows' JSON columns or the store's flattened ones."""
    text = ""
    for part in ("backbone", "resampler"):
        prefix = f"{part}.train."
        cols = [c for c in df.columns if c.startswith(prefix)]
        if f"{part}_train" in df:
            rows = df.loc[df[f"{part}_train"].notna() & (df[f"{part}_train"] != ""), [part, f"{part}_train"]]
            blocks = dict.fromkeys((r[part], r[f"{part}_train"]) for _, r in rows.iterrows())
        elif cols:
            blocks = {}
            for _, r in df[[part, *cols]].drop_duplicates().iterrows():
                train = {c[len(prefix):]: _plain(r[c]) for c in cols if not _absent(r[c])}
                if train:
                    blocks[(r[part], json.dumps(train, sort_keys=True))] = None
        else:
            continue
        # in the order the rows name them (the tables' order); one part's blocks together
        order = list(dict.fromkeys(name for name, _ in blocks))
        text += "".join(f"\nTraining budget of {part} {name}: {_budget(block)}\n"
                        for name, block in sorted(blocks, key=lambda b: order.index(b[0])))
    return text


def _absent(value) -> bool:
    if isinstance(value, str):
        return value == ""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or the like: present
        return False


def _plain(value):
    """A flattened value back as it was written: JSON text of a list, numbers as numbers."""
    if isinstance(value, str) and value[:1] in "[{":
        return json.loads(value)
    return value.item() if hasattr(value, "item") else value


def write_table(paths, out_md: Path, out_csv: Path | None = None, gain=("lmar", "bicubic"), title: str = "",
                out_tex: Path | None = None, out_stats: Path | None = None, left_out_in=(),
                out_left_out: Path | None = None) -> tuple[pd.DataFrame, list[str]]:
    """The tables of results files (the store, or evaluation CSVs): Markdown in ``out_md`` (a compact
    PSNR / SSIM overview with the ``gain`` row, then every metric with intervals and the paired
    comparisons of :mod:`lmar.report.tables`), LaTeX in ``out_tex`` (every metric, paired and cost table of
    the Markdown, each labelled; :mod:`lmar.report.tables`), their numbers in ``out_stats``;
    ``out_csv``: also the rows read, joined (infinite scores as read: every table leaves them out,
    :func:`finite_scores`). Returns the rows read and what was left out (lmar.report.left_out):
    the notes of the records ``left_out_in`` (the gather step's) and this step's, also written to
    ``out_left_out`` and listed at the top of the Markdown."""
    from lmar.report import left_out as record
    from lmar.report.claims import claims_table
    from lmar.report.cost_tables import cost_latex, cost_markdown
    from lmar.report.store import mixed_configs
    from lmar.report.tables import render
    from lmar.report.verdicts import block_notes

    notes = [n for p in left_out_in for n in record.read(p)]
    read = load_results(paths, notes)
    metrics = [m for m in METRICS if m in read]
    missing = missing_metric_notes(read, metrics)  # before the infinite values are made missing: they have a note
    infinite: list[str] = []
    df = finite_scores(read, infinite)
    learned = learned_names(df)
    detail_md, detail_tex, detail = render(df, metrics, learned)
    for note in mixed_configs(df):
        log.warning("left out: %s", note)
        notes.append(note)
    notes += unequal_images(df)
    notes += missing + infinite
    # under each block's overview; a verdict leaves nothing out (not in notes)
    verdicts = block_notes(df, baseline=gain[1] if gain else None)
    body = ""
    if set(SHOWN) <= set(metrics):
        body += "## Overview\n\n" + markdown_table(df, gain, notes, verdicts) + "\n"
    elif any(verdicts.values()):
        body += "## Verdicts\n\n" + "".join(f"### {d} / {b}\n\n" + "".join(f"{line}\n\n" for line in lines)
                                          for (d, b), lines in verdicts.items() if lines)
    text = f"# {title}\n\n" if title else ""
    text += "".join(f"**Left out:** {note}.\n\n" for note in notes) + body
    text += ("## Every metric, with intervals\n\nIn each column the best mean as printed is bold and the second "
             "italic (cells that print the same share a mark); the full-resolution row is the ceiling, not ranked.\n\n"
             + detail_md)
    if "psnr" in metrics:
        text += "\n" + claims_table(df)
    cost = cost_markdown(df)
    if cost:
        text += "\n" + cost
    if "code_version" in df or "device" in df:  # a file may lack one (an older or hand-made one): not recorded
        prov = df.reindex(columns=["code_version", "device", "seed"]).drop_duplicates()
        text += "\nProduced by: " + "; ".join(
            f"code {_recorded(r.code_version)}, device {_recorded(r.device)}, seed {r.seed}" for r in prov.itertuples()
        ) + "\n"
    if "resize_loss" in df:
        used = df.loc[df["resize_loss"].notna() & (df["resize_loss"] != ""), ["resampler", "resize_loss"]].drop_duplicates()
        for r in used.itertuples():
            text += f"\nResize loss used to train {r.resampler}: {r.resize_loss}\n"
    text += _backbone_weights(df) + _resampler_weights(df)
    text += _budgets(df)
    if out_csv is not None:
        with atomic_path(out_csv) as t:
            read.to_csv(t, index=False)
    if out_tex is not None:
        with atomic_path(out_tex) as t:
            t.write_text(detail_tex + cost_latex(df))
    if out_stats is not None:
        with atomic_path(out_stats) as t:
            detail.to_csv(t, index=False)
    with atomic_path(out_md) as t:
        t.write_text(text)
    if out_left_out is not None:
        record.write(out_left_out, notes)
    return read, notes


def _backbone_weights(df: pd.DataFrame) -> str:
    """One line per backbone saying where its weights came from (trained, a copy of a zoo entry, named,
    or the authors' release); where its seeds' weights came from different places, one line per source
    naming its seeds (each seed's copy of the zoo names its own entry)."""
    if "backbone_weights" not in df:
        return ""
    used = df[df["backbone_weights"].notna() & (df["backbone_weights"] != "none")]
    lines = []
    for backbone, rows in used.groupby("backbone", sort=False):
        sources = rows.groupby("backbone_weights", sort=False)["seed"].unique() if "seed" in rows else None
        if sources is None or len(sources) == 1:
            lines += [f"\nWeights of backbone {backbone}: {w}\n" for w in rows["backbone_weights"].unique()]
            continue
        for weights, seeds in sorted(sources.items(), key=lambda kv: min(kv[1])):
            at = ", ".join(str(s) for s in sorted(seeds))
            lines.append(f"\nWeights of backbone {backbone} at seed{'s' if len(seeds) > 1 else ''} {at}: {weights}\n")
    return "".join(lines)


def _resampler_weights(df: pd.DataFrame) -> str:
    """One line per trained resampler and backbone (and seed, where several): where its weights came from
    and which epoch early stopping kept (-1: its initial weights), so that one backbone's "trained" does not
    stand for another's untrained start."""
    if "resampler_weights" not in df:
        return ""
    used = df[df["resampler_weights"].notna() & (df["resampler_weights"] != "none")]
    cols = ["resampler", "backbone", "seed", "resampler_weights"] + (["resampler_kept_epoch"]
                                                                     if "resampler_kept_epoch" in df else [])
    several = used["seed"].nunique() > 1 if "seed" in used else False
    lines = []
    for r in used.reindex(columns=cols).drop_duplicates().itertuples():
        kept = getattr(r, "resampler_kept_epoch", float("nan"))
        epoch = None if _absent(kept) else int(float(kept))
        how = ("" if epoch is None else ", its initial weights kept (no epoch beat them on the held-out pairs)"
               if epoch == -1 else f", the weights after epoch {epoch} kept (epochs counted from 0)")
        at = f" at seed {r.seed}" if several else ""
        lines.append(f"\nWeights of resampler {r.resampler} on backbone {r.backbone}{at}: {r.resampler_weights}{how}\n")
    return "".join(lines)


def _recorded(value) -> str:
    return "not recorded" if _absent(value) else str(value)


def missing_metric_notes(df: pd.DataFrame, metrics: list[str]) -> list[str]:
    """One note per metric that some rows lack: why it was not computed where the rows say (their
    ``missing_metrics``), and how many rows lack it."""
    notes = []
    reasons = {}
    for cell in sorted(set(df.get("missing_metrics", pd.Series(dtype=str)).dropna()) - {""}):
        for metric, reason in json.loads(cell).items():
            reasons.setdefault(metric, []).append(reason)
    for metric in metrics:
        lacking = df[metric].isna()
        if lacking.any():
            where = ", ".join(sorted(df.loc[lacking, "resampler"].astype(str).unique()))
            why = "; ".join(reasons.get(metric, [])) or "the results files of those rows have no value"
            notes.append(f"{metric.upper()} not computed for {int(lacking.sum())} of {len(df)} rows "
                         f"(resamplers {where}): {why}")
    return notes
