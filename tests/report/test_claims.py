"""The claims check: the paper's +1.2 dB at x1.8 on UHD-LOL4K beside what a run measured."""

from __future__ import annotations

import pandas as pd

from lmar.report.claims import claims_table


def rows(dataset_type, targets, psnr_by_resampler):
    out = []
    for name, (rtype, base) in psnr_by_resampler.items():
        for target, (h, w), scale in targets:
            for k, image in enumerate(("i1", "i2", "i3", "i4")):
                out.append({"dataset": "d", "dataset_type": dataset_type, "backbone": "unet", "resampler": name,
                            "resampler_type": rtype, "target": target, "target_h": h, "target_w": w, "scale": scale,
                            "image": image, "seed": 0, "psnr": base + 0.1 * k})
    return pd.DataFrame(out)


LOL4K_TARGETS = [("x1.8", (1200, 1600), 1.8), ("x1.8-aspect", (1200, 2133), 1.8), ("x2", (1080, 1920), 2.0)]


def line(md: str, comparison: str) -> list[str]:
    for ln in md.splitlines():
        cells = [c.strip() for c in ln.strip("|").split("|")]
        if len(cells) > 2 and cells[2] == comparison:
            return cells
    raise AssertionError(f"no row {comparison!r} in\n{md}")


def test_on_uhd_lol4k_the_gain_at_1200x1600_is_beside_the_claim():
    df = rows("uhd_lol4k", LOL4K_TARGETS,
              {"lmar": ("lmar", 25.0), "lanczos3": ("lanczos3", 24.5), "bicubic": ("bicubic", 24.0)})
    md = claims_table(df, n_boot=200)
    # the same +0.5 dB on each of 4 images: the interval collapses to it
    assert line(md, "lmar - lanczos3")[3:6] == ["x1.8", "+1.2 dB (up to)", "+0.50 dB [+0.50, +0.50], n = 4 images x 1 seed"]
    assert line(md, "lmar - lanczos3")[6] == "no full-resolution row beside it"
    assert line(md, "lmar - bicubic")[3:5] == ["x1.8", "not reported"]
    assert "cannot test the claim" not in md


def test_elsewhere_it_says_it_is_not_the_claims_setting():
    df = rows("mini", [("x1.5", (240, 360), 1.5), ("x1.8", (200, 300), 1.8)],
              {"lmar": ("lmar", 20.1), "lanczos3": ("lanczos3", 20.0)})
    md = claims_table(df, n_boot=200)
    assert line(md, "lmar - lanczos3")[3:5] == ["x1.8", "not the claim's setting"]
    assert "This run has no UHD-LOL4K dataset: it cannot test the claim itself" in md


def test_without_an_lmar_entry_it_cannot_be_tested():
    df = rows("uhd_lol4k", LOL4K_TARGETS, {"bicubic": ("bicubic", 24.0), "lanczos3": ("lanczos3", 24.5)})
    md = claims_table(df, n_boot=200)
    assert "cannot be tested: no LMAR entry" in md


def test_the_claims_baseline_comes_first_whatever_the_names():
    # rows of bicubic first, and names that sort the other way: the lanczos3-type entry's row still leads
    df = rows("uhd_lol4k", LOL4K_TARGETS, {"lmar": ("lmar", 25.0), "a_bicubic": ("bicubic", 24.0),
                                           "z_lanczos": ("lanczos3", 24.5)})
    md = claims_table(df, n_boot=200)
    order = [ln.split("|")[3].strip() for ln in md.splitlines() if ln.startswith("| d ")]
    assert order == ["lmar - z_lanczos", "lmar - a_bicubic"]


def test_a_small_gain_keeps_the_decimals_that_show_its_interval_and_a_wide_one_says_within_noise():
    """lmar - lanczos3 per image +0.006, +0.008, +0.010, +0.012: mean +0.009, Student's t over 4 images
    0.009 +- 3.1824 x 0.0025820 / 2 = [+0.005, +0.013] (the bootstrap's is narrower): excludes 0, and at two
    decimals it would read "+0.01 dB [+0.00, +0.01]"; bicubic: +0.5 on two images, -0.5 on two: within noise."""
    df = rows("uhd_lol4k", LOL4K_TARGETS, {"lanczos3": ("lanczos3", 24.5), "bicubic": ("bicubic", 24.0)})
    lmar = df[df.resampler == "lanczos3"].assign(resampler="lmar", resampler_type="lmar")
    lmar["psnr"] = lmar["psnr"] + lmar["image"].map({"i1": 0.006, "i2": 0.008, "i3": 0.010, "i4": 0.012})
    bic = df.resampler == "bicubic"
    df.loc[bic, "psnr"] = df.loc[bic, "psnr"] + 0.5 + df.loc[bic, "image"].map({"i1": -0.5, "i2": 0.5, "i3": 0.5,
                                                                                  "i4": -0.5})
    md = claims_table(pd.concat([df, lmar]), n_boot=200)
    assert line(md, "lmar - lanczos3")[5] == "+0.009 dB [+0.005, +0.013], n = 4 images x 1 seed"
    assert line(md, "lmar - bicubic")[5].endswith("within noise, n = 4 images x 1 seed")


def test_beside_each_gain_the_loss_there_was_to_close():
    """Full resolution 26.0 + 0.1 k on image k; lanczos3 24.5 + 0.1 k: 1.5 dB lost on every image, interval
    [+1.5, +1.5]. bicubic 24.0 + 0.1 k, then +2, -2, +2, -2 on images 1 to 4: full - bicubic 0, 4, 0, 4, mean
    +2.0, sd 2.3094, Student's t 2 +- 3.1824 x 2.3094 / 2 = [-1.67, +5.67]: within noise. No UHD-LOL4K run
    without a full-resolution row says "no full-resolution row beside it" (the test above)."""
    df = rows("uhd_lol4k", LOL4K_TARGETS,
              {"lmar": ("lmar", 25.0), "lanczos3": ("lanczos3", 24.5), "bicubic": ("bicubic", 24.0)})
    bic = df.resampler == "bicubic"
    df.loc[bic, "psnr"] += df.loc[bic, "image"].map({"i1": 2.0, "i2": -2.0, "i3": 2.0, "i4": -2.0})
    full = rows("uhd_lol4k", [("full", (2160, 3840), 1.0)], {"full_resolution": ("full_resolution", 26.0)})
    md = claims_table(pd.concat([df, full], ignore_index=True), n_boot=200)
    assert "loss to close (full resolution - baseline)" in md
    assert line(md, "lmar - lanczos3")[6] == "+1.50 dB [+1.50, +1.50]"
    assert line(md, "lmar - bicubic")[6] == "+2.00 dB [-1.67, +5.67] within noise"


def test_the_share_of_the_loss_each_gain_closes():
    """Full resolution 26.0 + 0.1 k on image k, lanczos3 24.0 + 0.1 k: 2.0 dB lost on every image.
    lmar 24.5 + 0.1 k: +0.5 dB on every image, 0.5 / 2.0 = +25.0% of the loss. bicubic 25.9 + 0.1 k: loss
    0.1 dB on every image (measurable), lmar - bicubic -1.4 dB: -1400.0%. With the loss within noise (full
    resolution +-3 dB around lanczos3 image by image) no share is given."""
    df = rows("mini", [("x1.8", (200, 300), 1.8)],
              {"lmar": ("lmar", 24.5), "lanczos3": ("lanczos3", 24.0), "bicubic": ("bicubic", 25.9)})
    full = rows("mini", [("full", (360, 540), 1.0)], {"full_resolution": ("full_resolution", 26.0)})
    md = claims_table(pd.concat([df, full], ignore_index=True), n_boot=200)
    assert line(md, "lmar - lanczos3")[6:8] == ["+2.00 dB [+2.00, +2.00]", "+25.0%"]
    assert line(md, "lmar - bicubic")[7] == "-1400.0%"

    noisy = full.copy()
    noisy["psnr"] = 24.0 + 0.1 * noisy["image"].map({"i1": 0, "i2": 1, "i3": 2, "i4": 3}) + \
        noisy["image"].map({"i1": 3.0, "i2": -3.0, "i3": 3.0, "i4": -3.0})
    md = claims_table(pd.concat([df, noisy], ignore_index=True), n_boot=200)
    assert line(md, "lmar - lanczos3")[7] == "- (no measurable loss)"


def test_a_gain_within_noise_still_gets_its_share_marked_and_a_baseline_above_full_resolution_gets_none():
    """lmar - lanczos3 +1, -1, +1, -1 + 0.2 on images 1 to 4 (mean +0.2, within noise) against a 2.0 dB loss:
    +10.0%, marked. A full-resolution row 1 dB below lanczos3 on every image: no loss to share."""
    df = rows("mini", [("x1.8", (200, 300), 1.8)], {"lanczos3": ("lanczos3", 24.0)})
    lmar = df.assign(resampler="lmar", resampler_type="lmar")
    lmar["psnr"] += 0.2 + lmar["image"].map({"i1": 1.0, "i2": -1.0, "i3": 1.0, "i4": -1.0})
    full = rows("mini", [("full", (360, 540), 1.0)], {"full_resolution": ("full_resolution", 26.0)})
    md = claims_table(pd.concat([df, lmar, full], ignore_index=True), n_boot=200)
    assert line(md, "lmar - lanczos3")[7] == "+10.0%, gain within noise"
    below = full.assign(psnr=full["psnr"] - 3.0)
    md = claims_table(pd.concat([df, lmar, below], ignore_index=True), n_boot=200)
    assert line(md, "lmar - lanczos3")[7] == "- (the baseline is above full resolution)"


def test_a_gain_at_fewer_seeds_than_its_loss_gets_no_share():
    """lanczos3 and full resolution at seeds 0 and 1, lmar at seed 0 alone: the tables' first block (both
    seeds) holds the loss, a block of seed 0 the gain; they are not over the same units, so their ratio
    is not given, and the cell names both counts."""
    base = rows("mini", [("x1.8", (200, 300), 1.8)], {"lmar": ("lmar", 24.5), "lanczos3": ("lanczos3", 24.0)})
    full = rows("mini", [("full", (360, 540), 1.0)], {"full_resolution": ("full_resolution", 26.0)})
    seed1 = pd.concat([base[base.resampler == "lanczos3"], full]).assign(seed=1)
    md = claims_table(pd.concat([base, full, seed1], ignore_index=True), n_boot=200)
    assert line(md, "lmar - lanczos3")[5].endswith("n = 4 images x 1 seed")
    assert line(md, "lmar - lanczos3")[7] == ("- (not paired: the gain is over 4 images x 1 seed, the loss over "
                                              "4 images x 2 seeds)")
