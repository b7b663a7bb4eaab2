"""Tables from a small hand-made store: the best in bold and the second underlined (italic in
Markdown), intervals and win rates against a direct computation, and a metric missing for some rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmar.report.tables import cell_stats, render
from lmar.report.write import write_table

# psnr per image (i1, i2, i3) at x2 and x4; lpips lower is better
PSNR = {"lmar": ([30.0, 31.0, 32.0], [25.0, 26.0, 27.0]),
        "bicubic": ([29.0, 30.5, 31.0], [25.5, 26.5, 27.5]),
        "area": ([28.0, 29.0, 30.0], [24.0, 25.0, 26.0])}
LPIPS = {"lmar": 0.30, "bicubic": 0.20, "area": 0.25}


def store(lpips_missing_for=()) -> pd.DataFrame:
    rows = []
    for name, (x2, x4) in PSNR.items():
        for target, scale, values in (("x2", 2.0, x2), ("x4", 4.0, x4)):
            for k, (image, v) in enumerate(zip(("i1", "i2", "i3"), values)):
                lp = np.nan if (name, image) in lpips_missing_for else LPIPS[name] + 0.01 * k
                rows.append({"dataset": "d", "backbone": "b", "resampler": name, "target": target, "scale": scale,
                             "image": image, "seed": 0, "psnr": v, "ssim": 0.5, "lpips": lp,
                             "resampler_weights": "trained" if name == "lmar" else "none"})
    return pd.DataFrame(rows)


def table_lines(md: str, heading: str) -> dict[str, list[str]]:
    block = md.split(heading)[1].split("###")[0]
    out = {}
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) > 2 and cells[0] not in ("resampler", "pair") and not cells[0].startswith(":"):
            out[cells[0]] = cells[1:]
    return out


def test_best_bold_second_italic_per_column_and_direction():
    md, tex, _ = render(store(), ["psnr", "lpips"], learned=["lmar"], n_boot=500)
    psnr = table_lines(md, "d / b: PSNR (dB) ↑")
    # x2 means: lmar 31.0, bicubic 30.17, area 29.0; x4: bicubic 26.5, lmar 26.0, area 25.0
    assert psnr["lmar"][0].startswith("**31.00") and psnr["bicubic"][0].startswith("*30.17")
    assert psnr["bicubic"][1].startswith("**26.50") and psnr["lmar"][1].startswith("*26.00")
    assert not psnr["area"][0].startswith("*") and not psnr["area"][1].startswith("*")
    lpips = table_lines(md, "d / b: LPIPS ↓")
    # lower is better: bicubic 0.21, area 0.26, lmar 0.31
    assert lpips["bicubic"][0].startswith("**0.2100") and lpips["area"][0].startswith("*0.2600")
    assert r"\textbf{31.00" in tex and r"\underline{30.17" in tex and r"\toprule" in tex


def test_interval_and_win_rate_against_a_direct_computation():
    n_boot = 4000
    stats = cell_stats(store(), ["psnr"], n_boot=n_boot, seed=3)
    got = stats[(stats.resampler == "lmar") & (stats.target == "x2")].iloc[0]
    # direct: the resampled mean of [30, 31, 32] is (sum of 3 draws) / 3, 27 equally likely outcomes;
    # P(mean = 30) = P(mean = 32) = 1/27 = 0.037 > 0.025, so the 95% percentile interval is [30, 32]
    # (with 4000 replicates the share of each end is 0.037 +- 0.003, never below 0.025)
    assert got["mean"] == 31.0 and got["ci_low"] == 30.0 and got["ci_high"] == 32.0
    md, _, tidy = render(store(), ["psnr"], learned=["lmar"], n_boot=n_boot)
    paired = tidy[(tidy.kind == "paired") & (tidy.b == "bicubic") & (tidy.target == "x2")].iloc[0]
    # lmar - bicubic at x2: +1.0, +0.5, +1.0: mean 0.8333, every image a win
    assert abs(paired["mean_diff"] - 2.5 / 3) < 1e-12 and paired["win_rate"] == 1.0
    at_x4 = tidy[(tidy.kind == "paired") & (tidy.b == "bicubic") & (tidy.target == "x4")].iloc[0]
    assert at_x4["mean_diff"] == -0.5 and at_x4["win_rate"] == 0.0  # -0.5 on each image
    flat = " ".join(md.split())
    # the bootstrap's interval of the mean of 3 draws from [1.0, 0.5, 1.0] is [0.5, 1.0] (0.5 has probability
    # 1/27 > 0.025, 1.0 has 8/27); with 3 images it is widened to Student's t: 0.8333 +- t(0.975, 2 df) 4.3027 x
    # sd 0.288675 / sqrt(3) = 0.8333 +- 0.7171 = [0.12, 1.55]
    assert "| lmar - bicubic | +0.83 [+0.12, +1.55] 100% † | -0.50 [-0.50, -0.50] 0% † |" in flat
    assert "Each paired interval is the wider of the percentile bootstrap's and Student's t" in md


def test_a_metric_missing_for_some_rows_says_so_and_is_not_ranked():
    md, _, _ = render(store(lpips_missing_for={("lmar", "i2")}), ["lpips"], n_boot=200)
    lpips = table_lines(md, "d / b: LPIPS ↓")
    # lmar has 2 of 3 images: its mean (0.30, 0.32 -> 0.31) is shown with the count, outside the ranking
    assert lpips["lmar"][0].startswith("0.3100") and lpips["lmar"][0].endswith("(2 of 3)")
    assert lpips["bicubic"][0].startswith("**") and lpips["area"][0].startswith("*0.26")


def test_write_table_with_psnr_only(tmp_path):
    df = store().drop(columns=["ssim", "lpips"])
    path = tmp_path / "r.csv"
    df.to_csv(path, index=False)
    write_table([path], tmp_path / "t.md", gain=("lmar", "bicubic"), out_tex=tmp_path / "t.tex",
                out_stats=tmp_path / "s.csv")
    md = (tmp_path / "t.md").read_text()
    assert "PSNR (dB) ↑" in md and "SSIM" not in md and "LPIPS" not in md
    tex = (tmp_path / "t.tex").read_text()  # the PSNR table and lmar's paired comparisons, nothing of SSIM or LPIPS
    assert tex.count(r"\begin{tabular}") == 2 and "SSIM" not in tex and "LPIPS" not in tex
    assert set(pd.read_csv(tmp_path / "s.csv")["metric"]) == {"psnr"}


def test_latex_escapes_what_latex_would_read_as_commands():
    df = store().replace({"resampler": {"area": "learned_resizer"}})
    _, tex, _ = render(df, ["psnr"], n_boot=100)
    assert r"learned\_resizer" in tex and "learned_resizer" not in tex
    assert r"[95\% interval]" in tex and "95% " not in tex  # an unescaped % would comment out the rest


def test_the_cost_table_sums_stages_and_puts_the_full_resolution_row_first():
    from lmar.report.cost_tables import cost_frame, cost_markdown

    rows = []
    for name, target, scale, times in (("bicubic", "x2", 2.0, (1.0, 10.0, 2.0)), ("lmar", "x2", 2.0, (5.0, 10.0, 2.0)),
                                       ("full_resolution", "full", 1.0, (0.0, 40.0, 0.0))):
        for k, image in enumerate(("i1", "i2")):
            rows.append({"dataset": "d", "backbone": "b", "resampler": name, "target": target, "scale": scale,
                         "target_h": 10, "target_w": 15, "image": image, "seed": 0, "psnr": 20.0,
                         "resample_ms": times[0] + k, "enhance_ms": times[1], "upsample_ms": times[2],
                         "time_s": (sum(times) + k) / 1000, "resample_gflops": 0.5 if name == "lmar" else 0.01,
                         "enhance_gflops": 3.0, "upsample_gflops": 0.02, "resample_peak_mb": float("nan"),
                         "backbone_n_params": 260_000, "resampler_n_params": 1000 if name == "lmar" else 0})
    costs = cost_frame(pd.DataFrame(rows))
    assert list(costs["resampler"]) == ["full_resolution", "bicubic", "lmar"]
    lmar = costs[costs.resampler == "lmar"].iloc[0]
    # by hand: resample 5 and 6 ms -> 5.5; end to end 17 and 18 ms -> 17.5; 0.5 + 3.0 + 0.02 GFLOPs
    assert lmar["ms resample"] == 5.5 and lmar["ms end to end"] == 17.5
    assert abs(lmar["GFLOPs total"] - 3.52) < 1e-12 and lmar["params (M)"] == 0.261
    assert "peak MiB resample" not in costs  # CPU: no per-stage peaks, no empty column
    assert "### d / b" in cost_markdown(pd.DataFrame(rows))


def test_means_that_print_the_same_share_a_mark():
    # means (x2 and x4 alike): lmar and bicubic exactly 31.0, area 31.0003 (prints 31.00 too), lanczos3 30.5;
    # lower-is-better LPIPS: area 0.20004 and lmar 0.2 print 0.2000, bicubic 0.3, lanczos3 0.4
    psnr = {"lmar": [30.0, 31.0, 32.0], "bicubic": [32.0, 31.0, 30.0], "area": [30.001, 31.0, 32.0],
            "lanczos3": [29.5, 30.5, 31.5]}
    lpips = {"lmar": 0.2, "bicubic": 0.3, "area": 0.20004, "lanczos3": 0.4}
    rows = [{"dataset": "d", "backbone": "b", "resampler": name, "target": target, "scale": scale, "image": image,
             "seed": 0, "psnr": v, "ssim": 0.5, "lpips": lpips[name], "resampler_weights": "none"}
            for target, scale in (("x2", 2.0), ("x4", 4.0))
            for name, values in psnr.items() for image, v in zip(("i1", "i2", "i3"), values)]
    md, tex, _ = render(pd.DataFrame(rows), ["psnr", "lpips"], n_boot=200)
    got = table_lines(md, "d / b: PSNR (dB) ↑")
    assert [got[name][0].split(" [")[0] for name in psnr] == ["**31.00", "**31.00", "**31.00", "*30.50"]
    got = table_lines(md, "d / b: LPIPS ↓")
    assert [got[name][0].split(" [")[0] for name in lpips] == ["**0.2000", "*0.3000", "**0.2000", "0.4000"]
    assert tex.count(r"\textbf{31.00") == 6 and tex.count(r"\underline{30.50") == 2


def test_a_tie_counts_half_and_both_tables_say_so():
    df = store()
    tie = (df.resampler == "lmar") & (df.target == "x2") & (df.image == "i1")
    df.loc[tie, "psnr"] = 29.0  # lmar - bicubic at x2: 0 (a tie), +0.5, +1.0: 2.5 of 3 units
    md, tex, tidy = render(df, ["psnr"], learned=["lmar"], n_boot=200)
    paired = tidy[(tidy.kind == "paired") & (tidy.b == "bicubic") & (tidy.target == "x2")].iloc[0]
    assert abs(paired["win_rate"] - 2.5 / 3) < 1e-12
    assert "| lmar - bicubic | +0.50 " in " ".join(md.split()) and " 83% " in " ".join(md.split())
    said = "share of the paired units (an image at a seed) where a scores better than b, a tie counting half"
    assert said in md and said in " ".join(tex.split())
