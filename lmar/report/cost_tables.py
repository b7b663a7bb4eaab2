"""The cost tables of ``table.md`` and ``table.tex``: per dataset and backbone, each resampler and
target's parameters, GFLOPs per stage and in all, milliseconds per stage and end to end (means over
the test images and seeds), peak memory per stage on CUDA, and the load the times were taken under,
with a mark (:data:`LOAD_MARK`) on a time taken while other work shared the CPUs (:func:`load_under`).
"""

from __future__ import annotations

import pandas as pd

from lmar.report.blocks import counted
from lmar.report.latex import label_maker, tex_tables
from lmar.run.cpu_wait import WAIT_LIMIT
from lmar.run.targets import FULL

COST_COLUMNS = {
    "resample_gflops": "GFLOPs resample", "enhance_gflops": "GFLOPs enhance", "upsample_gflops": "GFLOPs upsample",
    "resample_ms": "ms resample", "enhance_ms": "ms enhance", "upsample_ms": "ms upsample", "time_ms": "ms end to end",
    "resample_peak_mb": "peak MiB resample", "enhance_peak_mb": "peak MiB enhance", "upsample_peak_mb": "peak MiB upsample",
}


COST_KEYS = ["dataset", "backbone", "resampler", "target"]
LOAD_MARK = "‡"  # after the milliseconds of a row timed under load (:func:`load_under`)
LOAD_COLUMNS = ["load 1m", "cpus", "threads", "cpu wait", "under load"]


def load_under(df: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, backbone, resampler, target), what its times were taken under: of the rows that
    recorded it (``load_1m``, ``cpus``, ``threads``: :func:`lmar.run.evaluate.evaluate`), the load of
    the one whose load average stood highest above its job's own threads and CPUs, as ``load 1m``,
    ``cpus``, ``threads``; ``cpu wait``, the share of its timed passes' runnable time their threads
    spent waiting for a CPU, all its passes together (each row's ``cpu_wait``, :mod:`lmar.run.cpu_wait`,
    weighted by its ``time_s``: about how much of the mean time is waiting; missing where not
    measured); and ``under load``: whether other work took CPU time from the job (then its times are
    slower than the machine's): that share above :data:`lmar.run.cpu_wait.WAIT_LIMIT` where measured,
    else a row's load, less the job's own threads, above the CPUs it may use. No row for a group none
    of whose rows recorded the load (results from before it was recorded)."""
    if not {"load_1m", "cpus", "threads"} <= set(df):
        return pd.DataFrame(columns=COST_KEYS + LOAD_COLUMNS)
    rec = df.dropna(subset=["load_1m", "cpus", "threads"])
    waited = pd.to_numeric(rec["cpu_wait"], errors="coerce") if "cpu_wait" in rec else pd.Series(float("nan"), rec.index)
    weight = rec["time_s"].where(waited.notna()) if "time_s" in rec else waited.notna().astype(float)
    # load > threads + cpus, compared so: the whole numbers summed exactly, a load at the sum not marked
    limit = rec["threads"] + rec["cpus"]
    rec = rec.assign(excess=rec["load_1m"] - limit, loaded=rec["load_1m"] > limit, waited_time=waited * weight,
                     weight=weight)
    worst = rec.sort_values("excess", ascending=False, kind="stable").drop_duplicates(COST_KEYS)
    out = worst[COST_KEYS + ["load_1m", "cpus", "threads"]].rename(columns={"load_1m": "load 1m"})
    groups = rec.groupby(COST_KEYS, sort=False).agg(waited_time=("waited_time", "sum"), weight=("weight", "sum"),
                                                    measured=("waited_time", "count"), loaded=("loaded", "any"))
    share = (groups["waited_time"] / groups["weight"]).where(groups["measured"] > 0)
    flagged = (share > WAIT_LIMIT).where(share.notna(), groups["loaded"])  # the load rule only where unmeasured
    groups = groups.assign(**{"cpu wait": share, "under load": flagged})
    return out.merge(groups[["cpu wait", "under load"]].astype({"under load": bool}).reset_index(), on=COST_KEYS,
                     how="left")


def cost_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, backbone, resampler, target): parameters (millions), GFLOPs per stage and in
    all, the mean milliseconds per stage and end to end over the test images (and seeds), on CUDA
    the largest peak memory per stage, and the load the times were taken under (:func:`load_under`:
    missing where not recorded); the full-resolution row first."""
    d = df.assign(time_ms=df["time_s"] * 1000.0) if "time_s" in df else df.copy()
    have = [c for c in COST_COLUMNS if c in d]
    if not have:
        return pd.DataFrame()
    agg = {c: ("max" if c.endswith("_peak_mb") else "mean") for c in have}
    for c in ("backbone_n_params", "resampler_n_params"):
        if c in d:
            agg[c] = "first"
    out = d.groupby(COST_KEYS, sort=False).agg(
        {**agg, "scale": "mean", "target_h": "first", "target_w": "first"}).reset_index()
    out = out.merge(load_under(d), on=COST_KEYS, how="left")
    out["under load"] = out["under load"].astype("boolean")
    gf = [c for c in ("resample_gflops", "enhance_gflops", "upsample_gflops") if c in out]
    if gf:
        out["GFLOPs total"] = out[gf].sum(axis=1, min_count=1)
    if "backbone_n_params" in out:
        resampler = out["resampler_n_params"].fillna(0) if "resampler_n_params" in out else 0
        out["params (M)"] = (out["backbone_n_params"] + resampler) / 1e6
    out = out.drop(columns=[c for c in out if c.endswith("_peak_mb") and out[c].isna().all()])
    out["full"] = out["target"] == FULL
    out["block"] = out.groupby(["dataset", "backbone"], sort=False).ngroup()  # in the order of the other tables
    out = out.sort_values(["block", "full", "scale"], ascending=[True, False, True], kind="stable")
    return out.drop(columns=["full", "block"]).rename(columns=COST_COLUMNS)


def _cost_number(value) -> str:
    """A cost as the Markdown table rounds it (3 decimals, no trailing zeros), "-" where there is none."""
    if pd.isna(value):
        return "-"
    return f"{float(value):.3f}".rstrip("0").rstrip(".")


def _cost_head(name: str) -> tuple[str, str]:
    """A cost column's name on two lines: "GFLOPs" over "resample", "ms" over "end to end"."""
    for unit in ("GFLOPs", "ms", "peak MiB", "params"):
        if name.startswith(unit + " "):
            return unit, name[len(unit) + 1:]
    return name, ""


def counted_span(values, word: str) -> str:
    """Whole numbers as counted: "2 CPUs", or "2-4 CPUs" where they differ."""
    values = sorted({int(v) for v in values})
    if len(values) == 1:
        return counted(values[0], word)
    return f"{values[0]}-{values[-1]} {word}s"


def load_legend(part: pd.DataFrame) -> list[str]:
    """The lines under one cost table (rows of :func:`cost_frame`) saying what its times were taken
    under: the range of load, CPUs and own threads; what the mark after a row's milliseconds means
    and, per resampler with marked rows, their load against their CPUs and own threads; which rows
    did not record it."""
    recorded = part[part["load 1m"].notna()]
    lines = []
    if len(recorded):
        span = _load_span(recorded["load 1m"])
        waits = recorded["cpu wait"].dropna() if "cpu wait" in recorded else pd.Series(dtype=float)
        waited = (f"; the timed passes' threads waited for a CPU for at most {_percent(waits.max())} of their "
                  "runnable time (a row's passes together" + ("" if len(waits) == len(recorded) else
                                                               ", where measured") + ")") if len(waits) else ""
        lines.append(f"Timed under a 1-minute load average of {span} (each row's highest) on "
                     f"{counted_span(recorded['cpus'], 'CPU')}, with {counted_span(recorded['threads'], 'own thread')}"
                     f"{waited}.")
    marked = recorded[recorded["under load"].fillna(False).astype(bool)]
    if len(marked):
        each = "; ".join(_marked_rows(rows) for _, rows in marked.groupby(["resampler", "cpus", "threads"], sort=False))
        lines.append(f"{LOAD_MARK} timed under load: the row's timed passes waited for a CPU for more than "
                     f"{_percent(WAIT_LIMIT)} of their runnable time (where not measured: the load average, less the "
                     "job's own threads, exceeded the CPUs it may use); other work took CPU time from the job, so "
                     f"these times overstate the machine's ({each}).")
    missing = part[part["load 1m"].isna()]
    if len(missing) == len(part):
        lines.append("Load not recorded (results from before it was): a time taken on a loaded machine carries "
                     "no mark here.")
    elif len(missing):
        names = "; ".join(f"{name} {', '.join(map(str, rows['target']))}"
                          for name, rows in missing.groupby("resampler", sort=False))
        lines.append(f"Load not recorded for {names}: no mark either way.")
    return lines


def _load_span(loads) -> str:
    """Load averages as printed: "4.02", or "3.54 to 5.21" where they print differently."""
    return _span(loads, lambda load: f"{load:.2f}")


def _marked_rows(rows: pd.DataFrame) -> str:
    """One resampler's rows timed under load (on the same CPUs and threads), as the legend gives
    them: "bicubic x2, x4: load 4.98 to 5.21 against 2 CPUs, 2 own threads"."""
    r = rows.iloc[0]
    waits = rows["cpu wait"].dropna() if "cpu wait" in rows else pd.Series(dtype=float)
    waited = f"waited {_span(waits, _percent)}, " if len(waits) else ""
    return (f"{r['resampler']} {', '.join(map(str, rows['target']))}: {waited}load {_load_span(rows['load 1m'])} "
            f"against {counted(int(r['cpus']), 'CPU')}, {counted(int(r['threads']), 'own thread')}")


def _span(values, shown) -> str:
    """``values`` as ``shown`` prints them: "8%", or "6% to 9%" where the lowest and highest print
    differently."""
    low, high = shown(min(values)), shown(max(values))
    return low if low == high else f"{low} to {high}"


def _percent(share: float) -> str:
    """A share as a percentage: "38%", "5.3%", "5%", "0.4%" (a decimal below 10%, so that a share just
    above the 5% limit does not print as 5%)."""
    if share >= 0.1:
        return f"{100 * share:.0f}%"
    if share >= 0.01:
        return f"{100 * share:.1f}".rstrip("0").rstrip(".") + "%"
    return f"{100 * share:.1g}%"


def _ms_cell(value, marked: bool) -> str:
    """A time as :func:`_cost_number` prints it, with :data:`LOAD_MARK` after it when ``marked``."""
    text = _cost_number(value)
    return f"{text} {LOAD_MARK}" if marked and text != "-" else text


def _marked(r) -> bool:
    """Whether a :func:`cost_frame` row was timed under load (False where not recorded)."""
    return bool(r["under load"]) if not pd.isna(r["under load"]) else False


def cost_latex(df: pd.DataFrame) -> str:
    """The cost tables of :func:`cost_markdown` in LaTeX (booktabs), labelled "tab:" dataset-backbone-cost:
    rows resampler and target, then the size (h x w) and the costs; split into parts where a page is
    too narrow for every column. '' when the rows carry no cost columns."""
    costs = cost_frame(df)
    if costs.empty:
        return ""
    numbers = [c for c in COST_KEEP if c in costs and c not in ("resampler", "target", "target_h", "target_w")]
    out = []
    label = label_maker()
    for (dataset, backbone), part in costs.groupby(["dataset", "backbone"], sort=False):
        rows = []
        for _, r in part.iterrows():
            size = "-" if pd.isna(r["target_h"]) else f"{int(r['target_h'])}x{int(r['target_w'])}"
            rows.append([(str(r["resampler"]), "", 0), (str(r["target"]), "", 0), (size, "", 0)]
                        + [(_ms_cell(r[c], _marked(r)) if c.startswith("ms ") else _cost_number(r[c]), "", 0)
                           for c in numbers])
        head = [("resampler", ""), ("target", ""), ("size", "h x w")] + [_cost_head(c) for c in numbers]
        caption = " ".join([f"{dataset} / {backbone}: cost per image (mean over test images and seeds), same run."]
                           + load_legend(part))
        out += [tex_tables(caption, label(dataset, backbone, "", "cost"), head, rows, keep=2), ""]
    return "\n".join(out)


COST_KEEP = ["resampler", "target", "target_h", "target_w", "params (M)", "GFLOPs resample", "GFLOPs enhance",
             "GFLOPs upsample", "GFLOPs total", "ms resample", "ms enhance", "ms upsample", "ms end to end",
             "peak MiB resample", "peak MiB enhance", "peak MiB upsample"]


def _cost_table(part: pd.DataFrame, cols: list[str]) -> str:
    """One block's cost rows as a Markdown table; where a row was timed under load, every time of
    the block as text (:func:`_ms_cell`), the marked ones with :data:`LOAD_MARK`, right-aligned."""
    table = part[cols].round(3)
    if not part["under load"].fillna(False).astype(bool).any():
        return table.to_markdown(index=False)
    marks = [_marked(r) for _, r in part.iterrows()]
    for c in [c for c in cols if c.startswith("ms ")]:
        table[c] = [_ms_cell(v, m) for v, m in zip(part[c], marks)]
    return table.to_markdown(index=False, colalign=["left" if c in ("resampler", "target") else "right" for c in cols])


def cost_markdown(df: pd.DataFrame) -> str:
    """The cost tables (one per dataset and backbone), or '' when the rows carry no cost columns."""
    costs = cost_frame(df)
    if costs.empty:
        return ""
    out = ["## Cost: parameters, GFLOPs and time per stage (mean over test images), same run\n"]
    for (dataset, backbone), part in costs.groupby(["dataset", "backbone"], sort=False):
        cols = [c for c in COST_KEEP if c in part]
        out += [f"### {dataset} / {backbone}\n", _cost_table(part, cols), ""] + [line + "\n" for line in load_legend(part)]
    out.append("Each job's wall time and peak resident memory are in job_costs.md (from Snakemake's benchmark files).\n")
    return "\n".join(out)
