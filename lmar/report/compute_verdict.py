"""The compute verdict the tables state beside their numbers: whether Downsample -> Enhance -> Upsample
costs less than enhancing at full resolution.

Per (dataset, backbone, resampler, target) (:func:`compute_verdicts`): DEU's GFLOPs in all and its
mean time against enhancing at full resolution (the block's full-resolution row), and the break-even
backbone cost per pixel above which DEU saves FLOPs (:func:`break_even`). Computed when the table is
made, from the store's ``resample_gflops, enhance_gflops, upsample_gflops, time_s``, not stored.
Shown as one table per block (:func:`compute_table`), and a line for each resampler with which DEU
saves no FLOPs or no time at some target (:func:`compute_note`); :func:`lmar.report.verdicts.block_notes`
puts both under each block of ``table.md``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from lmar.report.blocks import full_resolution_name
from lmar.report.cost_tables import COST_KEYS, LOAD_MARK, load_under
from lmar.run.targets import FULL

GFLOPS = ("resample_gflops", "enhance_gflops", "upsample_gflops")

COMPUTE_COLUMNS = ["dataset", "backbone", "resampler", "target", "scale", "deu_gflops", "full_gflops", "flops_ratio",
                   "time_ratio", "time_under_load", "backbone_kflop_per_pixel", "break_even_kflop_per_pixel"]


def break_even(resample_gflops: float, upsample_gflops: float, target_pixels: float, full_pixels: float) -> float:
    """The backbone cost per pixel (kFLOP) at which DEU costs as many FLOPs as enhancing at full
    resolution, for a backbone whose cost is proportional to its pixels (c FLOPs each): the c that
    solves resample + upsample + c * target_pixels = c * full_pixels. Above it DEU saves FLOPs.
    Infinite ("never") where the target has no fewer pixels than the full image."""
    if target_pixels >= full_pixels:
        return math.inf
    return (resample_gflops + upsample_gflops) * 1e9 / (full_pixels - target_pixels) / 1e3


def compute_verdicts(df: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, backbone, resampler, target) resampled: DEU's GFLOPs in all (``deu_gflops``)
    against the full-resolution row's (``full_gflops``, its enhance stage), their ratio, the ratio of
    their mean end-to-end times (``time_ratio``, NaN without ``time_s``), the backbone's own cost per
    pixel at full resolution and the break-even cost of :func:`break_even`, both in kFLOP per pixel.
    The GFLOPs are counted once per target on the first test image (:func:`lmar.run.evaluate.evaluate`),
    so the pixels are that image's: each group's first row's ``target_h x target_w``. Empty where the
    rows carry no GFLOPs; a block without a full-resolution row has no row here. ``time_under_load``:
    whether either side's time was taken while other work shared the CPUs
    (:func:`lmar.report.cost_tables.load_under`, the cost table's mark)."""
    if not set(GFLOPS) <= set(df) or not {"target_h", "target_w"} <= set(df):
        return pd.DataFrame(columns=COMPUTE_COLUMNS)
    loads = load_under(df)
    busy = {tuple(key): bool(under) for key, under in zip(loads[COST_KEYS].itertuples(index=False), loads["under load"])}
    out = []
    for (dataset, backbone), block in df.groupby(["dataset", "backbone"], sort=False):
        full = full_resolution_name(block)
        if full is None:
            continue
        base = _cost_row(block[block["resampler"] == full])
        full_pixels = base["target_h"] * base["target_w"]
        per_pixel = base["enhance_gflops"] * 1e9 / full_pixels / 1e3
        for (resampler, target), rows in block[block["target"] != FULL].groupby(["resampler", "target"], sort=False):
            r = _cost_row(rows)
            deu = r["resample_gflops"] + r["enhance_gflops"] + r["upsample_gflops"]
            out.append({"dataset": dataset, "backbone": backbone, "resampler": resampler, "target": target,
                        "scale": r["scale"], "deu_gflops": deu, "full_gflops": base["enhance_gflops"],
                        "flops_ratio": deu / base["enhance_gflops"], "time_ratio": r["time_s"] / base["time_s"],
                        "time_under_load": busy.get((dataset, backbone, resampler, target), False)
                        or busy.get((dataset, backbone, full, FULL), False),
                        "backbone_kflop_per_pixel": per_pixel,
                        "break_even_kflop_per_pixel": break_even(r["resample_gflops"], r["upsample_gflops"],
                                                                 r["target_h"] * r["target_w"], full_pixels)})
    return pd.DataFrame(out, columns=COMPUTE_COLUMNS)


def _cost_row(rows: pd.DataFrame) -> dict:
    """One group's costs: the mean GFLOPs per stage and mean ``time_s`` (NaN where not recorded), its
    mean scale, and its first row's size (the image its GFLOPs were counted on)."""
    first = rows.iloc[0]
    out = {c: float(rows[c].mean()) for c in GFLOPS}
    out["time_s"] = float(rows["time_s"].mean()) if "time_s" in rows else math.nan
    out["scale"] = float(rows["scale"].mean()) if "scale" in rows else math.nan
    out.update(target_h=float(first["target_h"]), target_w=float(first["target_w"]))
    return out


def kflop(value: float) -> str:
    """kFLOP per pixel as the notes print it: whole above 100, one decimal above 1, else two
    significant digits ("101", "9.7", "0.19", "0.004"); "never" for an infinite break-even."""
    if math.isinf(value):
        return "never"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 1:
        return f"{value:.1f}"
    return f"{float(f'{value:.2g}'):g}"


def _targets(targets: list[str], of: list[str]) -> str:
    """``targets`` as :func:`compute_note` names them: "any target" where they are all of ``of``."""
    return "any target" if len(targets) == len(of) else ", ".join(targets)


def _ratio_cell(flops: float, time: float, timed: bool, busy: bool = False) -> str:
    """One cell of :func:`compute_table`: "0.45x / 0.71x" (FLOPs / time), a ratio of 1 or more (DEU saves
    nothing there) in bold, and the load mark after a time taken under load (``busy``), which is never bold:
    a time measured while other work shared the machine says nothing of the method."""
    def one(ratio: float, verdict: bool = True) -> str:
        return "-" if pd.isna(ratio) else f"**{ratio:.2f}x**" if ratio >= 1 and verdict else f"{ratio:.2f}x"

    return f"{one(flops)} / {one(time, not busy)}{LOAD_MARK if busy else ''}" if timed else one(flops)


def _break_even_cell(rows: pd.DataFrame) -> str:
    """The last cell of a :func:`compute_table` row: the break-even backbone cost at each end of the
    targets' range (the lowest first), and the targets where DEU never saves FLOPs."""
    values = rows["break_even_kflop_per_pixel"]
    finite = rows[np.isfinite(values)]
    never = [str(t) for t in rows.loc[~np.isfinite(values), "target"]]
    if finite.empty:
        return "never (no target has fewer pixels than the full image)"
    low = finite.loc[finite["break_even_kflop_per_pixel"].idxmin()]
    high = finite.loc[finite["break_even_kflop_per_pixel"].idxmax()]
    text = f"{kflop(low['break_even_kflop_per_pixel'])} ({low['target']})"
    if high["target"] != low["target"]:
        text += f" to {kflop(high['break_even_kflop_per_pixel'])} ({high['target']})"
    return text + (f"; never at {', '.join(never)}" if never else "")


def compute_table(costs: pd.DataFrame) -> str:
    """The compute verdict of one (dataset, backbone) block as a Markdown table, from its rows of
    :func:`compute_verdicts`: a row per resampler, a column per target (in order of scale) holding
    DEU's FLOPs and mean time as multiples of enhancing at full resolution (bold where 1 or more), and
    the backbone cost per pixel above which DEU would save FLOPs, with a line above saying so."""
    costs = costs.sort_values("scale", kind="stable")
    targets = [str(t) for t in dict.fromkeys(costs["target"])]
    timed = costs["time_ratio"].notna().any()
    first = costs.iloc[0]
    lines = [f"Compute on backbone {first['backbone']} ({kflop(first['backbone_kflop_per_pixel'])} kFLOP/pixel at full "
             f"resolution): DEU's FLOPs{' / mean time' if timed else ''} as multiples of enhancing at full "
             f"resolution{'' if timed else ' (time not recorded)'}, bold where DEU saves nothing; and the backbone "
             "cost per pixel above which DEU would save FLOPs."
             + (f" {LOAD_MARK} a time ratio with either side timed under load (the cost table says which)."
                if costs["time_under_load"].any() else ""), "",
             "| resampler | " + " | ".join(targets) + " | saves FLOPs with a backbone above (kFLOP/pixel) |",
             "|---" * (len(targets) + 2) + "|"]
    for name, rows in costs.groupby("resampler", sort=False):
        by_target = rows.set_index(rows["target"].astype(str))
        cells = [_ratio_cell(by_target.at[t, "flops_ratio"], by_target.at[t, "time_ratio"], timed,
                             bool(by_target.at[t, "time_under_load"])) if t in by_target.index else "-" for t in targets]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {_break_even_cell(rows)} |")
    return "\n".join(lines)


def compute_note(rows: pd.DataFrame) -> str | None:
    """The line saying plainly where DEU with one resampler saves no compute against enhancing at full
    resolution (a FLOPs or time ratio of 1 or more, :func:`compute_verdicts`), from its rows in target
    order; None where it saves both at every target."""
    targets = [str(t) for t in rows["target"]]
    flops = [str(r.target) for r in rows.itertuples() if r.flops_ratio >= 1]
    slow = [r for r in rows.itertuples() if not pd.isna(r.time_ratio) and r.time_ratio >= 1]
    time = [str(r.target) for r in slow if not getattr(r, "time_under_load", False)]
    loaded = [str(r.target) for r in slow if getattr(r, "time_under_load", False)]
    if not flops and not time and not loaded:
        return None
    first = rows.iloc[0]
    if not flops and not time:
        return (f"Compute: DEU with {first['resampler']} on backbone {first['backbone']} took as long as enhancing at "
                f"full resolution or longer at {_targets(loaded, targets)}, but timed under load ({LOAD_MARK}): not a "
                "finding; time it on an idle machine.")
    what = [f"{kind} at {_targets(where, targets)}" for kind, where in (("no FLOPs", flops), ("no time", time)) if where]
    there = rows[rows["target"].astype(str).isin(flops)]
    because = (f"; there it would save FLOPs only with a backbone above {_break_even_cell(there)} kFLOP/pixel, and "
               f"this one costs {kflop(first['backbone_kflop_per_pixel'])}" if flops else "")
    under_load = (f" Its time at {_targets(loaded, targets)} was taken under load ({LOAD_MARK}): not a finding."
                  if loaded else "")
    return (f"Compute: DEU with {first['resampler']} on backbone {first['backbone']} saves {' and '.join(what)} "
            f"against enhancing at full resolution{because}.{under_load}")
