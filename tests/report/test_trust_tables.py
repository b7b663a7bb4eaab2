"""Tables a reader can trust (issue 23, 3): a dagger never sits on a printed zero; counts are
"1 image", "2 images", "1 seed", "2 seeds"; table.tex holds every table of table.md (per metric,
paired, cost), each with a unique label, each tabular's rows as wide as its column spec, and none
wider than a page. Every expected string is worked out by hand in the comments."""

from __future__ import annotations

import re
import shutil
import subprocess

import pandas as pd
import pytest

from lmar.report.blocks import common_rows, counted
from lmar.report.claims import claims_table
from lmar.report.overview import markdown_table
from lmar.report.tables import _comparison_markdown, render
from lmar.report.write import write_table

# ---------------------------------------------------------------- 1. digits under a dagger


def comparison(metric: str, mean: float, low: float, high: float, win: float, significant: bool) -> pd.DataFrame:
    """One row of lmar.report.stats.compare, as the tables read it."""
    return pd.DataFrame([{"dataset": "d", "backbone": "b", "target": "x2", "metric": metric, "a": "lmar",
                          "b": "bicubic", "mean_diff": mean, "ci_low": low, "ci_high": high, "win_rate": win,
                          "n_images": 6, "n_seeds": 1, "n_dropped": 0, "significant": significant,
                          "better": mean > 0}])


def cell(cmp: pd.DataFrame, metric: str) -> str:
    lines = [ln for ln in _comparison_markdown(cmp, metric).splitlines() if ln.startswith("| lmar - bicubic")]
    return lines[0].strip("| ").split("|")[1].strip()


@pytest.mark.parametrize("metric, numbers, expected", [
    # the reader's case: PSNR has 2 decimals, where this prints "-0.00 [-0.00, -0.00] 0% †"; at 3 the high
    # bound -0.0001 still prints "-0.000"; at 4 all three show their sign
    ("psnr", (-0.0004, -0.0007, -0.0001, 0.0, True), "-0.0004 [-0.0007, -0.0001] 0% †"),
    # a low bound of +0.001 would print "+0.00" at 2 decimals: 3 show it
    ("psnr", (0.012, 0.001, 0.03, 2 / 3, True), "+0.012 [+0.001, +0.030] 67% †"),
    # nothing tiny: the metric's own decimals
    ("psnr", (2.5 / 3, 0.5, 1.0, 1.0, True), "+0.83 [+0.50, +1.00] 100% †"),
    # SSIM has 4 decimals: 5 show -0.00001
    ("ssim", (-0.00004, -0.00007, -0.00001, 0.0, True), "-0.00004 [-0.00007, -0.00001] 0% †"),
    # not significant: no dagger, so no more decimals than the metric's
    ("psnr", (-0.0004, -0.0009, 0.0002, 0.4, False), "-0.00 [-0.00, +0.00] 40%"),
    # significant, but a millionth of a dB is still 0 at 2 + 4 decimals: no dagger on zeros
    ("psnr", (2e-9, 1e-9, 3e-9, 1.0, True), "+0.00 [+0.00, +0.00] 100%"),
])
def test_a_dagger_never_sits_on_a_printed_zero(metric, numbers, expected):
    assert cell(comparison(metric, *numbers), metric) == expected


def printed_zero(text: str) -> bool:
    return re.fullmatch(r"[+-]?0\.0*", text) is not None


def test_render_marks_a_tiny_but_certain_difference_with_its_sign(tmp_path):
    # lmar is 0.0004 dB below bicubic on each of 3 images: every bootstrap mean is -0.0004, the interval
    # [-0.0004, -0.0004] excludes 0; at PSNR's 2 decimals it would read "-0.00 [-0.00, -0.00] 0% †"
    rows = [{"dataset": "d", "backbone": "b", "resampler": name, "target": "x2", "scale": 2.0, "image": image,
             "seed": 0, "psnr": v - (0.0004 if name == "lmar" else 0.0), "ssim": 0.5}
            for name in ("bicubic", "lmar") for image, v in (("i1", 30.0), ("i2", 31.0), ("i3", 32.0))]
    md, tex, _ = render(pd.DataFrame(rows), ["psnr"], learned=["lmar"], n_boot=200)
    assert "| lmar - bicubic | -0.0004 [-0.0004, -0.0004] 0% † |" in md
    assert r"-0.0004 0\% \dag{}" in tex and r"{\footnotesize [-0.0004, -0.0004]}" in tex
    for line in md.splitlines():  # no dagger anywhere beside a number printed as zero
        if "†" in line and line.startswith("|"):
            for cell_text in line.strip("|").split("|")[1:]:
                if "†" in cell_text:
                    numbers = re.findall(r"[+-]?\d+\.\d+", cell_text)
                    assert numbers and not any(printed_zero(n) for n in numbers), cell_text


# ---------------------------------------------------------------- 2. counts in words


def test_counted_says_one_without_s():
    assert [counted(n, "image") for n in (0, 1, 2)] == ["0 images", "1 image", "2 images"]
    assert counted(1, "seed") == "1 seed" and counted(3, "seed") == "3 seeds"


def one_image_rows(seeds=(0,), types=False) -> pd.DataFrame:
    # bicubic and lmar on one image "a" at x1.8, lmar 1 dB above at every seed
    out = []
    for name, value in (("bicubic", 30.0), ("lmar", 31.0)):
        for seed in seeds:
            row = {"dataset": "d", "backbone": "b", "resampler": name, "target": "x1.8", "scale": 1.8, "image": "a",
                   "seed": seed, "psnr": value, "ssim": value / 100,
                   "resampler_weights": "trained" if name == "lmar" else "none"}
            if types:
                row.update(resampler_type=name, dataset_type="mini", target_h=10, target_w=10)
            out.append(row)
    return pd.DataFrame(out)


def test_one_image_and_one_seed_are_singular_in_every_table(tmp_path):
    path = tmp_path / "r.csv"
    one_image_rows(types=True).to_csv(path, index=False)
    write_table([path], tmp_path / "t.md", gain=("lmar", "bicubic"), out_tex=tmp_path / "t.tex")
    md = (tmp_path / "t.md").read_text()
    assert "PSNR (dB) / SSIM, mean over 1 test image, seed 0" in md  # the overview
    assert "PSNR (dB) ↑, mean [95% interval] over 1 test image, seed 0" in md  # per metric
    assert "PSNR (dB) ↑ (over 1 test image, seed 0)" in md  # paired
    assert "n = 1 image x 1 seed" in md  # the claims check
    assert not re.search(r"\b1 (test )?(images|seeds|paired units)\b", md + (tmp_path / "t.tex").read_text())


def test_one_image_with_two_seeds():
    df = one_image_rows(seeds=(0, 1), types=True)
    md, _, _ = render(df, ["psnr"], learned=["lmar"], n_boot=100)
    assert "over 1 test image x 2 seeds (0, 1)" in md
    assert "mean over 1 test image x 2 seeds (0, 1)" in markdown_table(df, gain=("lmar", "bicubic"))
    assert "n = 1 image x 2 seeds" in claims_table(df, n_boot=100)


def test_the_reduced_note_counts_in_words():
    # bicubic on 7 images, lmar on i0 alone: every row reduced to 1 image; 6 images left out, 5 named
    # and "1 more image"
    rows = [{"dataset": "d", "backbone": "b", "resampler": "bicubic", "target": "x2", "scale": 2.0,
             "image": f"i{k}", "seed": 0, "psnr": 30.0} for k in range(7)]
    rows.append({**rows[0], "resampler": "lmar"})
    _, note = common_rows(pd.DataFrame(rows), [0])
    assert "bicubic on 7 images x 1 seed" in note and "lmar on 1 image x 1 seed" in note
    assert "every row was reduced to the 1 image x 1 seed all share" in note
    assert note.endswith("i5 (bicubic) and 1 more image)")
    # two seeds, an incomplete matrix: lmar has i0 at seed 0 only, i1 at both -> 3 units over 2 images
    rows = [{"dataset": "d", "backbone": "b", "resampler": name, "target": "x2", "scale": 2.0, "image": im,
             "seed": s, "psnr": 30.0} for name in ("bicubic", "lmar") for im in ("i0", "i1") for s in (0, 1)
            if (name, im, s) != ("lmar", "i0", 1)]
    _, note = common_rows(pd.DataFrame(rows), [0, 1])
    assert "lmar on 3 (image, seed) units over 2 images" in note
    assert "reduced to the 1 image x 2 seeds all share" in note


# ---------------------------------------------------------------- 3. table.tex

TARGETS = [("x1.5", 1.5), ("x1.8", 1.8), ("x2", 2.0), ("x3", 3.0), ("x4", 4.0), ("x6", 6.0)]


def wide_store() -> pd.DataFrame:
    """The reader's case: 6 targets, PSNR about 16.74 [13.99, 19.59]; lmar_big learned; cost columns;
    a full-resolution row; a dataset name with LaTeX's special characters."""
    rows = []
    for k, name in enumerate(("bicubic", "lmar_big", "area", "full_resolution")):
        targets = [("full", 1.0)] if name == "full_resolution" else TARGETS
        for target, scale in targets:
            for i in range(4):
                psnr = 14.0 + 1.7 * i + 0.3 * k + 0.01 * scale
                rows.append({"dataset": "UHD_LL #2", "backbone": "unet", "resampler": name, "target": target,
                             "scale": scale, "image": f"i{i}", "seed": 0, "psnr": psnr, "ssim": psnr / 30,
                             "resampler_weights": "trained" if name == "lmar_big" else "none",
                             "target_h": 1200, "target_w": 1600, "time_s": 0.012, "resample_ms": 1.25,
                             "enhance_ms": 9.5, "upsample_ms": 1.25, "resample_gflops": 0.5, "enhance_gflops": 12.0,
                             "upsample_gflops": 0.25, "backbone_n_params": 260_000, "resampler_n_params": 1000})
    return pd.DataFrame(rows)


@pytest.fixture
def written(tmp_path):
    path = tmp_path / "r.csv"
    wide_store().to_csv(path, index=False)
    write_table([path], tmp_path / "t.md", gain=("lmar_big", "bicubic"), out_tex=tmp_path / "t.tex")
    return (tmp_path / "t.md").read_text(), (tmp_path / "t.tex").read_text()


def tables(tex: str) -> list[str]:
    return re.findall(r"\\begin\{table\}.*?\\end\{table\}", tex, flags=re.DOTALL)


def tabular_rows(table: str) -> tuple[str, list[str]]:
    """(column spec, the row lines) of the one tabular of ``table``."""
    spec = re.search(r"\\begin\{tabular\}\{([a-z]+)\}", table).group(1)
    body = table.split(r"\toprule")[1].split(r"\bottomrule")[0]
    rows = [ln for ln in body.splitlines() if ln.strip() and ln.strip() not in (r"\midrule", r"\addlinespace")]
    return spec, rows


def cells(row: str) -> list[str]:
    assert row.endswith(r" \\"), row
    return re.split(r"(?<!\\)&", row[:-3])


def test_every_table_has_a_unique_label_of_plain_characters(written):
    _, tex = written
    found = tables(tex)
    labels = [re.findall(r"\\label\{([^}]*)\}", t) for t in found]
    assert all(len(one) == 1 for one in labels)
    labels = [one[0] for one in labels]
    assert len(set(labels)) == len(labels)
    assert all(re.fullmatch(r"tab:[a-z0-9-]+", label) for label in labels), labels


def test_every_tabular_row_has_as_many_cells_as_its_columns(written):
    _, tex = written
    for table in tables(tex):
        spec, rows = tabular_rows(table)
        assert rows
        for row in rows:
            assert len(cells(row)) == len(spec), (spec, row)


def test_every_table_of_the_markdown_has_a_latex_counterpart(written):
    md, tex = written
    labels = set(re.findall(r"\\label\{([^}]*)\}", tex))
    # in table.md: per metric 2 tables (PSNR, SSIM), paired 2 (lmar_big's), cost 1; their labels by hand:
    # "UHD_LL #2" -> "uhd-ll-2", "unet", then the metric (and "paired") or "cost"
    detail = md.split("## Every metric")[1]
    per_metric = detail.split("## Paired")[0].count("\n### ")
    paired = detail.split("## Paired")[1].split("## Claims")[0].count("\n### ")
    cost = md.split("## Cost")[1].count("\n### ")
    assert (per_metric, paired, cost) == (2, 2, 1)
    expected = {"tab:uhd-ll-2-unet-psnr", "tab:uhd-ll-2-unet-ssim", "tab:uhd-ll-2-unet-psnr-paired",
                "tab:uhd-ll-2-unet-ssim-paired", "tab:uhd-ll-2-unet-cost"}
    assert expected <= labels
    assert {re.sub(r"-part\d+$", "", label) for label in labels} == expected
    assert r"UHD\_LL \#2" in tex and "UHD_LL" not in tex  # the caption escaped


def test_wide_tables_are_split_each_mean_above_its_interval(written):
    _, tex = written
    # 6 target columns of "16.74" over "[13.99, 19.59]" beside "full_resolution (no resampling)" do not fit 345pt
    # even in \footnotesize (that each part fits the page is pdflatex's to say: the test below)
    assert r"\label{tab:uhd-ll-2-unet-psnr-part2}" in tex
    for table in tables(tex):
        spec, rows = tabular_rows(table)
        assert all(len(cells(row)) == len(spec) for row in rows)
    # the mean and its interval on two lines
    assert re.search(r"\n & \{\\(footnotesize|scriptsize) \[\d+\.\d\d, \d+\.\d\d\]\}", tex)


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not on PATH (texlive is not installed here)")
def test_table_tex_compiles_without_an_overfull_box(written, tmp_path):
    _, tex = written
    (tmp_path / "doc.tex").write_text("\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
                                      + tex + "\n\\end{document}\n")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"], check=False, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    log = (tmp_path / "doc.log").read_text(errors="replace")
    assert run.returncode == 0, run.stdout[-2000:]
    assert "Overfull \\hbox" not in log


def test_labels_of_names_that_differ_only_in_punctuation_stay_apart():
    df = wide_store()
    df = pd.concat([df.assign(dataset="a_b"), df.assign(dataset="a-b")], ignore_index=True)
    _, tex, _ = render(df[df.target.isin(["x2", "full"])], ["psnr"], n_boot=50)
    labels = re.findall(r"\\label\{([^}]*)\}", tex)
    assert labels == ["tab:a-b-unet-psnr", "tab:a-b-unet-psnr-2"]


def test_a_row_starting_with_a_bracket_is_not_read_as_the_previous_rows_option():
    # "\\" followed by "[..]" is a row end with extra space: a resampler named "[a]" must be "{}[a]"
    df = wide_store().replace({"resampler": {"area": "[a]"}})
    _, tex, _ = render(df[df.target.isin(["x2", "full"])], ["psnr"], n_boot=50)
    assert "\n{}[a] & " in tex and not re.search(r"\\\\\s*\n\s*\[", tex)
