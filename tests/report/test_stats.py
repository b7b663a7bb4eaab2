"""Paired comparisons and bootstrap intervals (lmar.report.stats).

Expected values come from hand computation on tiny tables, or from statistical properties that any
correct percentile bootstrap of a mean must have (never from re-running the same algorithm).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from lmar.core.errors import LmarError
from lmar.report.stats import better, bootstrap_mean_ci, compare, learned_pairs, paired, win_rate

N_BOOT = 2000  # small: the tests stay fast


def results(rows: list[tuple]) -> pd.DataFrame:
    """Tidy results from (resampler, seed, image, psnr, lpips) rows, all on one dataset/backbone/target."""
    df = pd.DataFrame(rows, columns=["resampler", "seed", "image", "psnr", "lpips"])
    df.insert(0, "dataset", "mini")
    df.insert(1, "backbone", "unet")
    df.insert(3, "target", "x2")
    return df


def diffs(values, seeds=None) -> pd.DataFrame:
    """A differences table: ``values`` is a list (one seed) or a seeds x images nested list."""
    m = np.atleast_2d(np.asarray(values, dtype=float))
    seeds = list(range(m.shape[0])) if seeds is None else seeds
    return pd.DataFrame(
        [{"seed": s, "image": f"im{i}", "diff": m[k, i]} for k, s in enumerate(seeds) for i in range(m.shape[1])]
    )


# --- direction --------------------------------------------------------------------------------------


def test_directions():
    assert better("psnr") and better("ssim") and not better("lpips")


def test_unknown_metric_names_it_and_the_known_ones():
    with pytest.raises(LmarError, match="'fid'") as info:
        better("fid")
    for known in ("psnr", "ssim", "lpips"):
        assert known in str(info.value)
    with pytest.raises(LmarError, match="fid"):
        win_rate(diffs([1.0]), "fid")
    with pytest.raises(LmarError, match="fid"):
        compare(results([("a", 0, "x", 1.0, 0.1), ("b", 0, "x", 0.0, 0.2)]), ["fid"], [("a", "b")], n_boot=10)


# --- paired -----------------------------------------------------------------------------------------

TABLE = results(
    [
        # resampler, seed, image, psnr, lpips
        ("lmar", 0, "a", 30.0, 0.10),
        ("lmar", 0, "b", 28.0, 0.20),
        ("lmar", 0, "c", 25.0, 0.30),
        ("lmar", 0, "d", 20.0, 0.40),
        ("bicubic", 0, "a", 29.0, 0.15),  # lmar +1 psnr (win), -0.05 lpips (win)
        ("bicubic", 0, "b", 28.0, 0.20),  # tie on both
        ("bicubic", 0, "c", 27.0, 0.25),  # lmar -2 psnr (loss), +0.05 lpips (loss)
        ("bicubic", 0, "d", 17.0, 0.30),  # lmar +3 psnr (win), +0.10 lpips (loss)
        ("bicubic", 0, "e", 10.0, 0.90),  # only bicubic: not paired
    ]
)


def test_paired_difference_by_hand():
    frame, dropped = paired(TABLE, "psnr", "lmar", "bicubic")
    assert dropped == 0
    assert list(frame.columns) == ["dataset", "backbone", "target", "seed", "image", "diff"]
    got = dict(zip(frame["image"], frame["diff"]))
    assert got == pytest.approx({"a": 1.0, "b": 0.0, "c": -2.0, "d": 3.0})  # "e" only for bicubic


def test_paired_drops_and_counts_nan():
    df = TABLE.copy()
    df.loc[(df.resampler == "bicubic") & (df.image == "c"), "lpips"] = np.nan
    df.loc[(df.resampler == "lmar") & (df.image == "d"), "lpips"] = np.nan
    df.loc[df.image == "e", "lpips"] = np.nan  # unpaired anyway: not counted
    frame, dropped = paired(df, "lpips", "lmar", "bicubic")
    assert dropped == 2
    assert sorted(frame["image"]) == ["a", "b"]
    assert not frame["diff"].isna().any()


def test_paired_rejects_duplicated_units_and_unknown_resampler():
    with pytest.raises(LmarError, match="'lmar'"):
        paired(pd.concat([TABLE, TABLE.iloc[:1]]), "psnr", "lmar", "bicubic")
    with pytest.raises(LmarError, match="'nearest'"):
        paired(TABLE, "psnr", "nearest", "bicubic")


# --- win rate ---------------------------------------------------------------------------------------


def test_win_rate_by_hand_ties_count_half():
    psnr, _ = paired(TABLE, "psnr", "lmar", "bicubic")  # +1, 0, -2, +3: wins 2, tie 1, loss 1
    assert win_rate(psnr, "psnr") == pytest.approx((2 + 0.5) / 4)
    lpips, _ = paired(TABLE, "lpips", "lmar", "bicubic")  # -0.05, 0, +0.05, +0.10: lower is better
    assert win_rate(lpips, "lpips") == pytest.approx((1 + 0.5) / 4)


def test_win_rate_lpips_negative_diff_is_a_win():
    assert win_rate(diffs([-0.1, -0.2, -0.3]), "lpips") == 1.0
    assert win_rate(diffs([-0.1, -0.2, -0.3]), "psnr") == 0.0
    assert win_rate(diffs([0.0, 0.0]), "ssim") == 0.5


# --- bootstrap --------------------------------------------------------------------------------------


def test_bootstrap_mean_by_hand_and_interval_contains_it():
    mean, low, high = bootstrap_mean_ci(diffs([1.0, 0.0, -2.0, 3.0, 4.0]), n_boot=N_BOOT)
    assert mean == pytest.approx(6.0 / 5)
    assert low < mean < high
    assert low >= -2.0 and high <= 4.0  # a mean of resampled values stays within their range


def test_bootstrap_equal_diffs_collapse():
    assert bootstrap_mean_ci(diffs([0.7] * 6), n_boot=N_BOOT) == pytest.approx((0.7, 0.7, 0.7))
    assert bootstrap_mean_ci(diffs([[0.7] * 4] * 3), n_boot=N_BOOT) == pytest.approx((0.7, 0.7, 0.7))


def test_bootstrap_single_unit():
    assert bootstrap_mean_ci(diffs([2.5]), n_boot=N_BOOT) == (2.5, 2.5, 2.5)


def test_bootstrap_reproducible_with_fixed_seed():
    d = diffs(np.random.default_rng(1).normal(size=(3, 20)).tolist())
    first = bootstrap_mean_ci(d, n_boot=N_BOOT, seed=7)
    assert bootstrap_mean_ci(d, n_boot=N_BOOT, seed=7) == first
    assert bootstrap_mean_ci(d, n_boot=N_BOOT, seed=8) != first  # the seed matters
    assert bootstrap_mean_ci(d.sample(frac=1, random_state=0), n_boot=N_BOOT, seed=7) == pytest.approx(first)


def test_bootstrap_width_matches_normal_theory():
    """Means of 200 draws from N(mu, 1): standard error 1/sqrt(200), so a 95% interval about 2*1.96*se wide."""
    values = np.random.default_rng(123).normal(loc=0.5, scale=1.0, size=200)
    mean, low, high = bootstrap_mean_ci(diffs(values.tolist()), n_boot=5000, level=0.95, seed=0)
    assert mean == pytest.approx(values.mean())
    expected = 2 * 1.96 / math.sqrt(200)
    assert high - low == pytest.approx(expected, rel=0.15)
    assert low < 0.5 < high  # the true mean, for this fixed sample


def test_bootstrap_level_widens_interval():
    d = diffs(np.random.default_rng(2).normal(size=50).tolist())
    _, low90, high90 = bootstrap_mean_ci(d, n_boot=N_BOOT, level=0.90)
    _, low99, high99 = bootstrap_mean_ci(d, n_boot=N_BOOT, level=0.99)
    assert low99 <= low90 and high90 <= high99


def test_two_way_identical_seeds_matches_one_seed():
    row = np.random.default_rng(3).normal(size=30)
    one = bootstrap_mean_ci(diffs(row.tolist()), n_boot=N_BOOT, seed=5)
    three = bootstrap_mean_ci(diffs([row.tolist()] * 3), n_boot=N_BOOT, seed=5)
    assert three[0] == pytest.approx(one[0])
    assert three[2] - three[1] >= (one[2] - one[1]) - 1e-12


def test_two_way_seed_variation_widens_interval():
    """A seed offset shared by all images is variation the one-way (images only) view cannot see."""
    rng = np.random.default_rng(4)
    images = rng.normal(scale=0.2, size=40)
    m = images[None, :] + np.array([-1.0, 0.0, 1.0])[:, None]  # seeds differ by a whole unit
    _, low, high = bootstrap_mean_ci(diffs(m.tolist()), n_boot=N_BOOT)
    _, low1, high1 = bootstrap_mean_ci(diffs(images.tolist()), n_boot=N_BOOT)
    assert high - low > 3 * (high1 - low1)


def test_two_way_missing_unit_is_named():
    d = diffs([[1.0, 2.0, 3.0], [1.5, 2.5, 3.5]], seeds=[0, 1])
    d = d[~((d.seed == 1) & (d.image == "im2"))]
    with pytest.raises(LmarError, match=r"seed 1, image 'im2'"):
        bootstrap_mean_ci(d, n_boot=N_BOOT)


def test_bootstrap_rejects_nan_and_empty():
    with pytest.raises(LmarError, match="NaN"):
        bootstrap_mean_ci(diffs([1.0, np.nan]), n_boot=N_BOOT)
    with pytest.raises(LmarError, match="no paired"):
        bootstrap_mean_ci(diffs([1.0]).iloc[:0], n_boot=N_BOOT)


# --- compare ----------------------------------------------------------------------------------------


def test_compare_rows_by_hand():
    out = compare(TABLE, ["psnr", "lpips"], [("lmar", "bicubic")], n_boot=N_BOOT)
    assert list(out.columns) == [
        "dataset", "backbone", "target", "metric", "a", "b", "mean_diff", "ci_low", "ci_high",
        "win_rate", "n_images", "n_seeds", "n_dropped", "significant", "better",
    ]  # fmt: skip
    psnr = out[out.metric == "psnr"].iloc[0]
    assert (psnr.dataset, psnr.backbone, psnr.target, psnr.a, psnr.b) == ("mini", "unet", "x2", "lmar", "bicubic")
    assert psnr.mean_diff == pytest.approx((1 + 0 - 2 + 3) / 4)
    assert psnr.win_rate == pytest.approx(2.5 / 4)
    assert (psnr.n_images, psnr.n_seeds, psnr.n_dropped) == (4, 1, 0)
    assert psnr.better  # +0.5 dB
    assert not psnr.significant  # four images, one a loss: the interval reaches below 0
    lpips = out[out.metric == "lpips"].iloc[0]
    assert lpips.mean_diff == pytest.approx((-0.05 + 0 + 0.05 + 0.10) / 4)
    assert not lpips.better  # positive LPIPS difference: worse


def test_compare_significant_and_direction():
    rows = []
    for i in range(12):
        rows.append(("good", 0, f"im{i}", 30.0 + 0.1 * (i % 3), 0.1))
        rows.append(("bad", 0, f"im{i}", 28.0, 0.3 + 0.01 * (i % 4)))
    out = compare(results(rows), ["psnr", "lpips"], [("good", "bad"), ("bad", "good")], n_boot=N_BOOT)
    good = out[out.a == "good"].set_index("metric")
    assert good.loc["psnr", "significant"] and good.loc["psnr", "better"]
    assert good.loc["lpips", "significant"] and good.loc["lpips", "better"]  # lower LPIPS: negative diff
    assert good.loc["lpips", "ci_high"] < 0 and good.loc["lpips", "win_rate"] == 1.0
    bad = out[out.a == "bad"].set_index("metric")
    assert bad.loc["psnr", "significant"] and not bad.loc["psnr", "better"]
    assert bad.loc["lpips", "win_rate"] == 0.0


def test_compare_counts_nan_and_drops_the_image_across_seeds():
    rows = []
    for seed in (0, 1):
        for i, img in enumerate("abc"):
            rows.append(("lmar", seed, img, 30.0 + i, 0.1 + seed))
            rows.append(("bicubic", seed, img, 29.0 + i, 0.2))
    df = results(rows)
    df.loc[(df.resampler == "lmar") & (df.seed == 1) & (df.image == "b"), "lpips"] = np.nan
    out = compare(df, ["psnr", "lpips"], [("lmar", "bicubic")], n_boot=N_BOOT).set_index("metric")
    assert (out.loc["psnr", "n_images"], out.loc["psnr", "n_seeds"], out.loc["psnr", "n_dropped"]) == (3, 2, 0)
    assert out.loc["psnr", "mean_diff"] == pytest.approx(1.0)
    # image b loses its seed-1 LPIPS: the whole image leaves the two-way matrix, 2 units dropped
    assert (out.loc["lpips", "n_images"], out.loc["lpips", "n_seeds"], out.loc["lpips", "n_dropped"]) == (2, 2, 2)
    assert out.loc["lpips", "mean_diff"] == pytest.approx(((0.1 - 0.2) + (1.1 - 0.2)) / 2)


def test_compare_all_nan_group_is_reported_not_hidden():
    df = TABLE.copy()
    df["lpips"] = np.nan
    row = compare(df, ["lpips"], [("lmar", "bicubic")], n_boot=N_BOOT).iloc[0]
    assert (row.n_images, row.n_dropped) == (0, 4)
    assert math.isnan(row.mean_diff) and not row.significant


def test_compare_groups_present_for_both_only():
    other = TABLE[TABLE.resampler == "lmar"].assign(target="x4")  # x4: lmar only
    df = pd.concat([TABLE, other], ignore_index=True)
    out = compare(df, ["psnr"], [("lmar", "bicubic")], n_boot=N_BOOT)
    assert list(out["target"]) == ["x2"]


def test_compare_missing_unit_names_group_and_unit():
    rows = [(r, s, img, 30.0 if r == "a" else 29.0, 0.1) for r in "ab" for s in (0, 1) for img in "xy"]
    df = results(rows)
    df = df[~((df.resampler == "a") & (df.seed == 1) & (df.image == "y"))]
    with pytest.raises(LmarError, match=r"'a' with 'b' on psnr.*seed 1, image 'y'"):
        compare(df, ["psnr"], [("a", "b")], n_boot=N_BOOT)


# --- pairs ------------------------------------------------------------------------------------------


def test_learned_pairs():
    names = ["lmar", "bicubic", "lanczos", "learned_resizer"]
    assert learned_pairs(names, ["lmar"]) == [("lmar", "bicubic"), ("lmar", "lanczos"), ("lmar", "learned_resizer")]
    assert learned_pairs(pd.DataFrame({"resampler": names + ["lmar"]}), ["lmar", "learned_resizer"]) == [
        ("lmar", "bicubic"),
        ("lmar", "lanczos"),
        ("lmar", "learned_resizer"),
        ("learned_resizer", "bicubic"),
        ("learned_resizer", "lanczos"),
    ]
    with pytest.raises(LmarError, match="'ghost'"):
        learned_pairs(names, ["ghost"])


def test_variants_of_one_part_type_are_paired_with_its_first_entry_not_with_one_another():
    # an ablation study: lmar and two variants of it (type lmar), a learned resizer, one interpolation
    names = ["bicubic", "learned_resizer", "lmar", "no-kernel", "no-edge"]
    types = {"bicubic": "bicubic", "learned_resizer": "learned_resizer", "lmar": "lmar", "no-kernel": "lmar",
             "no-edge": "lmar"}
    learned = ["learned_resizer", "lmar", "no-kernel", "no-edge"]
    assert learned_pairs(names, learned, types) == [
        ("learned_resizer", "bicubic"), ("learned_resizer", "lmar"), ("learned_resizer", "no-kernel"),
        ("learned_resizer", "no-edge"),
        ("lmar", "bicubic"), ("lmar", "no-kernel"), ("lmar", "no-edge"),  # what each removed part adds
        ("no-kernel", "bicubic"),  # no ("no-kernel", "no-edge"): two variants of lmar
        ("no-edge", "bicubic"),
    ]
    # without types every pair is made, as before (10 of them: 4 + 3 + 2 + 1)
    assert len(learned_pairs(names, learned)) == 10


def test_a_gain_that_rests_on_one_of_three_seeds_is_within_noise():
    """Every image gains 0.6 dB at seed 2 and nothing at seeds 0 and 1: the image means are all 0.2 (no
    spread over images), and only the seeds can say how sure the gain is. With 3 seeds the interval is
    Student's t over the per-seed means (0, 0, 0.6): 0.2 +- t(0.975, 2 df) 4.3027 x sd 0.34641 / sqrt(3)
    = 0.2 +- 0.8605, so it holds 0 (the two-way bootstrap alone, drawing seed 2 in most replicates, did not)."""
    rows = []
    for seed in (0, 1, 2):
        for image in "abcdef":
            rows += [("lmar", seed, image, 20.0 + (0.6 if seed == 2 else 0.0), 0.1), ("base", seed, image, 20.0, 0.1)]
    out = compare(results(rows), ["psnr"], [("lmar", "base")], n_boot=2000).iloc[0]
    assert out["mean_diff"] == pytest.approx(0.2)
    assert (out["ci_low"], out["ci_high"]) == pytest.approx((0.2 - 0.8605, 0.2 + 0.8605), abs=2e-4)
    assert not out["significant"]


def test_with_twelve_images_the_paired_interval_is_still_widened_to_students_t():
    """lmar - base +1 on 11 images and -2 on one: mean 0.75, sd sqrt(8.25 / 11) = 0.8660, Student's t
    0.75 +- t(0.975, 11 df) 2.20099 x 0.8660 / sqrt(12) = [0.1998, 1.3002]. The percentile bootstrap's is
    [0.25, 1.0] (a draw with 4 or more copies of -2, mean 0, has chance 0.014 < 0.025; with 3, mean 0.25,
    0.072): narrower at both ends. The interval is the wider, t, whatever the number of images."""
    rows = []
    for k in range(12):
        rows += [("lmar", 0, f"i{k}", 20.0 + (-2.0 if k == 0 else 1.0), 0.1), ("base", 0, f"i{k}", 20.0, 0.1)]
    out = compare(results(rows), ["psnr"], [("lmar", "base")], n_boot=4000).iloc[0]
    assert out["mean_diff"] == pytest.approx(0.75)
    assert (out["ci_low"], out["ci_high"]) == pytest.approx((0.75 - 0.55025, 0.75 + 0.55025), abs=2e-4)
