"""LaTeX tables as the report writes them (booktabs only): text escaped, labels made unique, and a
table wider than a page set in smaller type, or where that is not enough split into parts of fewer
columns, by widths estimated from above with Computer Modern's own character widths
(:func:`tex_tables`). What goes in the cells is the caller's (:mod:`lmar.report.tables`,
:mod:`lmar.report.cost_tables`)."""

from __future__ import annotations

import re

TEXT_WIDTH_PT = 345.0  # \textwidth of LaTeX's article class at 10pt, the narrowest of the common ones
COLUMN_PT = 12.0  # the space booktabs' tabular puts around a column (2 x \tabcolsep; it does not scale with the type)
# Computer Modern's character widths at 10pt, (regular, bold) in points, as pdflatex sets them (the wider of the
# OT1 and T1 encodings), each class at its widest member's: the widths a table's text takes. Any other
# character counts as the widest of all ("W").
_CLASSES = (
    ("',.:;[]`il!", 2.78, 3.50), ("jf", 3.06, 4.61), (" -", 3.34, 3.84), ("I()trs", 3.95, 4.74),
    ("cez?", 4.73, 5.44), ("†‡", 4.45, 5.11), ("↑↓", 5.00, 5.00), ("$*/0123456789\\o{}a", 5.01, 5.75),
    ('g"JkqxvySbdhnpu', 5.56, 6.39), ("^~ZLF", 6.53, 7.24), ("EPBTCw", 7.23, 8.47),
    ("RAXUVYHNDOQ&+<=>@_KG", 7.85, 9.05), ("#%m", 8.34, 9.59), ("M|W", 10.28, 12.05))
CM_PT = {c: (regular, bold) for chars, regular, bold in _CLASSES for c in chars}
WIDEST = CM_PT["W"]
# The type sizes a table may take, largest first: (the command before its tabular, its widths against 10pt's,
# the command of a cell's second line, that line's widths against 10pt's). A smaller size of Computer Modern is
# relatively wider than its nominal ratio (optical sizes): \small 9/10 sets text up to 0.93 as wide,
# \footnotesize 8/10 up to 0.86, \scriptsize 7/10 up to 0.82 (measured, every character above). A table takes
# the largest size in which it fits the page in one part; one too wide even in the last is split
# (:func:`tex_tables`).
SIZES = (("", 1.0, r"\footnotesize", 0.86), (r"\small", 0.93, r"\scriptsize", 0.82),
         (r"\footnotesize", 0.86, r"\scriptsize", 0.82))


def _latex_text(text: str) -> str:
    """``text`` as LaTeX prints it: its special characters escaped, arrows and dagger as symbols."""
    special = {"\\": r"\textbackslash{}", "_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#", "$": r"\$",
               "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
               "↑": r"$\uparrow$", "↓": r"$\downarrow$", "†": r"\dag{}", "‡": r"\ddag{}"}
    return "".join(special.get(c, c) for c in text)


def latex_label(*parts) -> str:
    """A LaTeX label from ``parts`` (dataset, backbone, metric, ...): "tab:" and the parts in lower
    case joined by "-", every character other than a-z and 0-9 made "-" (a label may not hold
    LaTeX's special characters, and some packages choke on others)."""
    slug = "-".join(re.sub(r"[^a-z0-9]+", "-", str(p).lower()).strip("-") for p in parts if str(p) != "")
    return "tab:" + re.sub(r"-+", "-", slug).strip("-")


def _text_pt(text: str, bold: bool = False) -> float:
    """The points ``text`` takes at 10pt (in bold with ``bold``), from above: :data:`CM_PT` per character."""
    return sum(CM_PT.get(c, WIDEST)[bold] for c in text)


def _width(head: tuple[str, str], cells, size: float = 1.0, small: float = 0.86) -> float:
    """The points one column needs at most: its head's two lines, its cells' first lines (bold where
    ranked first) and second lines, at the table's ``size`` and the second lines' ``small`` (widths
    against 10pt's: :data:`SIZES`), and the space around it. ``cells``: (line 1, line 2, rank) each."""
    return max([_text_pt(line) * size for line in head]
               + [max(_text_pt(top, rank == 1) * size, _text_pt(bottom) * small) for top, bottom, rank in cells]
               ) + COLUMN_PT


def _chunks(widths: list[float], room: float) -> list[list[int]]:
    """The columns (their indices) split, in order, into the fewest runs whose widths fit ``room``
    (a column wider than ``room`` alone gets a run of its own)."""
    out: list[list[int]] = [[]]
    used = 0.0
    for i, w in enumerate(widths):
        if out[-1] and used + w > room:
            out.append([])
            used = 0.0
        out[-1].append(i)
        used += w
    return out


def _balanced(widths: list[float], room: float) -> list[list[int]]:
    """As many runs as :func:`_chunks` needs for ``room``, their widest as narrow as it can be: the
    columns shared out evenly (three and two of five, not four and one)."""
    parts = _chunks(widths, room)
    caps = sorted({sum(widths[i:j]) for i in range(len(widths)) for j in range(i + 1, len(widths) + 1)})
    cap = next((c for c in caps if c <= room and len(_chunks(widths, c)) == len(parts)), None)
    return parts if cap is None else _chunks(widths, cap)


def _tex_line(cells: list[str], small: str = "") -> str:
    """One row of a tabular from LaTeX cells (each in the type ``small`` names, e.g. ``\\footnotesize``,
    where given). A row starting with "[" gets "{}" before it, or the previous row's ``\\\\`` would read
    it as its optional argument."""
    body = " & ".join(f"{{{small} {c}}}" if small and c else c for c in cells)
    return ("{}" if body.startswith("[") else "") + body + r" \\"


def tex_tables(caption: str, label: str, head: list[tuple[str, str]], rows: list[list[tuple[str, str, int]]],
                keep: int = 1) -> str:
    """booktabs tables of ``rows`` (each a list of cells (line 1, line 2, rank): rank 1 bold, 2
    underlined, line 2 in small type below line 1, '' for none) under ``head`` ((line 1, line 2) per
    column), all text plain (escaped here). The first ``keep`` columns name a row; the others are split
    into as few tables as keep each within :data:`TEXT_WIDTH_PT` (by :func:`_width`), each repeating
    the naming columns, labelled ``label`` and then ``label``-part2, -part3, ... A table is first set in
    smaller type (:data:`SIZES`, down to ``\\footnotesize``) before it is split: a paper's table of five
    targets reads better small in one piece than in three."""
    for command, size, small, small_size in SIZES:
        widths = [_width(head[j], [row[j] for row in rows], size, small_size) for j in range(len(head))]
        parts = _balanced(widths[keep:], TEXT_WIDTH_PT - sum(widths[:keep]))
        if len(parts) == 1:
            break
    out = []
    for k, part in enumerate(parts, start=1):
        chosen = list(range(keep)) + [keep + i for i in part]
        title = caption + (f" (part {k} of {len(parts)})" if len(parts) > 1 else "")
        lines = [r"\begin{table}[htbp]", r"\centering", f"\\caption{{{_latex_text(title)}}}",
                 f"\\label{{{label if k == 1 else f'{label}-part{k}'}}}"] + ([command] if command else []) + [
                 f"\\begin{{tabular}}{{{'l' * keep}{'r' * len(part)}}}", r"\toprule",
                 _tex_line([_latex_text(head[j][0]) for j in chosen])]
        if any(head[j][1] for j in chosen):
            lines.append(_tex_line([_latex_text(head[j][1]) for j in chosen]))
        lines.append(r"\midrule")
        for n, row in enumerate(rows):
            style = {1: r"\textbf{%s}", 2: r"\underline{%s}"}
            tops = [style.get(row[j][2], "%s") % _latex_text(row[j][0]) for j in chosen]
            if n and any(row[j][1] for j in range(len(row))):
                lines.append(r"\addlinespace")
            lines.append(_tex_line(tops))
            if any(row[j][1] for j in chosen):
                lines.append(_tex_line([_latex_text(row[j][1]) for j in chosen], small=small))
        lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
        out.append("\n".join(lines))
    return "\n".join(out)


def label_maker():
    """A function (dataset, backbone, seeds, *what) -> a LaTeX label unique among those it made: the
    seeds are named for every block but the first seen of a dataset and backbone (the one over all
    its seeds), and a label two names would share (learned_resizer, learned-resizer) gets -2, -3."""
    first: dict = {}
    made: set = set()

    def label(dataset, backbone, seeds, *what) -> str:
        first.setdefault((dataset, backbone), seeds)
        extra = ("seeds", seeds) if first[(dataset, backbone)] != seeds else ()
        base = latex_label(dataset, backbone, *extra, *what)
        out, k = base, 1
        while out in made:
            k += 1
            out = f"{base}-{k}"
        made.add(out)
        return out

    return label
