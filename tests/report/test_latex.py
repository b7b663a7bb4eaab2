"""The LaTeX layout of the tables (lmar.report.latex), each rule checked on cases worked out by hand."""

from __future__ import annotations

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
    # "Mw" = 7.5 + 7.5 points; "12.34" = 5 x 5 points, bold x 1.15 = 28.75; a small "ab" = 10 x 0.8
    assert latex._text_pt("Mw") == 15.0 and latex._text_pt("12.34") == 25.0
    assert latex._width(("Mw", ""), [("12.34", "ab")]) == 25.0 * 1.15 + 12.0


def test_a_row_starting_with_a_bracket_is_not_read_as_an_argument():
    assert latex._tex_line(["[1, 2]", "x"]) == r"{}[1, 2] & x \\"
    assert latex._tex_line(["a", "", "b"], small=True) == r"{\footnotesize a} &  & {\footnotesize b} \\"


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
