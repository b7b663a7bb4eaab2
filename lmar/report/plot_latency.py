"""The quality-against-latency figure: PSNR against end-to-end time per image, one point per resampler
and target, one panel per table block, whose target labels never overlap one another or a marker, and
whose title says on which device(s), under what load and when the times were taken. A panel with more
resamplers than :data:`CROWDED` (an ablation study's variants) is drawn one target a panel instead
(:func:`by_target`): there the panel's title names the target, and no point needs a label.

Labels are placed here (adjustText is not a dependency): each beside its point in the first of eight
directions where it overlaps no label placed before it and no marker, else further out on a leader
line; a label no place fits becomes a number in the plot, named in a key below the panel. A panel
whose times span ten times or more (the full-resolution row against x4) gets a log time axis.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from lmar.core.errors import LmarError
from lmar.core.metric_table import METRICS
from lmar.report.blocks import by_scale
from lmar.report.cost_tables import LOAD_MARK, counted_span, load_under
from lmar.report.plot_style import panels, resampler_styles, styled
from lmar.report.verdicts import kept_initial_weights_labels, kept_initial_weights_title, wrap_names
from lmar.run.targets import FULL

MARKER_AREA = 60  # the points' size (seaborn's ``s``: points squared)
PAD_PX = 1.5  # the least room, in pixels, between two labels or a label and a marker
RINGS_PT = (12, 18, 26, 36, 48, 62, 80)  # distances (points) tried on a leader line, in order
KEY_LINE_IN = 0.11  # the height of one line of a panel's key (6 pt type), inches
CROWDED = 8  # a panel with more resamplers than this is drawn one target a panel (:func:`by_target`)
RING_AREA = 2.5 * MARKER_AREA  # the ring around a point timed under load, in the one-target-a-panel figure
X_LABEL = "end-to-end time per image (ms)"
X_LABEL_LOG = "end-to-end time per image (ms, log scale)"
KEPT_WIDTH = 120  # characters to a line of the one-target-a-panel figure's title, per table block


def quality_latency(df: pd.DataFrame):
    """PSNR against end-to-end milliseconds per image (mean over images and seeds), one point per
    resampler and target size, one panel per table block (:func:`lmar.report.plot_style.panels`): what speed
    buys what quality. The title names the device(s), the load and the newest time the times were
    taken at (:func:`timing_title`); a target timed under load has :data:`lmar.report.cost_tables.LOAD_MARK`.
    A panel's title names the trainable resamplers that kept their initial weights there (early
    stopping), as the scale figure's does: their points are the untrained parts'.
    Returns the seaborn grid (its ``.figure`` is what :func:`lmar.report.plots.write_plots` saves)."""
    import matplotlib

    matplotlib.use("Agg")
    import seaborn as sns

    styles = resampler_styles(df)
    d = panels(df)
    d = d.assign(ms=d["time_s"] * 1000.0)
    mean = d.groupby(["panel", "resampler", "target"], sort=False).agg(psnr=("psnr", "mean"), ms=("ms", "mean"))
    if d.groupby("panel", sort=False)["resampler"].nunique().max() > CROWDED:
        return by_target(df, d, mean, styles)
    grid = sns.relplot(data=mean.reset_index(), x="ms", y="psnr", hue="resampler", style="resampler", col="panel",
                       s=MARKER_AREA, height=3.5, aspect=1.2, facet_kws={"sharex": False, "sharey": False},
                       **styled(*styles, d["resampler"]))
    grid.set_axis_labels(X_LABEL, METRICS["psnr"].label)
    for panel, ax in grid.axes_dict.items():
        _log_time(ax, mean.loc[panel, "ms"])
    for panel, ax in grid.axes_dict.items():  # as the scale figure: whose points are an untrained part's
        rows = d[d["panel"] == panel]
        ax.set_title(panel + kept_initial_weights_title(rows, list(dict.fromkeys(rows["resampler"]))),
                     fontsize="medium")
    title = grid.figure.suptitle(timing_title(df), fontsize="small")
    grid.tight_layout()
    marked = _under_load(d)
    points = {panel: [{"x": r["ms"], "y": r["psnr"], "name": f"{resampler} {target}", "colour": styles[1][resampler],
                       "text": target + (f" {LOAD_MARK}" if (panel, resampler, target) in marked else "")}
                      for (resampler, target), r in mean.loc[panel].iterrows()]
              for panel in grid.axes_dict}
    _label_panels(grid, points, title)
    return grid


def by_target(df: pd.DataFrame, d: pd.DataFrame, mean: pd.DataFrame, styles: tuple):
    """The figure of :func:`quality_latency` for panels too crowded to label: a row of panels per
    table block (``d``, rows of :func:`lmar.report.plot_style.panels`), one panel per target in the
    order of their factors, each holding every resampler's point at that target (``mean``), on a log
    time axis. Points timed under load are ringed. The title says so, and per block gives the
    full-resolution reference (its PSNR and time: a point of its own would stretch every panel's
    PSNR axis past the differences it is drawn to show) and names the trainable resamplers that kept
    their initial weights. Returns the seaborn grid."""
    import seaborn as sns

    marked = _under_load(d)
    m = mean.reset_index()
    m["loaded"] = [(p, r, t) in marked for p, r, t in zip(m["panel"], m["resampler"], m["target"])]
    targets = [t for t in by_scale(d).index if t != FULL]
    shown = m[m["target"] != FULL]
    rows = list(dict.fromkeys(d["panel"]))
    grid = sns.relplot(data=shown, x="ms", y="psnr", hue="resampler", style="resampler", row="panel", col="target",
                       row_order=rows, col_order=targets, s=MARKER_AREA, height=2.8, aspect=1.0,
                       facet_kws={"sharex": False, "sharey": False},
                       **styled(*styles, shown["resampler"]))
    grid.set_axis_labels("", METRICS["psnr"].label)
    for (panel, target), ax in grid.axes_dict.items():
        ax.set_title(f"{panel}, {target}", fontsize="medium")
        here = shown[(shown["panel"] == panel) & (shown["target"] == target)]
        _log_time(ax, here["ms"], span=1)
        ax.set_xlabel("")
        ax.margins(0.12)  # a ring at the panel's edge stays inside it
        loaded = here[here["loaded"]]
        if len(loaded):
            ax.scatter(loaded["ms"], loaded["psnr"], s=RING_AREA, facecolors="none", edgecolors="black",
                       linewidths=0.8)
    grid.figure.supxlabel(X_LABEL_LOG)
    lines = [timing_title(df, mark="ringed:")]
    for panel in rows:
        block = m[m["panel"] == panel]
        full = block[block["target"] == FULL]
        reference = "; ".join(f"{r['resampler']} (no resampling) {r['psnr']:.2f} dB at {_ms(r['ms'])} ms"
                              + (" (timed under load)" if r["loaded"] else "") for _, r in full.iterrows())
        untrained = kept_initial_weights_labels(d[d["panel"] == panel], list(dict.fromkeys(block["resampler"])))
        kept = f"kept their initial weights: {', '.join(untrained)}" if untrained else ""
        if reference or kept:
            lines += wrap_names(f"{panel}: " + "; ".join(filter(None, (reference, kept))), KEPT_WIDTH)
    grid.figure.suptitle("\n".join(lines), fontsize="small")
    grid.tight_layout()
    return grid


def _ms(value: float) -> str:
    """Milliseconds to three significant digits, written out in full from 1000 on ("28,900", not
    "2.89e+04")."""
    return f"{value:.3g}" if value < 1000 else f"{value:,.0f}"


LOG_SPAN = 10  # a panel whose times span this factor or more gets a log time axis


def _log_time(ax, ms: pd.Series, span: float = LOG_SPAN) -> None:
    """A log time axis (plain numbers at its ticks) where the panel's times span ``span`` or more
    (:data:`LOG_SPAN`: the full-resolution row's seconds would otherwise press the resampled targets to
    the left) and every time is above zero."""
    from matplotlib.ticker import FuncFormatter

    positive = ms[ms > 0]
    if len(positive) and positive.max() >= span * positive.min() and len(positive) == len(ms):
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        # within a decade matplotlib labels every minor tick (2, 3, ..., 9 x 10^k, in scientific notation,
        # side by side): label only 2 and 5 x 10^k, as plain numbers
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "25" else ""))
        ax.set_xlabel(X_LABEL_LOG)


def _under_load(d: pd.DataFrame) -> set:
    """The (panel, resampler, target) of ``d`` (rows of :func:`lmar.report.plot_style.panels`) timed under load
    (:func:`lmar.report.cost_tables.load_under`)."""
    loads = load_under(d.assign(dataset=d["panel"]))
    return {(r["dataset"], r["resampler"], r["target"]) for _, r in loads.iterrows() if r["under load"]}


def timing_title(df: pd.DataFrame, mark: str = LOAD_MARK) -> str:
    """Where and when the times of ``df`` were taken, on two lines: "timed on cpu:x86_64x2, newest
    2026-12-04 23:45 UTC" and "load 0.40-3.10 on 2 CPUs, 1 own thread" (the 1-minute load
    average over every row; "; ‡ timed under load" when some row was, with ``mark`` for how such a
    point is marked); "load not recorded" (and no time) for results from before they were recorded."""
    devices = sorted(set(df["device"].dropna().astype(str))) if "device" in df else []
    where = f"timed on {', '.join(devices)}" if devices else "device not recorded"
    newest = newest_time(df)
    first = where + (f", newest {newest:%Y-%m-%d %H:%M} UTC" if newest is not None else "")
    return first + "\n" + _load_text(df, mark)


def _load_text(df: pd.DataFrame, mark: str) -> str:
    """The load line of :func:`timing_title`."""
    cols = ["load_1m", "cpus", "threads"]
    recorded = df.dropna(subset=cols) if set(cols) <= set(df) else df.iloc[:0]
    if recorded.empty:
        return "load not recorded"
    low, high = recorded["load_1m"].min(), recorded["load_1m"].max()
    text = f"load {low:.2f}" + (f"-{high:.2f}" if high > low else "")
    text += f" on {counted_span(recorded['cpus'], 'CPU')}, {counted_span(recorded['threads'], 'own thread')}"
    if load_under(df)["under load"].any():  # the cost table's rule, so the title and the table agree
        text += f"; {mark} timed under load"
    if len(recorded) < len(df):
        text += f"\nload not recorded for {len(df) - len(recorded)} of {len(df)} rows"
    return text


def newest_time(df: pd.DataFrame):
    """The newest ``timed_at`` of ``df`` (a UTC timestamp), None where no row recorded one; text that
    is not an ISO 8601 time is an LmarError naming the column and the value."""
    if "timed_at" not in df:
        return None
    text = df["timed_at"].dropna().astype(str)
    text = text[text != ""]
    if text.empty:
        return None
    times = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    if times.isna().any():
        bad = text[times.isna()].iloc[0]
        raise LmarError(f"results column timed_at holds {bad!r}, not an ISO 8601 time (e.g. "
                        "2026-12-04T23:45:00.000+00:00). Re-run its evaluation, or correct the file by hand.")
    return times.max()


def _label_panels(grid, points: dict, title) -> None:
    """Each panel's points labelled (:func:`_place`); where a label fits nowhere, the figure grows
    below by the longest key (``title``, the suptitle, kept at the top) and every panel is labelled
    again, with numbers for those (:func:`_key`)."""
    fig = grid.figure
    for ax in grid.axes_dict.values():
        ax.margins(0.1)  # room for labels at the edges; then the limits stay as they are
        ax.set_xlim(ax.get_xlim())
        ax.set_ylim(ax.get_ylim())
    fig.canvas.draw()
    placed = {panel: _place(grid.axes_dict[panel], pts) for panel, pts in points.items()}
    lines = max(len(left) for _, left in placed.values())
    if lines:
        for artists, _ in placed.values():
            for artist in artists:
                artist.remove()
        _grow_below(fig, lines * KEY_LINE_IN + 0.15, title)
        fig.canvas.draw()
        for panel, pts in points.items():
            _key(grid.axes_dict[panel], pts)


def _grow_below(fig, inches: float, title) -> None:
    """``fig`` taller by ``inches``, added below its axes, which keep their size (and ``title``, the
    suptitle, its place at the top)."""
    w, h = fig.get_size_inches()
    sub = fig.subplotpars
    fig.set_size_inches(w, h + inches)
    fig.subplots_adjust(bottom=(sub.bottom * h + inches) / (h + inches), top=(sub.top * h + inches) / (h + inches))
    title.set_y((title.get_position()[1] * h + inches) / (h + inches))


def _key(ax, pts: list[dict]) -> None:
    """Label ``pts`` (:func:`_place`); each that fits nowhere gets a number placed so instead, and
    the numbers are named in a key below the panel (with the point's values where no number fits)."""
    _, left = _place(ax, pts)
    if not left:
        return
    numbered = [dict(p, text=str(i)) for i, p in enumerate(left, start=1)]
    _, unplaced = _place(ax, numbered, taken=_boxes(ax), others=[p for p in pts if p not in left])
    lines = [f"{p['text']}: {p['name']}" if p not in unplaced else
             f"{p['name']} (no room for a label): {_ms(p['x'])} ms, {p['y']:.2f} dB" for p in numbered]
    ax.annotate("\n".join(lines), (0, 0), xycoords="axes fraction", xytext=(0, -32), textcoords="offset points",
                va="top", ha="left", fontsize=6, color="dimgrey")


def _boxes(ax) -> list:
    """The window boxes of the labels already in ``ax`` (its texts)."""
    renderer = ax.figure.canvas.get_renderer()
    return [t.get_window_extent(renderer) for t in ax.texts if t.get_text()]


def _place(ax, pts: list[dict], taken=(), others=()) -> tuple[list, list[dict]]:
    """Label each point of ``pts`` ({x, y, text, colour}) in ``ax``: its text placed beside it, in the
    first of eight directions at which the text's box lies inside the axes and overlaps no box in
    ``taken``, no label placed before it and no marker (of ``pts`` and ``others``); else at each
    distance of :data:`RINGS_PT` in sixteen directions, joined to its point by a leader line crossing
    no label and no marker but those on top of its own. The most crowded points are placed first.
    Returns the artists added and the points that fit nowhere (not labelled)."""
    from matplotlib.lines import Line2D
    from matplotlib.transforms import Bbox

    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer).padded(-PAD_PX)
    radius = math.sqrt(MARKER_AREA) / 2 * fig.dpi / 72 + PAD_PX
    at = ax.transData.transform(np.array([[p["x"], p["y"]] for p in pts], dtype=float).reshape(-1, 2))
    beside = ax.transData.transform(np.array([[p["x"], p["y"]] for p in others], dtype=float).reshape(-1, 2))
    markers = [Bbox.from_bounds(x - radius, y - radius, 2 * radius, 2 * radius) for x, y in at]
    other_markers = [Bbox.from_bounds(x - radius, y - radius, 2 * radius, 2 * radius) for x, y in beside]
    boxes = list(taken)
    near = [sum(np.hypot(*(at - xy).T) < 4 * radius) for xy in at]
    artists, left = [], []
    for i in sorted(range(len(pts)), key=lambda i: -near[i]):
        p = pts[i]
        label = ax.annotate(p["text"], (p["x"], p["y"]), xytext=(0, 0), textcoords="offset points", fontsize=6,
                            color=p["colour"])
        found = None
        for (dx, dy), ha, va, leader in _candidates((radius + 2 * PAD_PX) * 72 / fig.dpi):
            label.xyann = (dx, dy)
            label.set(ha=ha, va=va)
            box = label.get_window_extent(renderer)
            if not (frame.containsx(box.x0) and frame.containsx(box.x1) and frame.containsy(box.y0)
                    and frame.containsy(box.y1)):
                continue
            if any(box.overlaps(b.padded(PAD_PX)) for b in boxes + markers + other_markers):
                continue
            end = at[i] + np.array([dx, dy]) * fig.dpi / 72
            # a leader may leave its point through the markers on top of it, and cross no other
            apart = [m for m in markers + other_markers if not m.overlaps(markers[i])]
            if leader and _crosses(at[i] + (end - at[i]) * radius / np.hypot(*(end - at[i])), end, boxes + apart):
                continue
            found = (box, end if leader else None)
            break
        if found is None:
            label.remove()
            left.append(p)
            continue
        boxes.append(found[0])
        artists.append(label)
        if found[1] is not None:
            x0, y0 = ax.transData.inverted().transform(at[i] + (found[1] - at[i]) * radius / np.hypot(*(found[1] - at[i])))
            x1, y1 = ax.transData.inverted().transform(found[1])
            line = Line2D([x0, x1], [y0, y1], lw=0.5, color=p["colour"], alpha=0.8)
            ax.add_artist(line)  # not add_line: the limits stay as they are
            artists.append(line)
    return artists, left


def _candidates(radius_pt: float):
    """Offsets (points) of a label from its point, with its alignment and whether it needs a leader
    line: the eight directions just beyond the marker, then :data:`RINGS_PT` in sixteen directions."""
    near = radius_pt + 1
    for cx, cy in ((1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1)):
        yield (cx * near, cy * near), *_align(cx, cy), False
    for distance in RINGS_PT:
        for k in range(16):
            a = 2 * math.pi * k / 16 + math.pi / 8
            c, s = math.cos(a), math.sin(a)
            yield (distance * c, distance * s), *_align(c, s), True


def _align(cx: float, cy: float) -> tuple[str, str]:
    """The text alignment that puts a label on the side ``(cx, cy)`` of its anchor."""
    ha = "left" if cx > 0.3 else "right" if cx < -0.3 else "center"
    va = "bottom" if cy > 0.3 else "top" if cy < -0.3 else "center"
    return ha, va


def _crosses(a, b, boxes, steps: int = 16) -> bool:
    """Whether the segment from ``a`` to ``b`` (pixels) passes through any of ``boxes``."""
    for t in np.linspace(0.0, 1.0, steps):
        x, y = a + (b - a) * t
        if any(box.x0 <= x <= box.x1 and box.y0 <= y <= box.y1 for box in boxes):
            return True
    return False
