"""Tables over the same images: a block whose rows were scored on different test images (or seeds) is
reduced to the ones all its rows share, with a left-out note and exit status 3; its gain row is a
paired difference; a partly scored row is never ranked bold by its mean; the title counts images and
seeds. Every expected number is worked out by hand in the comments from the hand-made rows."""

from __future__ import annotations

import pandas as pd

from lmar.cli import main
from lmar.report import left_out
from lmar.report.blocks import unequal_images
from lmar.report.overview import markdown_table
from lmar.report.tables import metric_frame, render
from lmar.report.write import write_table


def frame(psnr: dict, seeds=(0,), dataset="mini", backbone="unet") -> pd.DataFrame:
    """Results rows from {resampler: {target: {image: psnr}}} (one value for every seed, plus the seed
    number) or {resampler: {target: {(seed, image): psnr}}}; SSIM is PSNR / 100."""
    rows = []
    for name, targets in psnr.items():
        for target, values in targets.items():
            for key, value in values.items():
                units = [key] if isinstance(key, tuple) else [(s, key) for s in seeds]
                for seed, image in units:
                    v = value + seed if not isinstance(key, tuple) else value
                    rows.append({"dataset": dataset, "backbone": backbone, "resampler": name, "target": target,
                                 "scale": float(target[1:]), "image": image, "seed": seed, "psnr": v,
                                 "ssim": v / 100, "resampler_weights": "trained" if name == "lmar" else "none"})
    return pd.DataFrame(rows)


def overview(md: str) -> dict[str, list[str]]:
    """The overview's table lines -> {first cell: other cells}."""
    out = {}
    for line in md.split("## Every metric")[0].splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            out[cells[0]] = cells[1:]
    return out


def detail(md: str, heading: str) -> dict[str, list[str]]:
    """The lines of the detailed table under ``heading`` -> {resampler: cells}."""
    block = md.split(heading)[1].split("###")[0]
    out = {}
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) > 1 and cells[0] not in ("resampler", "pair") and not cells[0].startswith(":"):
            out[cells[0]] = cells[1:]
    return out


# bicubic and lmar on images a, b and coffee; area on a and b only (its coffee job never finished).
# Over the 2 images all share: area (30 + 32) / 2 = 31.00, bicubic (30 + 32) / 2 = 31.00, lmar 32.00:
# area - bicubic is +0.00 on each image. Averaged over their own images, bicubic would be
# (30 + 32 + 20) / 3 = 27.33 and area - bicubic +3.67.
MIXED = {"area": {"x2": {"a": 30.0, "b": 32.0}},
         "bicubic": {"x2": {"a": 30.0, "b": 32.0, "coffee": 20.0}},
         "lmar": {"x2": {"a": 31.0, "b": 33.0, "coffee": 21.0}}}


def test_mixed_image_sets_are_averaged_over_the_images_all_rows_share(tmp_path):
    path = tmp_path / "r.csv"
    frame(MIXED).to_csv(path, index=False)
    _, notes = write_table([path], tmp_path / "t.md", gain=("area", "bicubic"), out_left_out=tmp_path / "l.md")
    md = (tmp_path / "t.md").read_text()
    assert "### mini / unet: PSNR (dB) / SSIM, mean over 2 test images, seed 0" in md
    t = overview(md)
    assert t["area"] == ["31.00 / 0.3100"] and t["bicubic"] == ["31.00 / 0.3100"] and t["lmar"] == ["32.00 / 0.3200"]
    assert t["**area - bicubic**"] == ["+0.00 [+0.00, +0.00] within noise / +0.0000 [+0.0000, +0.0000] within noise"]
    # the detailed tables: the same means, over the same 2 images
    d = detail(md, "mini / unet: PSNR (dB) ↑, mean [95% interval] over 2 test images, seed 0")
    assert d["bicubic"][0].strip("*").startswith("31.00") and d["area"][0].strip("*").startswith("31.00")
    # the note: what each was scored on, what the rows were reduced to, and what was left out
    assert len(notes) == 1 and left_out.read(tmp_path / "l.md") == notes
    note = notes[0]
    assert note.startswith("mini / unet (seeds 0): the rows were not scored on the same test images")
    assert "area on 2 images x 1 seed" in note and "bicubic, lmar on 3 images x 1 seed" in note
    assert "every row was reduced to the 2 images x 1 seed all share" in note
    assert "(left out: coffee (bicubic, lmar))" in note
    assert f"**Left out:** {note}." in md


def test_the_table_verb_exits_3_when_image_sets_differ_and_0_when_they_agree(tmp_path, capsys):
    paths = []
    for name, targets in MIXED.items():
        paths.append(tmp_path / f"{name}.csv")
        frame({name: targets}).to_csv(paths[-1], index=False)
    outs = ["--out-md", str(tmp_path / "t.md"), "--gain", "area", "bicubic"]
    assert main(["table", *map(str, paths), *outs]) == 3
    assert "1 thing(s) left out" in capsys.readouterr().err
    assert overview((tmp_path / "t.md").read_text())["**area - bicubic**"] == ["+0.00 [+0.00, +0.00] within noise / +0.0000 [+0.0000, +0.0000] within noise"]
    assert main(["table", *map(str, paths), *outs, "--out-left-out", str(tmp_path / "l.md")]) == 0
    assert main(["left-out", str(tmp_path / "l.md")]) == 3
    assert "bicubic, lmar on 3 images x 1 seed" in capsys.readouterr().err
    # the same runs on the same images: nothing left out
    agreed = {name: {"x2": {k: v for k, v in values["x2"].items() if k != "coffee"}} for name, values in MIXED.items()}
    for path, (name, targets) in zip(paths, agreed.items()):
        frame({name: targets}).to_csv(path, index=False)
    assert main(["table", *map(str, paths), *outs]) == 0


def test_a_row_dropped_from_one_csv_reduces_the_whole_block(tmp_path):
    # lmar and bicubic score the same on every image, area 1 dB below; at x4 everything 5 dB lower
    base = {"a": 30.0, "b": 28.0, "c": 26.0}
    runs = {"lmar": 0.0, "bicubic": 0.0, "area": -1.0}
    paths = []
    for name, offset in runs.items():
        df = frame({name: {"x2": {k: v + offset for k, v in base.items()},
                           "x4": {k: v + offset - 5 for k, v in base.items()}}})
        if name == "bicubic":  # one row lost: bicubic at x2 on image c
            df = df[~((df.target == "x2") & (df.image == "c"))]
        paths.append(tmp_path / f"{name}.csv")
        df.to_csv(paths[-1], index=False)
    _, notes = write_table(paths, tmp_path / "t.md", gain=("lmar", "bicubic"), out_stats=tmp_path / "s.csv")
    md = (tmp_path / "t.md").read_text()
    t = overview(md)
    # over a and b: lmar x2 (30 + 28) / 2 = 29.00, x4 24.00; bicubic the same; area 28.00 and 23.00.
    # Unpaired, lmar x2 would be (30 + 28 + 26) / 3 = 28.00 against bicubic 29.00: a gain of -1.00
    assert t["lmar"] == ["29.00 / 0.2900", "24.00 / 0.2400"] and t["bicubic"] == t["lmar"]
    assert t["area"] == ["28.00 / 0.2800", "23.00 / 0.2300"]
    assert t["**lmar - bicubic**"] == ["+0.00 [+0.00, +0.00] within noise / +0.0000 [+0.0000, +0.0000] within noise"] * 2
    assert len(notes) == 1
    assert "bicubic on 2 images x 1 seed at x2, 3 images x 1 seed at x4" in notes[0]
    assert "every row was reduced to the 2 images x 1 seed all share" in notes[0]
    assert "(left out: c (lmar, bicubic, area))" in notes[0]
    # the paired comparisons are over the same 2 images, lmar - area +1 on each
    stats = pd.read_csv(tmp_path / "s.csv")
    paired = stats[(stats.kind == "paired") & (stats.metric == "psnr")]
    assert set(paired["n_images"]) == {2}
    vs_area = paired[(paired.b == "area") & (paired.target == "x2")].iloc[0]
    assert vs_area["mean_diff"] == 1.0 and vs_area["win_rate"] == 1.0


def test_a_partly_scored_resampler_is_not_ranked_bold_by_its_mean():
    # area scored a and b only. Over its own 2 images it has 35.00, the highest mean in the column
    # (lmar (37 + 36 + 21) / 3 = 31.33 over 3). Over the 2 images all share: lmar 36.50, area 35.00,
    # bicubic 34.00: lmar is the best, area second.
    df = frame({"area": {"x2": {"a": 35.0, "b": 35.0}},
                "bicubic": {"x2": {"a": 34.0, "b": 34.0, "c": 20.0}},
                "lmar": {"x2": {"a": 37.0, "b": 36.0, "c": 21.0}}})
    md, _, _ = render(df, ["psnr"], n_boot=200)
    d = detail(md, "mini / unet: PSNR (dB) ↑")
    assert d["lmar"][0].startswith("**36.50") and d["area"][0].startswith("*35.00")
    assert not d["bicubic"][0].startswith("*")


def test_a_row_over_fewer_units_than_its_table_is_not_ranked():
    # cell statistics as a table block would hold them if a row had not been reduced: area over 2
    # units with the highest mean, the others over 3. Only full rows are ranked: lmar, then bicubic.
    part = pd.DataFrame([
        {"resampler": "area", "target": "x2", "scale": 2.0, "mean": 35.0, "ci_low": 35.0, "ci_high": 35.0,
         "n": 2, "n_units": 2},
        {"resampler": "bicubic", "target": "x2", "scale": 2.0, "mean": 29.0, "ci_low": 28.0, "ci_high": 30.0,
         "n": 3, "n_units": 3},
        {"resampler": "lmar", "target": "x2", "scale": 2.0, "mean": 31.0, "ci_low": 30.0, "ci_high": 32.0,
         "n": 3, "n_units": 3}])
    _, rank = metric_frame(part, "psnr")
    assert rank.loc["area", "x2"] == 0 and rank.loc["lmar", "x2"] == 1 and rank.loc["bicubic", "x2"] == 2


def test_two_seeds_the_title_counts_images_and_seeds():
    # 3 images x 2 seeds; seed 1 scores 1 dB more than seed 0 (frame adds the seed number).
    # bicubic x2: (30 + 28 + 26 + 31 + 29 + 27) / 6 = 28.50; lmar +2 on every unit: 30.50
    df = frame({"bicubic": {"x2": {"a": 30.0, "b": 28.0, "c": 26.0}},
                "lmar": {"x2": {"a": 32.0, "b": 30.0, "c": 28.0}}}, seeds=(0, 1))
    md, _, tidy = render(df, ["psnr"], learned=["lmar"], n_boot=200)
    assert "### mini / unet: PSNR (dB) ↑, mean [95% interval] over 3 test images x 2 seeds (0, 1)\n" in md
    assert detail(md, "PSNR (dB) ↑, mean")["bicubic"][0].startswith("*28.50 ")  # second of two: italic
    assert "PSNR (dB) ↑ (over 3 test images x 2 seeds (0, 1))" in md
    paired = tidy[tidy.kind == "paired"].iloc[0]
    assert (paired["n_images"], paired["n_seeds"], paired["mean_diff"]) == (3, 2, 2.0)
    text = markdown_table(df, gain=("lmar", "bicubic"))
    assert "mean over 3 test images x 2 seeds (0, 1)" in text and "| bicubic | 28.50 / 0.2850 |" in text


def test_an_image_missing_at_one_seed_leaves_for_every_seed():
    # lmar lacks image c at seed 1: c leaves the block at both seeds, so the units stay a full
    # 2 images x 2 seeds matrix. bicubic over a, b: (30 + 28 + 31 + 29) / 4 = 29.50; lmar +2: 31.50
    values = {"bicubic": {"a": 30.0, "b": 28.0, "c": 26.0}, "lmar": {"a": 32.0, "b": 30.0, "c": 28.0}}
    units = {name: {"x2": {(s, im): v + s for s in (0, 1) for im, v in per.items()
                           if (name, s, im) != ("lmar", 1, "c")}} for name, per in values.items()}
    df = frame(units)
    text = markdown_table(df, gain=("lmar", "bicubic"))
    md, _, tidy = render(df, ["psnr"], learned=["lmar"], n_boot=200)
    notes = unequal_images(df)
    assert "mean over 2 test images x 2 seeds (0, 1)" in text and "| bicubic | 29.50 / 0.2950 |" in text
    assert "| **lmar - bicubic** | +2.00 [+2.00, +2.00] † / +0.0200 [+0.0200, +0.0200] † |" in text
    assert "over 2 test images x 2 seeds (0, 1)" in md
    paired = tidy[tidy.kind == "paired"].iloc[0]
    assert (paired["n_images"], paired["n_seeds"], paired["mean_diff"]) == (2, 2, 2.0)
    assert len(notes) == 1 and "lmar on 5 (image, seed) units over 3 images" in notes[0]
    assert "bicubic on 3 images x 2 seeds" in notes[0] and "reduced to the 2 images x 2 seeds all share" in notes[0]


def test_a_row_sharing_no_image_with_the_rest_is_left_out(tmp_path):
    # area was scored on image z alone, which no other row has: it cannot be reduced, so it leaves
    # the x2 column; the others keep their 2 images: bicubic (30 + 32) / 2 = 31.00
    df = frame({"area": {"x2": {"z": 40.0}},
                "bicubic": {"x2": {"a": 30.0, "b": 32.0}},
                "lmar": {"x2": {"a": 31.0, "b": 33.0}}})
    path = tmp_path / "r.csv"
    df.to_csv(path, index=False)
    _, notes = write_table([path], tmp_path / "t.md", gain=("lmar", "bicubic"))
    t = overview((tmp_path / "t.md").read_text())
    assert "area" not in t and t["bicubic"] == ["31.00 / 0.3100"] and t["**lmar - bicubic**"] == ["+1.00 [+1.00, +1.00] † / +0.0100 [+0.0100, +0.0100] †"]
    assert len(notes) == 1 and notes[0].endswith("left out as sharing no image with the rest: area at x2")


def test_the_gain_row_pairs_units_where_a_value_is_missing():
    # bicubic's PSNR is missing (NaN) on image c: the gain is over a and b, where lmar is +1 on each;
    # lmar's mean minus bicubic's would be (31 + 33 + 21) / 3 - (30 + 32) / 2 = -2.67
    df = frame({"bicubic": {"x2": {"a": 30.0, "b": 32.0, "c": 20.0}},
                "lmar": {"x2": {"a": 31.0, "b": 33.0, "c": 21.0}}})
    df.loc[(df.resampler == "bicubic") & (df.image == "c"), "psnr"] = float("nan")
    t = overview(markdown_table(df, gain=("lmar", "bicubic")))
    assert t["**lmar - bicubic**"] == ["+1.00 [+1.00, +1.00] † (2 of 3) / +0.0100 [+0.0100, +0.0100] †"]


def test_variants_of_one_type_are_paired_with_the_first_and_untyped_rows_with_everyone():
    from lmar.report.tables import comparisons

    psnr = {name: {"x2": {"a": 20.0 + k, "b": 21.0 + k}} for k, name in enumerate(("bicubic", "lmar", "v1", "v2"))}
    df = frame(psnr)
    df["resampler_type"] = df["resampler"].map({"bicubic": "bicubic", "lmar": "lmar", "v1": "lmar", "v2": "lmar"})
    learned = ["lmar", "v1", "v2"]

    def pairs(d):
        return sorted(set(zip(d["a"], d["b"])))

    # v1 and v2 are variants of lmar: each against lmar and bicubic, not against each other
    assert pairs(comparisons(df, ["psnr"], learned, n_boot=200)) == [
        ("lmar", "bicubic"), ("lmar", "v1"), ("lmar", "v2"), ("v1", "bicubic"), ("v2", "bicubic")]
    # a store whose rows carry no type (NaN) pairs them all, as a store without the column does
    df["resampler_type"] = None
    assert pairs(comparisons(df, ["psnr"], learned, n_boot=200)) == [
        ("lmar", "bicubic"), ("lmar", "v1"), ("lmar", "v2"), ("v1", "bicubic"), ("v1", "v2"), ("v2", "bicubic")]
