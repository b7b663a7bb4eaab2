"""The LaTeX layout of the tables (lmar.report.latex), each rule checked on cases worked out by hand."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from lmar.report import latex


def test_special_characters_are_escaped_and_symbols_named():
    assert latex._latex_text(r"a_b 5% #1 $x {y} ~ ^ \ ↑ ↓ † ‡ &") == (
        r"a\_b 5\% \#1 \$x \{y\} \textasciitilde{} \textasciicircum{} \textbackslash{} "
        r"$\uparrow$ $\downarrow$ \dag{} \ddag{} \&")


def test_a_label_keeps_lower_case_letters_and_digits_only():
    assert latex.latex_label("UHD-LOL4K", "U-Net", "", "PSNR ↑") == "tab:uhd-lol4k-u-net-psnr"
    assert latex.latex_label("a__b", "c..d") == "tab:a-b-c-d"


def test_labels_are_unique_and_name_the_seeds_after_the_first_block():
    label = latex.label_maker()
    assert label("mini", "unet", "0,1,2", "psnr") == "tab:mini-unet-psnr"
    assert label("mini", "unet", "0", "psnr") == "tab:mini-unet-seeds-0-psnr"  # a second block: its seeds named
    assert label("mini", "unet", "0,1,2", "learned_resizer") == "tab:mini-unet-learned-resizer"
    assert label("mini", "unet", "0,1,2", "learned-resizer") == "tab:mini-unet-learned-resizer-2"
    assert label("mini", "unet", "0,1,2", "learned resizer") == "tab:mini-unet-learned-resizer-3"


def test_columns_split_into_the_fewest_runs_that_fit_in_order():
    # 10 + 20 fit 50, a third (30) would not; 30 alone; 40 alone (30 + 40 > 50); 60 is wider than the room
    assert latex._chunks([10, 20, 30, 40, 60, 5], 50) == [[0, 1], [2], [3], [4], [5]]
    assert latex._chunks([25, 25, 25, 25], 50) == [[0, 1], [2, 3]]  # exactly full fits
    assert latex._chunks([], 50) == [[]]


def test_a_column_is_as_wide_as_its_widest_line_plus_the_space_around_it():
    # Computer Modern at 10pt: a digit 5pt (bold 5.75), "." 2.78pt (its class's bold 3.5), "M" 10.28, "w" 7.23
    assert latex._text_pt("12.34") == 4 * 5.01 + 2.78 and latex._text_pt("12.34", bold=True) == 4 * 5.75 + 3.5
    assert latex._text_pt("Mw") == 10.28 + 7.23
    assert latex._text_pt("✓") == latex._text_pt("W")  # a character not in the table counts as the widest
    # a bold first line (rank 1) against its second line at 0.86: 26.5 > "ab" (5.01 + 5.56) x 0.86
    assert latex._width(("Mw", ""), [("12.34", "ab", 1)]) == 4 * 5.75 + 3.5 + 12.0
    assert latex._width(("Mw", ""), [("12.34", "ab", 2)]) == 4 * 5.01 + 2.78 + 12.0  # underlined: not wider
    assert latex._width(("Mw", ""), [("1", "", 0)], size=0.93) == (10.28 + 7.23) * 0.93 + 12.0  # the head


MEASURED = ["learned_resizer - lanczos3", "full_resolution (no resampling)", "+0.20 100% †", "[-0.19, -0.09]",
            "PSNR (dB) ↑", "x1.5", "22.80", "0.6739 [0.5497, 0.7509]", "saves FLOPs with a backbone above (kFLOP/pixel)",
            "lmar_big", "no-feature-loss - lmar", "Weights 50% #1 & more", "SSIM ↓ ‡"]


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not on PATH (texlive is not installed here)")
@pytest.mark.parametrize("encoding", ["OT1", "T1"])
def test_character_widths_are_computer_modern_s_as_pdflatex_sets_them_from_above(encoding, tmp_path):
    # pdflatex measures each text in each size the tables use, regular and bold; the estimate may not fall
    # short of it, nor exceed it by more than 12% (the classes round characters up to their widest member),
    # 20% for a text with "_" (3.6pt in OT1, 7.78pt in T1: the estimate takes the wider)
    sizes = {"normalsize": 1.0, "small": 0.93, "footnotesize": 0.86, "scriptsize": 0.82}
    boxes = []
    for k, text in enumerate(MEASURED):
        for size in sizes:
            for bold in (False, True):
                body = latex._latex_text(text)
                body = "\\textbf{" + body + "}" if bold else body
                boxes.append(f"\\setbox0=\\hbox{{\\{size} {body}}}\\typeout{{BOX {k} {size} {int(bold)} \\the\\wd0}}")
    body = "\n".join(boxes)
    (tmp_path / "w.tex").write_text(f"\\documentclass[10pt]{{article}}\n\\usepackage[{encoding}]{{fontenc}}\n"
                                    f"\\begin{{document}}\n{body}\n\\end{{document}}\n")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "w.tex"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout[-2000:]
    found = re.findall(r"^BOX (\d+) (\w+) (\d) ([\d.]+)pt", (tmp_path / "w.log").read_text(), flags=re.MULTILINE)
    assert len(found) == len(MEASURED) * len(sizes) * 2
    for k, size, bold, measured in found:
        estimate = latex._text_pt(MEASURED[int(k)], bold == "1") * sizes[size]
        slack = 1.2 if "_" in MEASURED[int(k)] else 1.12
        assert float(measured) <= estimate <= float(measured) * slack, (MEASURED[int(k)], size, bold, measured, estimate)


def test_a_row_starting_with_a_bracket_is_not_read_as_an_argument():
    assert latex._tex_line(["[1, 2]", "x"]) == r"{}[1, 2] & x \\"
    assert latex._tex_line(["a", "", "b"], small=r"\footnotesize") == r"{\footnotesize a} &  & {\footnotesize b} \\"


def test_a_wide_table_is_split_into_labelled_parts_each_with_the_naming_column():
    head = [("resampler", "")] + [(f"x{i}", "") for i in range(12)]
    rows = [[("lanczos3", "", 0)] + [("12.345", "[12.1, 12.6]", 1 if i == 0 else 0) for i in range(12)]]
    tex = latex.tex_tables("cap 50%", "tab:t", head, rows)
    parts = tex.count(r"\begin{table}")
    assert parts > 1 and tex.count("lanczos3") == parts  # the naming column repeated in every part
    assert r"\label{tab:t}" in tex and rf"\label{{tab:t-part{parts}}}" in tex
    assert f"cap 50\\% (part 1 of {parts})" in tex
    assert tex.count(r"\textbf{12.345}") == 1  # rank 1 bold, once: column x0
    assert all(f"x{i}" in tex for i in range(12))


def five_targets(name: str, top: str, bottom: str):
    head = [("pair", "")] + [(f"x{t}", "") for t in (1.5, 1.8, 2, 3, 4)]
    return head, [[(name, "", 0)] + [(top, bottom, 0)] * 5]


# The widths below are Computer Modern's (latex.CM_PT, checked against pdflatex above), rounded to 0.01pt; a column
# is its widest line plus 12pt, in the table's size (\small 0.93, \footnotesize 0.86 of 10pt's widths) or, for a
# second line, in \footnotesize (0.86) at 10pt and \scriptsize (0.82) in a smaller table.


def test_a_table_that_fits_at_10pt_keeps_its_type():
    # "lmar" 20.08 + 12; "+0.2" 20.65, "[-0.1, +0.3]" 48.47 x 0.86 = 41.68, "x1.5" 18.36: columns of 53.68,
    # 5 x 53.68 = 268.4 <= 345 - 32.08
    tex = latex.tex_tables("cap", "tab:t", *five_targets("lmar", "+0.2", "[-0.1, +0.3]"))
    assert "\\label{tab:t}\n\\begin{tabular}" in tex and tex.count(r"{\footnotesize [-0.1, +0.3]}") == 5


def test_a_table_too_wide_at_10pt_is_set_smaller_in_one_piece():
    # "lmar - lanczos3" 66.88; "+0.2 50%" 42.35, "[-0.1, 0.3]" 40.62.
    # 10pt: columns max(42.35, 40.62 x 0.86) + 12 = 54.35, 5 x 54.35 = 271.75 > 345 - 78.88 = 266.12
    # \small: max(42.35 x 0.93, 40.62 x 0.82) + 12 = 51.39, 256.93 <= 345 - (66.88 x 0.93 + 12) = 270.8
    tex = latex.tex_tables("cap", "tab:t", *five_targets("lmar - lanczos3", "+0.2 50%", "[-0.1, 0.3]"))
    assert tex.count(r"\begin{table}") == 1 and "part 1" not in tex
    assert "\\label{tab:t}\n\\small\n\\begin{tabular}{lrrrrr}" in tex
    assert tex.count(r"{\scriptsize [-0.1, 0.3]}") == 5


def test_a_table_too_wide_even_in_footnotesize_is_split_evenly_in_it():
    # "lmar - bicubic" 61.80; "+0.20 83%" 50.27, "[-0.10, +0.30]" 58.48: in \footnotesize columns of
    # max(43.23, 47.95) + 12 = 59.96, 5 x 59.96 = 299.8 > 345 - (53.15 + 12) = 279.85, where four would fit
    # (239.8): two parts share the five columns as three and two, not four and one
    tex = latex.tex_tables("cap", "tab:t", *five_targets("lmar - bicubic", "+0.20 83%", "[-0.10, +0.30]"))
    assert tex.count(r"\begin{table}") == 2 and tex.count("\\footnotesize\n\\begin{tabular}") == 2
    assert "\\begin{tabular}{lrrr}" in tex and "\\begin{tabular}{lrr}" in tex


def test_columns_are_shared_out_evenly_among_the_fewest_parts():
    # room 100: greedy [40, 40], [40, 10] would be 2 parts; the narrowest widest part of 2 is 80 (40 + 40 | 40 + 10)
    assert latex._balanced([40, 40, 40, 10], 100) == [[0, 1], [2, 3]]
    # five of 54 in 229: greedy 4 + 1; evenly 3 + 2
    assert latex._balanced([54.0] * 5, 229) == [[0, 1, 2], [3, 4]]
    assert latex._balanced([60, 60, 60], 100) == [[0], [1], [2]]
    assert latex._balanced([], 50) == [[]]
