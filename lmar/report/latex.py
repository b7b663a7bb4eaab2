"""LaTeX tables as the report writes them (booktabs only): text escaped, labels made unique, and a
table wider than a page split into parts of fewer columns, by widths estimated from above at 10pt
(:func:`tex_tables`). What goes in the cells is the caller's (:mod:`lmar.report.tables`,
:mod:`lmar.report.cost_tables`)."""

from __future__ import annotations

import re

TEXT_WIDTH_PT = 345.0  # \textwidth of LaTeX's article class at 10pt, the narrowest of the common ones
CHAR_PT = 5.0  # a digit of Computer Modern at 10pt; most lower-case letters are narrower
WIDE_PT = 7.5  # a capital, "m" or "w": most are narrower
BOLD = 1.15  # bold against regular Computer Modern: a cell's first line may be bold
SMALL = 0.8  # \footnotesize (8pt) against 10pt: a cell's second line
COLUMN_PT = 12.0  # the space booktabs' tabular puts around a column (2 x \tabcolsep)


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


def _text_pt(text: str) -> float:
    """The points ``text`` takes at 10pt, estimated from above: :data:`WIDE_PT` per capital, "m" or
    "w", :data:`CHAR_PT` per other character."""
    return sum(WIDE_PT if c.isupper() or c in "mw" else CHAR_PT for c in text)


def _width(head: tuple[str, str], cells) -> float:
    """The points one column needs at most: its head's two lines, its cells' first lines (perhaps
    bold) and second lines (small type), and the space around it."""
    return max([_text_pt(line) for line in head]
               + [max(_text_pt(top) * BOLD, _text_pt(bottom) * SMALL) for top, bottom in cells]) + COLUMN_PT


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


def _tex_line(cells: list[str], small: bool = False) -> str:
    """One row of a tabular from LaTeX cells (in small type with ``small``). A row starting with "["
    gets "{}" before it, or the previous row's ``\\\\`` would read it as its optional argument."""
    body = " & ".join(f"{{\\footnotesize {c}}}" if small and c else c for c in cells)
    return ("{}" if body.startswith("[") else "") + body + r" \\"


def tex_tables(caption: str, label: str, head: list[tuple[str, str]], rows: list[list[tuple[str, str, int]]],
                keep: int = 1) -> str:
    """booktabs tables of ``rows`` (each a list of cells (line 1, line 2, rank): rank 1 bold, 2
    underlined, line 2 in small type below line 1, '' for none) under ``head`` ((line 1, line 2) per
    column), all text plain (escaped here). The first ``keep`` columns name a row; the others are split
    into as few tables as keep each within :data:`TEXT_WIDTH_PT` (by :func:`_width`), each repeating
    the naming columns, labelled ``label`` and then ``label``-part2, -part3, ..."""
    widths = [_width(head[j], [row[j][:2] for row in rows]) for j in range(len(head))]
    parts = _chunks(widths[keep:], TEXT_WIDTH_PT - sum(widths[:keep]))
    out = []
    for k, part in enumerate(parts, start=1):
        chosen = list(range(keep)) + [keep + i for i in part]
        title = caption + (f" (part {k} of {len(parts)})" if len(parts) > 1 else "")
        lines = [r"\begin{table}[htbp]", r"\centering", f"\\caption{{{_latex_text(title)}}}",
                 f"\\label{{{label if k == 1 else f'{label}-part{k}'}}}",
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
                lines.append(_tex_line([_latex_text(row[j][1]) for j in chosen], small=True))
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
