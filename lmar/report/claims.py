"""The paper's headline claim beside what this run measured.

LMAR's paper reports up to +1.2 dB PSNR over plain resampling at x1.8 on UHD-LOL4K, where x1.8
means 1200x1600 from 3840x2160 inputs and plain resampling is the authors' lanczos3 resize. A run
can test that claim only on a dataset of type ``uhd_lol4k`` evaluated at 1200x1600; there this
table shows the measured gain of each LMAR entry over lanczos3 (and over bicubic) with its 95%
interval. On every other dataset it shows the gain at the run's x1.8 target (the scale nearest 1.8)
and says plainly that it is not the claim's setting. Beside each gain, the loss there was to close:
full resolution minus the baseline at that target, paired over the same images and seeds, "within
noise" where its interval holds 0 (then no gain over that baseline can be read as a loss recovered);
and the share of that loss the gain closes (mean gain / mean loss), given only where the loss is
measurable and both are over the same images and seeds.
"""

from __future__ import annotations

import pandas as pd

from lmar.report.blocks import counted, full_resolution_name, table_blocks
from lmar.report.stats import compare
from lmar.report.tables import shown_digits
from lmar.report.verdicts import against_full_resolution

CLAIM = {"dataset_type": "uhd_lol4k", "target_hw": (1200, 1600), "input_hw": (2160, 3840), "gain_db": 1.2,
         "baseline": "lanczos3"}
BASELINE_TYPES = ("lanczos3", "bicubic")


def _x18(rows: pd.DataFrame, claim_setting: bool) -> str | None:
    """The target to compare at: the authors' 1200x1600 where the claim applies, else the scale nearest 1.8."""
    if claim_setting:
        hit = rows[(rows["target_h"] == CLAIM["target_hw"][0]) & (rows["target_w"] == CLAIM["target_hw"][1])]
        return hit["target"].iloc[0] if len(hit) else None
    scales = rows.groupby("target")["scale"].mean()
    near = (scales - 1.8).abs()
    return near.idxmin() if len(near) and near.min() <= 0.05 else None


def claims_table(df: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> str:
    """Markdown: per dataset and backbone, each LMAR entry's PSNR gain at x1.8 over lanczos3 and
    bicubic (entries of those types), beside the paper's +1.2 dB where the claim applies. Each pair is
    compared within the first table block holding both (:func:`lmar.report.blocks.table_blocks`): over the
    images and seeds that block's rows share, the units its table's means are over."""
    lines = ["## Claims check: the paper's headline (+1.2 dB PSNR at x1.8 on UHD-LOL4K over lanczos3)\n"]
    if "resampler_type" not in df:
        return "\n".join(lines + ["The results do not record resampler types: the claim cannot be checked.\n"])
    out = []
    blocks = table_blocks(df)
    for (dataset, backbone), part in df.groupby(["dataset", "backbone"], sort=False):
        kind = part["dataset_type"].iloc[0] if "dataset_type" in part else ""
        setting = kind == CLAIM["dataset_type"]
        target = _x18(part, setting)
        types = part.groupby("resampler", sort=False)["resampler_type"].first()  # in the tables' order
        lmars = [r for r, t in types.items() if t == "lmar"]
        # the claim's baseline (lanczos3) first, then bicubic
        bases = sorted((r for r, t in types.items() if t in BASELINE_TYPES),
                       key=lambda r: BASELINE_TYPES.index(types[r]))
        if target is None or not lmars or not bases:
            why = ("no 1200x1600 target" if setting else "no target at x1.8") if target is None else \
                  "no LMAR entry" if not lmars else "no lanczos3 or bicubic entry"
            out.append({"dataset": dataset, "backbone": backbone, "comparison": "-", "target": "-",
                        "paper": "+1.2 dB" if setting else "-", "measured": f"cannot be tested: {why}"})
            continue
        pairs = [(a, b) for a in lmars for b in bases]
        mine = [rows for d, bb, _, rows in blocks if (d, bb) == (dataset, backbone)]
        results = _paired_gains(mine, target, pairs, n_boot, seed)
        losses = _losses(mine, target, bases, n_boot, seed)
        for a, b in pairs:
            base_type = types[b]
            paper = "+1.2 dB (up to)" if setting and base_type == "lanczos3" else (
                "not reported" if setting else "not the claim's setting")
            r = results.get((a, b))
            measured = (f"{_gain_db(r)}, n = {counted(r.n_images, 'image')} x {counted(r.n_seeds, 'seed')}"
                        if r is not None else None) or \
                "cannot be tested: no test image scored by both at every seed (see the left-out notes)"
            loss = _gain_db(losses[b], sign=-1) if b in losses else "no full-resolution row beside it"
            out.append({"dataset": f"{dataset} ({kind or 'unknown type'})", "backbone": backbone,
                        "comparison": f"{a} - {b}", "target": target, "paper": paper, "measured": measured,
                        "loss to close (full resolution - baseline)": loss,
                        "share of it closed": _share(r, losses.get(b))})
    table = pd.DataFrame(out)
    lines.append(table.to_markdown(index=False))
    if not any(df.get("dataset_type", pd.Series(dtype=str)) == CLAIM["dataset_type"]):
        lines.append("\nThis run has no UHD-LOL4K dataset: it cannot test the claim itself; the rows above are the "
                     "same comparison on its own data.")
    return "\n".join(lines) + "\n"


def _gain_db(r, sign: int = 1) -> str:
    """"+0.50 dB [+0.50, +0.50]", with the decimals the paired tables print (so that an interval that excludes
    0 is seen to), and "within noise" where it includes 0; ``sign`` -1: the difference b - a."""
    mean, low, high = (r.mean_diff, r.ci_low, r.ci_high) if sign > 0 else (-r.mean_diff, -r.ci_high, -r.ci_low)
    digits, _ = shown_digits((mean, low, high), "psnr", bool(r.significant))
    text = f"{mean:+.{digits}f} dB [{low:+.{digits}f}, {high:+.{digits}f}]"
    return text if r.significant else f"{text} within noise"


def _share(gain, loss) -> str:
    """The gain as a share of the loss there was to close (rows of :func:`lmar.report.stats.compare`; the
    loss's ``a`` is the baseline, its ``b`` full resolution): "+12.5%", with "gain within noise" where the
    gain's interval holds 0; "-" with the reason where there is no measurable loss to divide by, or the two
    are not over the same images and seeds."""
    if gain is None or loss is None:
        return "-"
    if not loss.significant:
        return "- (no measurable loss)"
    if loss.mean_diff > 0:
        return "- (the baseline is above full resolution)"
    if (gain.n_images, gain.n_seeds) != (loss.n_images, loss.n_seeds):
        return (f"- (not paired: the gain is over {counted(gain.n_images, 'image')} x {counted(gain.n_seeds, 'seed')}, "
                f"the loss over {counted(loss.n_images, 'image')} x {counted(loss.n_seeds, 'seed')})")
    text = f"{100 * gain.mean_diff / -loss.mean_diff:+.1f}%"
    return text if gain.significant else f"{text}, gain within noise"


def _losses(blocks: list[pd.DataFrame], target: str, bases: list[str], n_boot: int, seed: int) -> dict:
    """baseline -> its PSNR comparison with full resolution at ``target`` (a row of
    :func:`lmar.report.verdicts.against_full_resolution`), from the first of the table ``blocks`` holding the
    baseline at ``target`` and a full-resolution row; a baseline in none is absent."""
    found = {}
    for rows in blocks:
        full = full_resolution_name(rows)
        todo = [b for b in bases if b not in found and b in set(rows.loc[rows["target"] == target, "resampler"])]
        if full is None or not todo:
            continue
        cmp = against_full_resolution(rows, "psnr", n_boot, seed, only=todo)
        for r in cmp[cmp["target"] == target].itertuples():
            found[r.a] = r
    return found


def _paired_gains(blocks: list[pd.DataFrame], target: str, pairs: list, n_boot: int, seed: int) -> dict:
    """(a, b) -> its PSNR comparison at ``target`` (a row of :func:`lmar.report.stats.compare`), from the first of
    the reduced table ``blocks`` of one dataset and backbone where both have rows at ``target``; a pair
    that is in no block (its rows were left out of the tables) is absent."""
    found = {}
    for rows in blocks:
        at = rows[rows["target"] == target]
        there = set(at["resampler"])
        todo = [(a, b) for a, b in pairs if (a, b) not in found and {a, b} <= there]
        if todo:
            for r in compare(at, ["psnr"], todo, n_boot=n_boot, seed=seed).itertuples():
                found[(r.a, r.b)] = r
    return found
