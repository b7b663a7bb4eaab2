"""The verdicts table.md states where a table cannot show a method's effect (lmar.report.verdicts): backbone
convergence (from its validation curve), a resampler beating full resolution (it changes what the
backbone sees), a gain within noise, and whether DEU costs less than enhancing at full resolution;
each from a crafted curve or results store with the expectation computed by hand."""

from __future__ import annotations

import math
import shutil

import pandas as pd
import pytest

from helpers import CPU, LABELS

from lmar.cli import main
from lmar.report.overview import markdown_table
from lmar.report.compute_verdict import break_even, compute_verdicts
from lmar.report.verdicts import (
    beats_full_resolution,
    block_notes,
    gain_text,
    kept_initial_weights_title,
    kept_initialisation_note,
)
from lmar.report.write import write_table
from lmar.run.curves import backbone_convergence, convergence, curve_path, write_curve

# ---------------------------------------------------------------- convergence


def curve(val_psnr, **extra) -> pd.DataFrame:
    """A training curve with one epoch per value of ``val_psnr``."""
    n = len(val_psnr)
    return pd.DataFrame({"epoch": range(n), "lr": [1e-3] * n, "seconds": [1.0] * n, "l1": [0.1] * n,
                         "val_psnr": val_psnr, **extra})


# 10 epochs: a fifth is 2 epochs. The last fifth against the fifth before (epochs 6, 7 against 8, 9)
EARLY = [15.0, 17.0, 18.0, 19.0, 19.5, 19.8]


def test_converged_when_the_last_fifth_is_within_0_1_db_of_the_fifth_before():
    # (20.05 + 20.05) / 2 - (20.0 + 20.0) / 2 = +0.05 dB
    verdict, why = convergence(curve(EARLY + [20.0, 20.0, 20.05, 20.05]))
    assert verdict == "yes" and "+0.05 dB" in why


def test_a_rise_of_0_2_db_is_not_converged():
    verdict, why = convergence(curve(EARLY + [20.0, 20.0, 20.2, 20.2]))
    assert verdict == "no" and "still rising: +0.20 dB" in why


def test_exactly_0_1_db_counts_as_converged():
    # "within 0.1 dB" is inclusive: 20.1 - 20.0 is 0.10000000000000142 in floating point, still 0.1
    assert convergence(curve(EARLY + [20.0, 20.0, 20.1, 20.1]))[0] == "yes"
    assert convergence(curve(EARLY + [20.0, 20.0, 20.1001, 20.1001]))[0] == "no"


def test_a_fall_of_more_than_0_1_db_is_not_converged_either():
    verdict, why = convergence(curve(EARLY + [20.0, 20.0, 19.8, 19.8]))
    assert verdict == "no" and "still falling: -0.20 dB" in why


def test_the_epochs_are_taken_in_order_of_epoch_not_of_the_file():
    # the rising curve written last epoch first: still the last fifth (epochs 8, 9) against 6, 7
    rising = curve(EARLY + [20.0, 20.0, 20.2, 20.2]).iloc[::-1]
    assert convergence(rising)[0] == "no" and "rising" in convergence(rising)[1]


def test_the_initial_weights_row_is_not_an_epoch():
    # 9 epochs and the score before training (epoch -1, lmar.run.curves.START): still 9, too few
    start = pd.DataFrame({"epoch": [-1], "val_psnr": [20.0]})
    verdict, why = convergence(pd.concat([start, curve([20.0] * 9)], ignore_index=True))
    assert verdict == "no" and "9 validated epochs" in why


def test_fewer_than_10_validated_epochs_cannot_show_convergence():
    verdict, why = convergence(curve([20.0] * 9))
    assert verdict == "no" and "9 validated epochs" in why


def test_the_evaluation_columns_from_the_curve_beside_the_checkpoint(tmp_path):
    ckpt = tmp_path / "backbone.pt"
    assert backbone_convergence(ckpt) == {"backbone_converged": "no", "backbone_convergence": "curve missing"}
    write_curve([{"epoch": 0, "lr": 1e-3, "seconds": 1.0, "l1": 0.3}], curve_path(ckpt))  # trained, no validation
    assert backbone_convergence(ckpt) == {"backbone_converged": "no", "backbone_convergence": "no validation curve"}
    curve(EARLY + [20.0, 20.0, 20.05, 20.05]).to_csv(curve_path(ckpt), index=False)
    assert backbone_convergence(ckpt)["backbone_converged"] == "yes"
    # the authors' release: not trained here, whatever the curve says
    assert backbone_convergence(ckpt, "authors' unet.pth (sha256 0123456789ab)")["backbone_converged"] == "unknown"
    write_curve([], curve_path(ckpt))  # header only: converted from released weights
    assert backbone_convergence(ckpt)["backbone_converged"] == "unknown"
    curve_path(ckpt).write_bytes(b"\xff\xfe\x00garbage\x00")
    assert backbone_convergence(ckpt)["backbone_converged"] == "no"


def test_a_real_evaluation_records_the_verdict(mini_data, backbone_ckpt, tmp_path):
    from lmar.run.evaluate import evaluate

    settings = {"scales": [2], "save_outputs": 0}
    # the session's backbone was trained here without a validation split: its curve has no val_psnr
    df = evaluate(mini_data, backbone_ckpt, {"type": "bicubic"}, None, settings, tmp_path / "a.csv", tmp_path / "a",
                  CPU, dict(LABELS))
    assert set(df["backbone_converged"]) == {"no"} and set(df["backbone_convergence"]) == {"no validation curve"}
    # the same weights beside a validation curve that has settled
    ckpt = tmp_path / "settled" / "backbone.pt"
    ckpt.parent.mkdir()
    shutil.copy(backbone_ckpt, ckpt)
    curve(EARLY + [20.0, 20.0, 20.05, 20.05]).to_csv(curve_path(ckpt), index=False)
    df = evaluate(mini_data, ckpt, {"type": "bicubic"}, None, settings, tmp_path / "b.csv", tmp_path / "b", CPU,
                  dict(LABELS))
    assert set(df["backbone_converged"]) == {"yes"}
    assert set(pd.read_csv(tmp_path / "b.csv")["backbone_converged"]) == {"yes"}  # and in the file


# ---------------------------------------------------------------- crafted stores


def store(psnr: dict, converged=None, cost=None) -> pd.DataFrame:
    """Rows from {resampler: {target: [psnr per image]}} (images i0, i1, ...), SSIM = PSNR / 100;
    ``converged``: (backbone_converged, backbone_convergence) on every row; ``cost``: {(resampler,
    target): (h, w, resample, enhance, upsample GFLOPs, time_s)}."""
    rows = []
    for name, targets in psnr.items():
        for target, values in targets.items():
            for k, v in enumerate(values):
                row = {"dataset": "d", "backbone": "b", "resampler": name, "target": target,
                       "scale": 1.0 if target == "full" else float(target[1:]), "image": f"i{k}", "seed": 0,
                       "psnr": v, "ssim": v / 100, "resampler_weights": "none"}
                if converged:
                    row.update(backbone_converged=converged[0], backbone_convergence=converged[1])
                if cost:
                    h, w, r, e, u, t = cost[(name, target)]
                    row.update(target_h=h, target_w=w, resample_gflops=r, enhance_gflops=e, upsample_gflops=u,
                               time_s=t)
                rows.append(row)
    return pd.DataFrame(rows)


def overview_cells(md: str, first: str) -> list[str]:
    for line in md.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first:
            return cells[1:]
    raise AssertionError(f"no row {first!r} in\n{md}")


def test_convergence_notes_under_the_block():
    one = {"bicubic": {"x2": [30.0, 31.0]}}
    old = markdown_table(store(one), None, notes=block_notes(store(one)))
    assert "Backbone b: convergence not recorded" in old
    no = store(one, ("no", "no validation curve"))
    assert ("Backbone b not converged (no validation curve): the gains above may move as it trains on."
            in markdown_table(no, None, notes=block_notes(no)))
    released = store(one, ("unknown", "the authors' released weights, not trained here"))
    assert "Backbone b: convergence unknown (the authors' released weights" in str(block_notes(released))
    assert block_notes(store(one, ("yes", "validation PSNR +0.05 dB ...")))[("d", "b")] == []


# ---------------------------------------------------------------- within noise


def test_the_gain_row_says_within_noise_where_the_interval_includes_0_and_a_dagger_where_it_excludes_it():
    # x2: lmar - bicubic +1 on each of 4 images: mean +1, interval [+1, +1], a dagger.
    # x3: +1, -1, +1, -1: mean 0; the bootstrap's interval is [-1, +1] (a draw of 4 all -1 has chance 1/16),
    # widened with 4 images to Student's t: 0 +- t(0.975, 3 df) 3.1824 x sd 1.1547 / sqrt(4) = +-1.84: within
    # noise. SSIM is PSNR / 100: the same by a hundredth.
    df = store({"bicubic": {"x2": [30.0, 31.0, 32.0, 33.0], "x3": [30.0, 31.0, 32.0, 33.0]},
                "lmar": {"x2": [31.0, 32.0, 33.0, 34.0], "x3": [31.0, 30.0, 33.0, 32.0]}})
    cells = overview_cells(markdown_table(df, ("lmar", "bicubic")), "**lmar - bicubic**")
    assert cells == ["+1.00 [+1.00, +1.00] † / +0.0100 [+0.0100, +0.0100] †",
                     "+0.00 [-1.84, +1.84] within noise / +0.0000 [-0.0184, +0.0184] within noise"]


def test_no_dagger_on_a_printed_zero_and_more_decimals_where_they_show_the_interval():
    assert gain_text(0.0004, 0.0001, 0.0007, "psnr") == "+0.0004 [+0.0001, +0.0007] †"
    assert gain_text(1e-7, 1e-7, 1e-7, "psnr") == "+0.00 [+0.00, +0.00]"  # significant, but not shown: no mark
    assert gain_text(0.02, -0.01, 0.05, "psnr") == "+0.02 [-0.01, +0.05] within noise"


def test_a_loss_whose_interval_is_entirely_below_zero_is_significant_too():
    # the interval excludes 0 from below: a significant loss, marked as a gain would be (PSNR: 2 decimals,
    # SSIM: 4); more decimals where the metric's own would print a zero
    assert gain_text(-0.83, -1.0, -0.5, "psnr") == "-0.83 [-1.00, -0.50] †"
    assert gain_text(-0.012, -0.02, -0.004, "ssim") == "-0.0120 [-0.0200, -0.0040] †"
    assert gain_text(-0.0004, -0.0007, -0.0001, "psnr") == "-0.0004 [-0.0007, -0.0001] †"
    # touching 0 from below is not excluding it
    assert gain_text(-0.5, -1.0, 0.0, "psnr") == "-0.50 [-1.00, +0.00] within noise"


# ---------------------------------------------------------------- changes what the backbone sees

FULL = [30.0, 31.0, 32.0, 33.0]
# tone: +2 dB on every image above full resolution, interval [+2, +2]; close: +1.5, -0.5, +1.5, -0.5
# (mean +0.5, interval [-0.5, +1.5], which includes 0)
BEATS = {"full_resolution": {"full": FULL},
         "tone": {"x2": [v + 2 for v in FULL]},
         "close": {"x2": [v + d for v, d in zip(FULL, (1.5, -0.5, 1.5, -0.5))]},
         "bicubic": {"x2": [v - 1 for v in FULL]}}


def test_a_resampler_beating_full_resolution_beyond_its_interval_is_marked_and_one_within_it_is_not():
    beats = beats_full_resolution(store(BEATS))
    assert list(beats["a"]) == ["tone"] and list(beats["b"]) == ["full_resolution"]
    assert (beats.iloc[0]["mean_diff"], beats.iloc[0]["ci_low"], beats.iloc[0]["ci_high"]) == (2.0, 2.0, 2.0)
    lines = block_notes(store(BEATS, ("yes", "settled")))[("d", "b")]
    assert lines == [("tone beats full resolution in PSNR by more than its paired interval at x2 (+2.00 dB "
                     "[+2.00, +2.00]): it changes what the backbone sees (e.g. its tone), not only how the image "
                     "is sampled.")]


def test_the_verdicts_are_in_table_md_and_nothing_is_left_out(tmp_path, capsys):
    path = tmp_path / "r.csv"
    store(BEATS, ("no", "no validation curve")).to_csv(path, index=False)
    rc = main(["table", str(path), "--out-md", str(tmp_path / "t.md"), "--gain", "tone", "bicubic"])
    assert rc == 0, capsys.readouterr().err  # exit 3 would say that something was left out
    md = (tmp_path / "t.md").read_text()
    assert "tone beats full resolution in PSNR" in md and "close beats" not in md
    assert "Backbone b not converged (no validation curve)" in md and "Left out" not in md
    _, notes = write_table([path], tmp_path / "u.md", gain=("tone", "bicubic"))
    assert notes == []


# ---------------------------------------------------------------- no resampling loss shown

# lanczos3 - full resolution per image: x2 -1 on each (a loss, interval [-1, -1]); x3 -2, +1, -2, +1 (mean -0.5,
# sd sqrt(9 / 3) = 1.7321, Student's t 3.1824 x 1.7321 / sqrt(4) = 2.756: [-3.26, +2.26], within noise; 2 of 4
# above); x4 +0.5 on each (above full resolution, [+0.5, +0.5])
LOSS = {"full_resolution": {"full": FULL},
        "lanczos3": {"x2": [v - 1 for v in FULL], "x3": [v + d for v, d in zip(FULL, (-2, 1, -2, 1))],
                     "x4": [v + 0.5 for v in FULL]},
        "lmar": {"x2": FULL, "x3": FULL, "x4": FULL}}
NO_LOSS = ("The resampling loss is not measurable at x3, x4: there DEU with lanczos3 is not below enhancing at "
           "full resolution by more than its paired interval in PSNR (lanczos3 - full_resolution: x3 -0.50 dB "
           "[-3.26, +2.26], above it on 2 of 4 images; x4 +0.50 dB [+0.50, +0.50] \u2020, above it on 4 of 4 images), "
           "so at those targets this run cannot show a loss for a resampler to close, nor read a gain over lanczos3 "
           "as one recovered.")


def test_the_targets_where_the_gain_baseline_loses_nothing_measurable_to_full_resolution():
    lines = block_notes(store(LOSS, ("yes", "settled")), baseline="lanczos3")[("d", "b")]
    assert NO_LOSS in lines
    # x4 is above full resolution beyond its interval: the repair verdict says so too, first
    assert lines.index(NO_LOSS) == 1 and lines[0].startswith("lanczos3 beats full resolution in PSNR")
    # a baseline not in the run, or none (a results file without a gain pair), states nothing
    assert not any("resampling loss" in n for n in block_notes(store(LOSS, ("yes", "")), baseline="bicubic")[("d", "b")])
    assert not any("resampling loss" in n for n in block_notes(store(LOSS, ("yes", "")))[("d", "b")])


def test_no_resampling_loss_verdict_counts_image_seed_pairs_and_needs_a_full_resolution_row():
    two = pd.concat([store(LOSS, ("yes", "")), store(LOSS, ("yes", "")).assign(seed=1)], ignore_index=True)
    (line,) = [n for n in block_notes(two, baseline="lanczos3")[("d", "b")] if "resampling loss" in n]
    assert "above it on 4 of 8 (image, seed) pairs" in line and "above it on 8 of 8 (image, seed) pairs" in line
    without = {k: v for k, v in LOSS.items() if k != "full_resolution"}
    assert not any("resampling loss" in n for n in block_notes(store(without, ("yes", "")), baseline="lanczos3")[("d", "b")])


def test_no_resampling_loss_follows_the_metrics_direction():
    """LPIPS, lower better: the baseline 0.1 above full resolution on every image is a loss (no verdict); 0.1
    below on every image is none (the verdict)."""
    from lmar.report.verdicts import no_loss_to_close

    rows = [{"dataset": "d", "backbone": "b", "resampler": name, "target": target, "scale": 2.0, "image": f"i{k}",
             "seed": 0, "lpips": 0.3 + k / 100 + shift}
            for k in range(4) for name, target, shift in (("full_resolution", "full", 0.0), ("lanczos3", "x2", 0.1),
                                                          ("lanczos3", "x3", -0.1))]
    found = no_loss_to_close(pd.DataFrame(rows), "lanczos3", "lpips")
    assert list(found["target"]) == ["x3"]


def test_table_md_states_where_the_gain_baseline_loses_nothing_measurable(tmp_path, capsys):
    path = tmp_path / "r.csv"
    store(LOSS, ("yes", "settled")).to_csv(path, index=False)
    assert main(["table", str(path), "--out-md", str(tmp_path / "t.md"), "--gain", "lmar", "lanczos3"]) == 0, \
        capsys.readouterr().err
    assert NO_LOSS in (tmp_path / "t.md").read_text()


# ---------------------------------------------------------------- compute

# full image 100 x 100, backbone 10 FLOP/pixel: 1e5 FLOPs = 1e-4 GFLOPs, 10 ms.
# cheap at x2 (50 x 50): resample 2e4, upsample 1e4, enhance 2.5e4 FLOPs: 5.5e4, 0.55x; 4 ms, 0.40x;
#   break-even: 3e4 + c * 2500 = c * 1e4 -> c = 4 FLOP/pixel = 0.004 kFLOP/pixel.
# cheap at x1.25 (80 x 80): 2e4 + 1e4 + 6.4e4 = 9.4e4, 0.94x; 9 ms, 0.90x; c = 3e4 / 3600 = 8.33 FLOP/pixel.
# heavy at x2: resample 1e5: 1.35e5, 1.35x; 15 ms, 1.50x; c = 1.1e5 / 7500 = 14.67 FLOP/pixel.
COST = {("full_resolution", "full"): (100, 100, 0.0, 1e-4, 0.0, 0.010),
        ("cheap", "x2"): (50, 50, 2e-5, 2.5e-5, 1e-5, 0.004),
        ("cheap", "x1.25"): (80, 80, 2e-5, 6.4e-5, 1e-5, 0.009),
        ("heavy", "x2"): (50, 50, 1e-4, 2.5e-5, 1e-5, 0.015)}
QUALITY = {"full_resolution": {"full": [30.0]}, "cheap": {"x2": [29.0], "x1.25": [29.5]}, "heavy": {"x2": [29.0]}}


def test_the_compute_ratios_and_break_even_by_hand():
    v = compute_verdicts(store(QUALITY, cost=COST)).set_index(["resampler", "target"])
    assert v.loc[("cheap", "x2"), "flops_ratio"] == pytest.approx(0.55)
    assert v.loc[("cheap", "x2"), "time_ratio"] == pytest.approx(0.40)
    assert v.loc[("cheap", "x2"), "break_even_kflop_per_pixel"] == pytest.approx(0.004)
    assert v.loc[("cheap", "x1.25"), "flops_ratio"] == pytest.approx(0.94)
    assert v.loc[("cheap", "x1.25"), "break_even_kflop_per_pixel"] == pytest.approx(3e4 / 3600 / 1e3)
    assert v.loc[("heavy", "x2"), "flops_ratio"] == pytest.approx(1.35)
    assert v.loc[("heavy", "x2"), "break_even_kflop_per_pixel"] == pytest.approx(1.1e5 / 7500 / 1e3)
    assert list(v["backbone_kflop_per_pixel"]) == pytest.approx([0.01] * 3)
    assert break_even(1e-5, 1e-5, 100 * 100, 100 * 100) == math.inf  # a target no smaller: never


def test_the_compute_table_and_a_line_for_the_resampler_that_saves_nothing():
    lines = [n for n in block_notes(store(QUALITY, ("yes", ""), COST))[("d", "b")] if n.startswith("Compute")]
    assert lines == [
        ("Compute on backbone b (0.01 kFLOP/pixel at full resolution): DEU's FLOPs / mean time as multiples of "
         "enhancing at full resolution, bold where DEU saves nothing; and the backbone cost per pixel above which "
         "DEU would save FLOPs.\n\n"
         "| resampler | x1.25 | x2 | saves FLOPs with a backbone above (kFLOP/pixel) |\n"
         "|---|---|---|---|\n"
         "| cheap | 0.94x / 0.90x | 0.55x / 0.40x | 0.004 (x2) to 0.0083 (x1.25) |\n"
         "| heavy | - | **1.35x** / **1.50x** | 0.015 (x2) |"),
        ("Compute: DEU with heavy on backbone b saves no FLOPs at any target and no time at any target against "
         "enhancing at full resolution; there it would save FLOPs only with a backbone above 0.015 (x2) kFLOP/pixel, "
         "and this one costs 0.01.")]


def test_the_compute_line_names_only_the_targets_where_deu_saves_nothing():
    # mixed at x1.25: 1.2e5 FLOPs (resample 4.6e4), 1.20x, but 9 ms, 0.90x; at x2 0.75x, 0.40x
    # break-even at x1.25: (4.6e4 + 1e4) / 3600 = 15.56 FLOP/pixel
    cost = {**COST, ("cheap", "x1.25"): (80, 80, 4.6e-5, 6.4e-5, 1e-5, 0.009), ("cheap", "x2"): (50, 50, 4e-5, 2.5e-5,
                                                                                                      1e-5, 0.004)}
    quality = {k: v for k, v in QUALITY.items() if k != "heavy"}
    lines = [n for n in block_notes(store(quality, ("yes", ""), cost))[("d", "b")] if n.startswith("Compute:")]
    assert lines == [("Compute: DEU with cheap on backbone b saves no FLOPs at x1.25 against enhancing at full "
                      "resolution; there it would save FLOPs only with a backbone above 0.016 (x1.25) kFLOP/pixel, "
                      "and this one costs 0.01.")]
    table = [n for n in block_notes(store(quality, ("yes", ""), cost))[("d", "b")] if n.startswith("Compute on")]
    assert "| cheap | **1.20x** / 0.90x | 0.75x / 0.40x |" in table[0]


def test_a_time_taken_under_load_is_marked_on_its_ratio_as_in_the_cost_table():
    # load > own threads + CPUs is "under load" (lmar.report.cost_tables.load_under): 6 > 2 + 2 is, 4 is not
    df = store(QUALITY, ("yes", ""), COST).assign(cpus=2, threads=2, load_1m=1.0)
    df.loc[(df["resampler"] == "cheap") & (df["target"] == "x2"), "load_1m"] = 6.0
    df.loc[df["resampler"] == "heavy", "load_1m"] = 4.0
    (table,) = [n for n in block_notes(df)[("d", "b")] if n.startswith("Compute on")]
    assert "| cheap | 0.94x / 0.90x | 0.55x / 0.40x‡ |" in table and "| heavy | - | **1.35x** / **1.50x** |" in table
    assert "‡ a time ratio with either side timed under load" in table
    df.loc[df["resampler"] == "full_resolution", "load_1m"] = 6.0  # the side every ratio shares
    notes = block_notes(df)[("d", "b")]
    (table,) = [n for n in notes if n.startswith("Compute on")]
    # a time under load is no verdict: heavy's 1.50x is not bold, and its line says so instead of "no time"
    assert "| cheap | 0.94x / 0.90x‡ | 0.55x / 0.40x‡ |" in table and "| heavy | - | **1.35x** / 1.50x‡ |" in table
    assert [n for n in notes if n.startswith("Compute:")] == [
        ("Compute: DEU with heavy on backbone b saves no FLOPs at any target against enhancing at full resolution; "
         "there it would save FLOPs only with a backbone above 0.015 (x2) kFLOP/pixel, and this one costs 0.01. "
         "Its time at any target was taken under load (‡): not a finding.")]
    cheap_loaded = store({k: v for k, v in QUALITY.items() if k != "heavy"}, ("yes", ""),
                         {**COST, ("cheap", "x2"): (50, 50, 2e-5, 2.5e-5, 1e-5, 0.012)})  # 1.20x in time only
    cheap_loaded = cheap_loaded.assign(cpus=2, threads=2, load_1m=6.0)
    assert [n for n in block_notes(cheap_loaded)[("d", "b")] if n.startswith("Compute:")] == [
        ("Compute: DEU with cheap on backbone b took as long as enhancing at full resolution or longer at x2, but "
         "timed under load (‡): not a finding; time it on an idle machine.")]
    unloaded = store(QUALITY, ("yes", ""), COST).assign(cpus=2, threads=2, load_1m=4.0)
    assert "‡" not in [n for n in block_notes(unloaded)[("d", "b")] if n.startswith("Compute on")][0]


def test_without_times_the_table_shows_flops_alone_and_says_so():
    df = store(QUALITY, ("yes", ""), COST).drop(columns="time_s")
    (table,) = [n for n in block_notes(df)[("d", "b")] if n.startswith("Compute on")]
    assert "DEU's FLOPs as multiples of enhancing at full resolution (time not recorded)" in table
    assert "| cheap | 0.94x | 0.55x |" in table and "| heavy | - | **1.35x** |" in table


def test_no_full_resolution_row_no_compute_verdict_but_a_line_saying_so():
    cost = {k: v for k, v in COST.items() if k[0] != "full_resolution"}
    quality = {k: v for k, v in QUALITY.items() if k != "full_resolution"}
    assert compute_verdicts(store(quality, cost=cost)).empty
    lines = [n for n in block_notes(store(quality, ("yes", ""), cost))[("d", "b")] if n.startswith("Compute")]
    assert lines == [("Compute: no full-resolution row here, so no verdict on whether DEU saves compute (add a "
                     "resampler of type full_resolution).")]


# ---------------------------------------------------------------- kept its initialisation


def test_a_resampler_that_kept_its_initial_weights_is_named_under_the_block():
    df = store({"bicubic": {"x2": [30.0, 31.0]}, "resizer": {"x2": [30.0, 31.0]}, "lmar": {"x2": [31.0, 32.0]}})
    df["resampler_kept_epoch"] = df["resampler"].map({"bicubic": "", "resizer": -1, "lmar": 3})
    lines = block_notes(df)[("d", "b")]
    assert [line for line in lines if "initial weights" in line] == [
        "resizer kept its initial weights: no epoch of its training beat them on the held-out training pairs' PSNR "
        "(early stopping), so its rows there are those of the untrained resizer."]
    md = markdown_table(df, None, notes=block_notes(df))
    assert "resizer kept its initial weights" in md and "lmar kept" not in md


def test_kept_at_some_seeds_names_them():
    one = store({"resizer": {"x2": [30.0, 31.0]}})
    df = pd.concat([one.assign(seed=s, resampler_kept_epoch=k) for s, k in ((0, -1), (1, 2), (2, -1))])
    assert kept_initialisation_note(df, "resizer").startswith("resizer kept its initial weights at seeds 0, 2 of 3:")
    assert kept_initialisation_note(store({"resizer": {"x2": [1.0]}}), "resizer") is None  # no column: no verdict


# ---------------------------------------------------------------- the same scores


def test_resamplers_scoring_the_same_on_every_image_are_named_with_why_at_an_odd_factor():
    same = {"x2": [30.0, 31.0], "x3": [28.0, 29.0]}
    df = store({"a": same, "b": {"x2": [30.5, 31.0], "x3": [28.0, 29.0]}, "c": same, "d": {"x3": [28.0, 29.1]}})
    lines = [n for n in block_notes(df)[("d", "b")] if "score the same" in n]
    assert lines == [
        ("a and c score the same on every test image at x2 (PSNR to within 1e-4, SSIM to within 1e-6): most likely the "
         "same outputs, each evaluated on its own, not one row shown twice."),
        ("a, b and c score the same on every test image at x3 (PSNR to within 1e-4, SSIM to within 1e-6): most likely the "
         "same outputs, each evaluated on its own, not one row shown twice; x3 is a whole odd factor, where an "
         "interpolation without antialiasing samples each block's centre pixel whatever its kernel.")]


def test_one_line_names_every_target_where_the_same_resamplers_score_the_same():
    twice = {"x2": [30.0, 31.0], "x4": [26.0, 27.0]}
    (line,) = [n for n in block_notes(store({"a": twice, "b": twice}))[("d", "b")] if "score the same" in n]
    assert line.startswith("a and b score the same on every test image at x2, x4 (") and "odd" not in line


def test_scores_apart_by_more_than_1e_4_db_are_not_the_same_and_the_images_compared_are_the_tables():
    apart = store({"a": {"x2": [30.0, 31.0]}, "b": {"x2": [30.0, 31.0 + 2e-4]}})
    assert not [n for n in block_notes(apart)[("d", "b")] if "score the same" in n]
    close = store({"a": {"x2": [30.0, 31.0]}, "b": {"x2": [30.0, 31.0 + 2e-6]}})  # float32 noise, as seen in a run
    assert [n for n in block_notes(close)[("d", "b")] if "score the same" in n]
    # b on image i0 alone: the table is reduced to i0 (a left-out note says so), where a and b are equal
    fewer = store({"a": {"x2": [30.0, 31.0]}, "b": {"x2": [30.0]}})
    assert [n for n in block_notes(fewer)[("d", "b")] if "score the same" in n]
    other = store({"a": {"x2": [30.0, 31.0]}, "b": {"x2": [30.5]}})  # apart on the image they share
    assert not [n for n in block_notes(other)[("d", "b")] if "score the same" in n]


def test_a_long_list_of_untrained_resamplers_wraps_between_names():
    # an ablation study: seven of eight kept their initial weights (one kept epoch 2); each title line
    # fits 48 characters, no name is split, and the lines read as the one sentence
    names = ["learned_resizer", "lmar", "no-feature-loss", "no-edge-loss", "no-resize-loss", "feature-only",
             "fixed-scale", "wide-net"]
    rows = pd.DataFrame({"resampler": names, "resampler_kept_epoch": [-1] * 7 + [2]})
    title = kept_initial_weights_title(rows, names)
    lines = title.split("\n")
    assert lines[0] == "" and len(lines) > 2 and all(len(line) <= 48 for line in lines)
    assert " ".join(lines[1:]) == "kept their initial weights: " + ", ".join(names[:7])
    assert kept_initial_weights_title(rows, ["wide-net"]) == ""


def test_a_title_names_a_resampler_that_kept_its_initial_weights_at_some_seeds_with_those_seeds():
    # 3 seeds: "resizer" kept them at all three, "lmar" at seed 0 only, "wide" at seeds 0 and 2, "net" never
    kept = {"resizer": [-1, -1, -1], "lmar": [-1, 1, 0], "wide": [-1, 3, -1], "net": [0, 2, 1]}
    rows = pd.DataFrame([{"resampler": n, "seed": s, "resampler_kept_epoch": e}
                         for n, epochs in kept.items() for s, e in enumerate(epochs)])
    title = kept_initial_weights_title(rows, list(kept))
    lines = title.split("\n")
    assert lines[0] == "" and all(len(line) <= 48 for line in lines)
    # held together by non-breaking spaces, which print as spaces: no line ends inside a resampler's seeds
    assert " ".join(lines[1:]).replace("\u00a0", " ") == (
        "kept their initial weights: resizer, lmar (seed 0 of 3), wide (seeds 0, 2 of 3)")
    assert all(line.count("(") == line.count(")") for line in lines)
    assert kept_initial_weights_title(rows, ["net"]) == ""


def test_scores_the_same_are_found_in_each_table_block_over_the_seeds_it_shows():
    # r and s ran with seeds 0 and 1 and score alike at both; t (an ablation) ran with seed 0 alone and
    # scores as r and s do there. The table over seed 0 shows r, s and t equal: its note names all three
    # (over both seeds, t's 2 units against r's 4 would not compare); the table over seeds 0, 1 names r and s
    seed0 = store({"r": {"x2": [30.0, 31.0]}, "s": {"x2": [30.0, 31.0]}, "t": {"x2": [30.0, 31.0]}})
    seed1 = store({"r": {"x2": [28.0, 29.0]}, "s": {"x2": [28.0, 29.0]}}).assign(seed=1)
    same = [n for n in block_notes(pd.concat([seed0, seed1], ignore_index=True))[("d", "b")] if "score the same" in n]
    assert [n.split(" score the same")[0] for n in same] == ["Over seeds 0, 1: r and s", "Over seed 0: r, s and t"]
    # one block (one seed): no "Over ..." before the line
    (line,) = [n for n in block_notes(seed0)[("d", "b")] if "score the same" in n]
    assert line.startswith("r, s and t score the same on every test image at x2 (")
