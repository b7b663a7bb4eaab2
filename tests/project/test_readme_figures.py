"""The README's figures for the default experiment ("What its table shows, and what it cannot") are
those of the run it names under docs/measured/, and each of its bullets' those of the record that bullet
names: each quoted number is recomputed here from that record's ``table_stats.csv``, per-image scores,
training curves and ``table.md`` (intervals with scipy's Student's t, not the harness's), so that a rerun
whose numbers moved cannot leave the README quoting the run before (the learned resizer's row once did)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from helpers import ROOT

SECTION_HEAD = "**What its table shows, and what it cannot.**"
BACKBONES = ("unet", "nafnet")
TARGETS = ["x1.5", "x1.8", "x2", "x3", "x4"]


@pytest.fixture(scope="module")
def section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(SECTION_HEAD)
    return " ".join(text[start:text.index("\n\n", text.index("- **Compute**", start))].split())


@pytest.fixture(scope="module")
def run(section) -> Path:
    named = re.search(r"its tables, statistics, per-image scores and curves are in `(docs/measured/[^`/]+)/`", section)
    assert named, "the section no longer names the docs/measured folder its figures come from"
    folder = ROOT / named.group(1)
    assert (folder / "table_stats.csv").is_file() and (folder / "curves").is_dir(), folder
    return folder


@pytest.fixture(scope="module")
def stats(run) -> pd.DataFrame:
    return pd.read_csv(run / "table_stats.csv")


def curve(run: Path, backbone: str, part: str) -> pd.DataFrame:
    return pd.read_csv(run / "curves" / f"{backbone}-{part}.curve.csv")


def mean_psnr(stats, backbone, resampler, target) -> float:
    row = stats[(stats.kind == "mean") & (stats.metric == "psnr") & (stats.backbone == backbone)
                & (stats.resampler == resampler) & (stats.target == target)]
    assert len(row) == 1, (backbone, resampler, target)
    return float(row["mean"].iloc[0])


def paired_psnr(stats, backbone, a, b, metric: str = "psnr") -> pd.DataFrame:
    rows = stats[(stats.kind == "paired") & (stats.metric == metric) & (stats.backbone == backbone)
                 & (stats.a == a) & (stats.b == b)]
    assert len(rows) == 5, (backbone, a, b)
    return rows.set_index("target")


def main_paragraph(section: str) -> str:
    """The section's opening paragraph: the default run's own figures, before its first bullet."""
    return section[:section.index("- **")]


def bullet(section: str, title: str) -> str:
    """The section's bullet that opens with ``**title**``, up to the next bullet."""
    start = section.index(f"- **{title}**")
    nxt = section.find("- **", start + 4)
    return section[start:nxt if nxt > 0 else None]


def quoted(section: str, pattern: str) -> tuple[float, ...]:
    m = re.search(pattern, section)
    assert m, f"the README's section no longer says {pattern!r}: update this test with the sentence"
    return tuple(float(g) for g in m.groups())


def kept_epoch(c: pd.DataFrame) -> int:
    return int(c.loc[c.kept == 1, "epoch"].iloc[0])


def resampling_loss(scores: pd.DataFrame, backbone: str) -> pd.DataFrame:
    """Full resolution minus lanczos3 per image (rows) and target (columns), from a record's psnr_per_image.csv."""
    rows = scores[scores.backbone == backbone]
    full = rows[rows.resampler == "full_resolution"].set_index("image")["psnr"]
    lanczos3 = rows[rows.resampler == "lanczos3"].pivot(index="image", columns="target", values="psnr")
    return -lanczos3.sub(full, axis=0)


def t_interval(x: pd.Series) -> tuple[float, float]:
    """Student's t 95% interval of the mean (scipy), independent of the harness's bootstrap."""
    from scipy import stats as st

    half = st.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / len(x) ** 0.5
    return x.mean() - half, x.mean() + half


def measurable(d: pd.DataFrame) -> list[str]:
    """The targets (columns of ``d``) whose t interval lies above 0, by scale."""
    return [t for t in sorted(d.columns, key=lambda t: float(t[1:])) if t_interval(d[t])[0] > 0]


def last_fifths_change(c: pd.DataFrame) -> float:
    """A backbone curve's held-out PSNR: the mean of its last fifth of epochs minus the fifth's before, to 0.01 dB."""
    psnr = c["val_psnr"].to_numpy()
    fifth = len(psnr) // 5
    return round(psnr[-fifth:].mean() - psnr[-2 * fifth:-fifth].mean(), 2)


def per_resampler(scores: pd.DataFrame, backbone: str) -> pd.DataFrame:
    """A record's per-image PSNR on ``backbone``: rows (target, image), a column per resampler."""
    return scores[scores.backbone == backbone].pivot_table(index=["target", "image"], columns="resampler",
                                                           values="psnr")


def minus_lanczos3(scores: pd.DataFrame, backbone: str, resampler: str) -> pd.Series:
    """A record's per-image PSNR of ``resampler`` minus lanczos3's on ``backbone``, indexed (target, image)."""
    rows = per_resampler(scores, backbone)
    return rows[resampler] - rows["lanczos3"]


def loss_at_x15_and_x4(stats: pd.DataFrame) -> list[float]:
    """Full resolution minus lanczos3 (table means) at x1.5 and x4, U-Net then NAFNet, to 0.01 dB."""
    return [round(mean_psnr(stats, b, "full_resolution", "full") - mean_psnr(stats, b, "lanczos3", t), 2)
            for b in BACKBONES for t in ("x1.5", "x4")]


def degradation_bullet(title: str, name: str) -> tuple[str, Path, pd.DataFrame]:
    """The README bullet ``title`` on workflow/configs/<name>_degradation.yaml: its text, the record it names
    and that record's per-image scores; its quoted full-resolution PSNR checked against those scores."""
    text = " ".join((ROOT / "README.md").read_text().split())
    named = re.search(rf"\*\*{title}\*\* \(`workflow/configs/{name}_degradation.yaml`.*?`(docs/measured/[^`/]+)/`",
                      text)
    assert named, f"the README no longer names the {name} degradation's record"
    record = ROOT / named.group(1)
    scores = pd.read_csv(record / "psnr_per_image.csv")
    section = text[named.start():text.index("- **", named.end())]
    full = scores[scores.resampler == "full_resolution"].groupby("backbone")["psnr"].mean()
    assert quoted(section, r"read ([\d.]+) dB \(U-Net\) and ([\d.]+) dB \(NAFNet\) at full resolution") == (
        round(full["unet"], 2), round(full["nafnet"], 2))
    return section, record, scores


# --- the default run (the section's opening paragraph and its bullets on LMAR, the learned resizer, area) ---

def test_full_resolution_and_the_loss_resampling_costs(section, run, stats):
    main = main_paragraph(section)
    unet, nafnet = quoted(main, r"at full resolution the U-Net reads ([\d.]+) dB and NAFNet ([\d.]+) dB")
    full = {b: mean_psnr(stats, b, "full_resolution", "full") for b in BACKBONES}
    assert (unet, nafnet) == (round(full["unet"], 2), round(full["nafnet"], 2))
    got = quoted(main, r"full resolution minus lanczos3, is (-?[\d.]+) dB at x1.5 and (-?[\d.]+) dB at x4 "
                       r"with the U-Net, and (-?[\d.]+) and (-?[\d.]+) dB with NAFNet")
    assert list(got) == loss_at_x15_and_x4(stats)
    scores = pd.read_csv(run / "psnr_per_image.csv")
    x18 = quoted(main, r"at x1.8, the paper's target, ([\d.]+) dB \[\+([\d.]+), \+([\d.]+)\] and ([\d.]+) dB "
                       r"\[\+([\d.]+), \+([\d.]+)\]")
    want = []
    for b in BACKBONES:
        loss = resampling_loss(scores, b)["x1.8"]
        want += [round(loss.mean(), 2), *(round(v, 2) for v in t_interval(loss))]
    assert list(x18) == want


def test_the_earlier_run_it_names_has_the_same_scores_byte_for_byte(section, run):
    """The section says its run reproduces the record of the same experiment under its earlier name."""
    m = re.search(r"byte for byte the scores of the same experiment run under another name before it became the "
                  r"default, `(docs/measured/[^`/]+)/`", main_paragraph(section))
    assert m, "the README no longer names the earlier run it reproduces"
    for name in ("table_stats.csv", "psnr_per_image.csv"):
        assert (run / name).read_bytes() == (ROOT / m.group(1) / name).read_bytes(), name


def test_the_resampling_loss_is_measurable_everywhere_and_every_image_loses(section, run):
    """Recomputed from the record's per-image scores with scipy's t: full resolution minus lanczos3 has a 95%
    interval above 0 at every target on both backbones, every image loses at every target, and the record's
    table gives no "not measurable" verdict."""
    main = main_paragraph(section)
    scores = pd.read_csv(run / "psnr_per_image.csv")
    assert "that loss is measurable at every target on both backbones, and every test image loses at every " \
           "target" in main
    loss = {b: resampling_loss(scores, b) for b in BACKBONES}
    for b in BACKBONES:
        assert measurable(loss[b]) == TARGETS and (loss[b] > 0).all().all(), b
    (least,) = quoted(main, r"at least ([\d.]+) dB at x1.8")
    assert least == round(min(loss[b]["x1.8"].min() for b in BACKBONES), 2)
    table = (run / "table.md").read_text()
    assert "The resampling loss is not measurable" not in table
    assert "beats full resolution" not in table and "No resampler beats full resolution" in main


def test_the_backbones_convergence(section, run):
    got = quoted(main_paragraph(section), r"held-out PSNR ([+-][\d.]+) and ([+-][\d.]+) dB between the last two fifths")
    assert list(got) == [last_fifths_change(curve(run, b, "backbone")) for b in BACKBONES]
    assert max(abs(g) for g in got) <= 0.1  # the table's criterion (lmar.run.curves.CONVERGED_DB), written out


def test_lmar_closes_none_of_the_loss(section, run, stats):
    text = bullet(section, "LMAR")
    assert {b: kept_epoch(curve(run, b, "lmar")) for b in BACKBONES} == {"unet": -1, "nafnet": 0}
    assert "early stopping kept its start on the U-Net" in text and "its first epoch on NAFNet" in text
    unet = curve(run, "unet", "lmar").set_index("epoch")["val_psnr"]
    assert (unet[unet.index >= 0] < unet[-1]).all()  # "every epoch scored lower"
    assert quoted(text, r"the second by ([\d.]+) dB\)") == (round(unet[-1] - unet[1], 2),)
    nafnet = curve(run, "nafnet", "lmar").set_index("epoch")["val_psnr"]
    (margin,) = quoted(text, r"\(\+([\d.]+) dB over its start\)")
    assert f"{nafnet[0] - nafnet[-1]:.4f}" == f"{margin:.4f}"
    scores = pd.read_csv(run / "psnr_per_image.csv")
    lmar = pd.concat({b: minus_lanczos3(scores, b, "lmar") for b in BACKBONES})
    assert "its mean is within 0.001 dB of lanczos3's at every target" in text
    assert round(lmar.groupby(level=[0, 1]).mean().abs().max(), 3) <= 0.001
    assert quoted(text, r"\(([\d.]+) dB at most on an image") == (round(lmar.abs().max(), 3),)
    for b in BACKBONES:
        assert not paired_psnr(stats, b, "lmar", "lanczos3")["significant"].any(), b
    claims = (run / "table.md").read_text().split("## Claims check")[1].split("##")[0]
    assert claims.count("| +0.0%, gain within noise |") == 2 and '"+0.0%, gain within noise"' in text


def test_lmar_trained_longer_and_on_the_task(section):
    """The LMAR bullet's 12-epoch and task-loss figures, from the record it names: curves, per-image scores
    (scipy's t) and the ground truth's lanczos3 round trip against the default's full-resolution PSNR."""
    text = bullet(section, "LMAR")
    m = re.search(r"\(`workflow/configs/lmar_objective.yaml`; `(docs/measured/[^`/]+)/`\)", text)
    assert m, "the LMAR bullet no longer names the LMAR-objective record"
    record = ROOT / m.group(1)
    held = {b: curve(record, b, "lmar-12").set_index("epoch")["val_psnr"] for b in BACKBONES}
    assert quoted(text, r"its held-out PSNR falls by up to ([\d.]+) dB on the U-Net") == (
        round(held["unet"][-1] - held["unet"].min(), 2),)
    assert {b: kept_epoch(curve(record, b, "lmar-12")) for b in BACKBONES} == {
        b: kept_epoch(curve(record, b, "lmar")) for b in BACKBONES}  # "keeps what the 4 epochs kept"
    scores = pd.read_csv(record / "psnr_per_image.csv")
    task = {b: minus_lanczos3(scores, b, "task-only").loc["x1.8"] for b in BACKBONES}
    unet = quoted(text, r"reads \+([\d.]+) dB \[(-[\d.]+), \+([\d.]+)\] \(U-Net\) and \+([\d.]+) dB \(NAFNet\)")
    assert unet == (round(task["unet"].mean(), 2), *(round(v, 2) for v in t_interval(task["unet"])),
                    round(task["nafnet"].mean(), 2))
    assert all(t_interval(task[b])[0] < 0 < t_interval(task[b])[1] for b in BACKBONES)  # "within noise"
    ceiling = pd.read_csv(record / "resampling_ceiling.csv")
    x18 = ceiling[(ceiling.downsampler == "lanczos3") & (ceiling.target == "x1.8")]["psnr"]
    assert len(x18) == 6 and quoted(text, r"with no backbone, reads ([\d.]+) dB at x1.8") == (round(x18.mean(), 2),)
    full = scores[scores.resampler == "full_resolution"].groupby("backbone")["psnr"].mean()
    assert (x18.mean() > full).all()  # "above both backbones at full resolution"


def test_the_learned_resizer(section, run):
    text = bullet(section, "The learned resizer")
    assert "kept its third epoch on both backbones" in text
    held = {b: curve(run, b, "learned_resizer").set_index("epoch")["val_psnr"] for b in BACKBONES}
    assert {b: kept_epoch(curve(run, b, "learned_resizer")) for b in BACKBONES} == {"unet": 2, "nafnet": 2}
    assert quoted(text, r"\(\+([\d.]+) dB over its start on the U-Net's held-out pairs, \+([\d.]+) dB on NAFNet's") \
        == tuple(round(held[b][2] - held[b][-1], 2) for b in BACKBONES)
    assert quoted(text, r"fell by ([\d.]+) and ([\d.]+) dB in the first epoch") == tuple(
        round(held[b][-1] - held[b][0], 2) for b in BACKBONES)
    assert all((held[b][[0, 1]] < held[b][-1]).all() and held[b][2] > held[b][-1] for b in BACKBONES)
    scores = pd.read_csv(run / "psnr_per_image.csv")
    diff = {b: minus_lanczos3(scores, b, "learned_resizer") for b in BACKBONES}
    (below,) = quoted(text, r"([\d.]+) dB below lanczos3 at x1.5 on both \(beyond its interval on NAFNet\)")
    assert all(round(-diff[b].loc["x1.5"].mean(), 2) == below for b in BACKBONES)
    assert t_interval(diff["nafnet"].loc["x1.5"])[1] < 0 < t_interval(diff["unet"].loc["x1.5"])[1]
    assert quoted(text, r"([\d.]+) and ([\d.]+) dB above it at x4 \(beyond its interval on both\)") == tuple(
        round(diff[b].loc["x4"].mean(), 2) for b in BACKBONES)
    assert all(t_interval(diff[b].loc["x4"])[0] > 0 for b in BACKBONES)


def test_area_against_lanczos3(section, run):
    text = bullet(section, "Area")
    assert "is below lanczos3 at x1.5 to x2 and above it at x3 and x4 on both backbones, each beyond its " \
           "interval there" in text
    scores = pd.read_csv(run / "psnr_per_image.csv")
    for b in BACKBONES:
        diff = minus_lanczos3(scores, b, "area")
        assert all(diff.loc[t].mean() < 0 for t in ("x1.5", "x1.8", "x2")), b
        assert all(t_interval(diff.loc[t])[0] > 0 for t in ("x3", "x4")), b


def test_lmars_compute(section, run):
    text = bullet(section, "Compute")
    low, high, nafnet = quoted(text, r"\(([\d.]+) to ([\d.]+) times the U-Net's, (\d+) times NAFNet's\)")
    (threshold,) = quoted(text, r"above about (\d+) kFLOP per pixel at x4")
    table = (run / "table.md").read_text()
    ratios = {}
    for backbone in BACKBONES:
        block = table[table.index(f"Compute on backbone {backbone} "):]
        row = re.search(r"^\| lmar \|(.*)$", block, flags=re.MULTILINE).group(1)
        cells = [c for c in row.split("|") if c.strip()]
        ratios[backbone] = [float(re.match(r"\s*\**([\d.]+)x", c).group(1)) for c in cells[:5]]
        assert cells[5].strip().startswith(f"{threshold:.0f} (x4)"), cells[5]
    assert (low, high) == (round(min(ratios["unet"]), 1), round(max(ratios["unet"]), 1))
    assert all(round(r) == nafnet for r in ratios["nafnet"])


# --- the other experiments' bullets, each from the record it names ---

def test_the_wide_degradation():
    """The 'The wide degradation' bullet (the default until 2026-12-08), recomputed from its record's per-image
    scores (scipy's t), table statistics, training curves and table."""
    text, record, scores = degradation_bullet("The wide degradation", "wide")
    stats = pd.read_csv(record / "table_stats.csv")
    assert quoted(text, r"converged \(held-out PSNR \+([\d.]+) and \+([\d.]+) dB") == tuple(
        last_fifths_change(curve(record, b, "backbone")) for b in BACKBONES)
    got = quoted(text, r"full resolution minus lanczos3 is (-?[\d.]+) dB at x1.5 and (-?[\d.]+) dB at x4 with the "
                       r"U-Net, and (-?[\d.]+) and (-?[\d.]+) dB with NAFNet")
    assert list(got) == loss_at_x15_and_x4(stats)
    loss = {b: resampling_loss(scores, b) for b in BACKBONES}
    m = re.search(r"that loss is measurable only at (.+?) with the U-Net and at (.+?) with NAFNet", text)
    assert m and [re.split(r",? and |, ", g) for g in m.groups()] == [measurable(loss[b]) for b in BACKBONES]
    low, high = quoted(text, r"one photograph, chelsea, reads ([\d.]+) to ([\d.]+) dB higher after DEU with lanczos3")
    chelsea = -loss["unet"].loc["chelsea"]
    assert (chelsea > 0).all() and (low, high) == (round(chelsea.min(), 2), round(chelsea.max(), 2))
    assert ((loss["unet"].drop("chelsea") > 0).all()).all()  # "the other five lose"
    above = quoted(text, r"lanczos3 reads above full resolution on (\d), (\d) and (\d) of the 6 images at "
                         r"x1.5, x1.8 and x2")
    assert above == tuple(float((loss["nafnet"][t] < 0).sum()) for t in ("x1.5", "x1.8", "x2"))
    table = (record / "table.md").read_text()
    for backbone in BACKBONES:
        block = table.split(f"### mini / {backbone}: PSNR (dB) / SSIM")[1].split("###")[0]
        (line,) = [x for x in block.splitlines() if x.startswith("The resampling loss is not measurable at ")]
        said = line.removeprefix("The resampling loss is not measurable at ").split(":")[0].split(", ")
        assert said == [t for t in TARGETS if t not in measurable(loss[backbone])]

    # LMAR at seed 0
    assert "early stopping kept its first epoch on both" in text
    unet, nafnet = quoted(text, r"by ([\d.]+) dB \(U-Net\) and ([\d.]+) dB \(NAFNet\) over its start")
    (drop,) = quoted(text, r"every later epoch scored lower \(by up to ([\d.]+) dB on the U-Net\)")
    for backbone, margin in (("unet", unet), ("nafnet", nafnet)):
        c = curve(record, backbone, "lmar").set_index("epoch")["val_psnr"]
        assert kept_epoch(curve(record, backbone, "lmar")) == 0
        assert f"{c[0] - c[-1]:.4f}" == f"{margin:.4f}" and (c[c.index > 0] < c[0]).all(), backbone
        assert not paired_psnr(stats, backbone, "lmar", "lanczos3")["significant"].any(), backbone
    c = curve(record, "unet", "lmar").set_index("epoch")["val_psnr"]
    assert round(c[0] - c.min(), 2) == drop
    below, above = quoted(text, r"reads ([\d.]+) dB below lanczos3 at x1.5 to x2 on the U-Net .*? and ([\d.]+) dB "
                                r"above it on NAFNet")
    u = paired_psnr(stats, "unet", "lmar", "lanczos3")
    assert {round(-u.loc[t, "mean_diff"], 2) for t in ("x1.5", "x1.8", "x2")} == {below}
    assert round(paired_psnr(stats, "nafnet", "lmar", "lanczos3").loc["x1.8", "mean_diff"], 2) == above
    (n_below,) = quoted(text, r"\((\d) of 6 images below")
    assert {round(6 * (1 - u.loc[t, "win_rate"])) for t in ("x1.5", "x1.8", "x2")} == {n_below}
    (ssim,) = quoted(text, r"its SSIM\s+([\d.]+) lower, \u2020\)")
    s = paired_psnr(stats, "unet", "lmar", "lanczos3", "ssim")
    assert round(-s.loc["x1.8", "mean_diff"], 4) == ssim and s.loc[["x1.5", "x1.8", "x2"], "significant"].all()

    # the learned resizer
    assert kept_epoch(curve(record, "unet", "learned_resizer")) == -1
    assert "The learned resizer kept its initial (bilinear) weights on the U-Net" in text
    c = curve(record, "nafnet", "learned_resizer")
    assert "on NAFNet it kept its third epoch" in text and kept_epoch(c) == 2
    (gain,) = quoted(text, r"on NAFNet it kept its third epoch \(\+([\d.]+) dB over its start on the held-out pairs\)")
    psnr = c.set_index("epoch")["val_psnr"]
    assert gain == round(psnr[2] - psnr[-1], 2)
    low, high = quoted(text, r"reads ([\d.]+) to ([\d.]+) dB below lanczos3 at x1.5 to x2")
    paired = paired_psnr(stats, "nafnet", "learned_resizer", "lanczos3")
    below = [-paired.loc[t, "mean_diff"] for t in ("x1.5", "x1.8", "x2")]
    assert (low, high) == (round(min(below), 2), round(max(below), 2))
    assert paired.loc[["x1.5", "x1.8", "x2"], "significant"].all()
    assert "(within noise at x3 and x4)" in text and not paired.loc[["x3", "x4"], "significant"].any()
    swings = quoted(text, r"from epoch to epoch \(([\d.]+), ([\d.]+), ([\d.]+), ([\d.]+) dB\)")
    assert list(swings) == [round(psnr[e], 2) for e in range(4)]


def test_more_test_images(section):
    """The 'More test images' bullet, recomputed from its record's per-image scores with scipy's t."""
    named = re.search(r"\*\*More test images\*\* \(`workflow/configs/more_test.yaml`.*?`(docs/measured/[^`/]+)/`",
                      section)
    assert named, "the README no longer names the more-test record"
    scores = pd.read_csv(ROOT / named.group(1) / "psnr_per_image.csv")
    assert scores["image"].nunique() == 13
    assert "the resampling loss is measurable only at x3 and x4 with the U-Net and at no target with NAFNet" \
        in section
    assert measurable(resampling_loss(scores, "unet")) == ["x3", "x4"]
    assert measurable(resampling_loss(scores, "nafnet")) == []
    (above,) = quoted(section, r"lanczos3 reads above full resolution on (\d+) of the 13 images at x1.5")
    assert above == (resampling_loss(scores, "nafnet")["x1.5"] < 0).sum()
    (gain,) = quoted(section, r"LMAR - lanczos3 is (-[\d.]+) dB at x1.5 on the U-Net, beyond its interval")
    diff = minus_lanczos3(scores, "unet", "lmar").loc["x1.5"]
    assert gain == round(diff.mean(), 3) and t_interval(diff)[1] < 0


def test_narrower_degradation_ranges():
    """The 'Narrower degradation ranges' bullet, recomputed from its record's per-image scores (scipy's t)
    and training curves."""
    section, record, scores = degradation_bullet("Narrower degradation ranges", "narrow")
    rising = [last_fifths_change(curve(record, b, "backbone")) for b in ("unet", "nafnet")]
    assert list(quoted(section, r"still rising by ([\d.]+) and ([\d.]+) dB")) == rising and min(rising) > 0.1
    near = ["x1.5", "x1.8", "x2"]
    for backbone, image, words in (("unet", "chelsea", "chelsea with the U-Net"),
                                   ("nafnet", "coffee", "coffee with NAFNet")):
        loss = resampling_loss(scores, backbone)
        higher = -loss.loc[image, near]
        assert quoted(section, rf"{words}, by ([\d.]+) to ([\d.]+) dB") == (
            round(higher.min(), 2), round(higher.max(), 2))
        # that photograph alone at x1.5 to x2, but for two more with NAFNet at x1.5
        above = (loss[near] < 0).sum().tolist()
        assert above == ([1, 1, 1] if backbone == "unet" else [3, 1, 1]) and (higher > 0).all()
        assert measurable(loss) == ["x3", "x4"]
    assert "and two more at x1.5), so the loss is measurable only at x3 and x4 on both" in section
    diff = minus_lanczos3(scores, "nafnet", "lmar").loc["x1.5"]
    low, high = t_interval(diff)
    assert quoted(section, r"reads ([\d.]+) dB \[\+([\d.]+), \+([\d.]+)\] above lanczos3 at x1.5 \((\d) of 6") == (
        round(diff.mean(), 2), round(low, 2), round(high, 2), (diff > 0).sum())
    lmar = {b: kept_epoch(curve(record, b, "lmar")) for b in ("unet", "nafnet")}
    assert lmar == {"unet": -1, "nafnet": 3} and "LMAR on NAFNet kept its fourth epoch" in section


def test_the_degradation_pilots_quoted():
    """The pilots' losses the 'Narrower degradation ranges' bullet quotes, from the summary each pilot printed
    ("loss x1.5: mean .. min .. max ..", full resolution minus DEU over the 6 test images at full
    precision; the per-image lines are rounded): the smallest and largest at x1.5 over the three pilots,
    and the smallest at x1.8 of the two with fixed values."""
    text = " ".join((ROOT / "README.md").read_text().split())
    folder = ROOT / "docs" / "measured" / "cpu-2026-12-07-degradation-pilot"

    def low_high(pilot: str, target: str) -> tuple[float, float]:
        m = re.search(rf"loss x{target}: mean [\d.]+ min ([\d.]+) max ([\d.]+)", (folder / f"{pilot}.txt").read_text())
        assert m, pilot
        return float(m.group(1)), float(m.group(2))

    x15 = [low_high(p, "1.5") for p in ("unet-fixed", "nafnet-fixed", "nafnet-narrow")]
    assert quoted(text, r"Pilots trained briefly had every test image lose ([\d.]+) to ([\d.]+) dB at x1.5") == (
        min(lo for lo, _ in x15), max(hi for _, hi in x15))
    (fixed,) = quoted(text, r"in the pilots every image lost ([\d.]+) dB or more at x1.8")
    assert fixed == min(low_high(p, "1.8")[0] for p in ("unet-fixed", "nafnet-fixed"))
