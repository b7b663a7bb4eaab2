"""What the table says of its own marks and rows: the footer, per backbone (and seed), where each trained
resampler's weights came from and which epoch early stopping kept (one backbone's "trained" must not stand
for another's untrained start), and a line saying what bold and italic mean."""

from __future__ import annotations

import pandas as pd

from lmar.report.write import write_table


def results(path, seeds=(0,)):
    rows = []
    for seed in seeds:
        for backbone, kept in (("unet", -1), ("nafnet", 2)):
            for resampler in ("bicubic", "learned_resizer"):
                for image, psnr in (("a", 20.0), ("b", 21.0)):
                    trained = resampler == "learned_resizer"
                    rows.append({"dataset": "mini", "backbone": backbone, "resampler": resampler, "target": "x2",
                                 "scale": 2.0, "target_h": 10, "target_w": 10, "image": image, "seed": seed,
                                 "psnr": psnr + (0.5 if trained else 0.0), "ssim": 0.8, "code_version": "abc",
                                 "device": "cpu", "backbone_weights": "trained",
                                 "resampler_weights": "trained" if trained else "none",
                                 "resampler_kept_epoch": (kept if seed == 0 else 1) if trained else None})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def footer(md: str) -> list[str]:
    return [line for line in md.splitlines() if line.startswith("Weights of resampler")]


def test_each_backbone_says_which_epoch_its_resampler_kept(tmp_path):
    out = tmp_path / "t.md"
    write_table([results(tmp_path / "r.csv")], out, gain=("learned_resizer", "bicubic"))
    assert footer(out.read_text()) == [
        ("Weights of resampler learned_resizer on backbone unet: trained, its initial weights kept (no epoch beat "
         "them on the held-out pairs)"),
        ("Weights of resampler learned_resizer on backbone nafnet: trained, the weights after epoch 2 kept (epochs "
         "counted from 0)")]


def test_with_several_seeds_each_seed_has_its_line(tmp_path):
    out = tmp_path / "t.md"
    write_table([results(tmp_path / "r.csv", seeds=(0, 1))], out, gain=("learned_resizer", "bicubic"))
    lines = footer(out.read_text())
    assert len(lines) == 4 and all(" at seed " in line for line in lines)
    assert ("Weights of resampler learned_resizer on backbone unet at seed 1: trained, the weights after epoch 1 kept "
            "(epochs counted from 0)") in lines


def test_the_marks_are_explained_above_the_metric_tables(tmp_path):
    out = tmp_path / "t.md"
    write_table([results(tmp_path / "r.csv")], out, gain=("learned_resizer", "bicubic"))
    md = out.read_text()
    section = md[md.index("## Every metric, with intervals"):]
    assert section.splitlines()[2].startswith("In each column the best mean as printed is bold and the second italic")


def test_each_backbone_says_where_its_weights_came_from_per_seed_where_they_differ(tmp_path):
    path = results(tmp_path / "r.csv", seeds=(0, 1))
    df = pd.read_csv(path)
    zoo = "trained, a copy of the zoo's mini-unet-seed0 (sha256 as its record)"
    df.loc[(df["backbone"] == "unet") & (df["seed"] == 0), "backbone_weights"] = zoo
    df.to_csv(path, index=False)
    out = tmp_path / "t.md"
    write_table([path], out, gain=("learned_resizer", "bicubic"))
    lines = [line for line in out.read_text().splitlines() if line.startswith("Weights of backbone")]
    # the U-Net's two seeds came from two places, NAFNet's from one: one line for it, no seed named
    assert lines == [f"Weights of backbone unet at seed 0: {zoo}", "Weights of backbone unet at seed 1: trained",
                     "Weights of backbone nafnet: trained"]


def test_seeds_of_one_source_share_a_line(tmp_path):
    path = results(tmp_path / "r.csv", seeds=(0, 1, 2))
    df = pd.read_csv(path)
    df.loc[(df["backbone"] == "unet") & (df["seed"] != 1), "backbone_weights"] = "authors' release"
    df.to_csv(path, index=False)
    out = tmp_path / "t.md"
    write_table([path], out, gain=("learned_resizer", "bicubic"))
    lines = [line for line in out.read_text().splitlines() if line.startswith("Weights of backbone")]
    assert lines == ["Weights of backbone unet at seeds 0, 2: authors' release",
                     "Weights of backbone unet at seed 1: trained", "Weights of backbone nafnet: trained"]


def test_one_seed_names_no_seed_in_the_backbone_lines(tmp_path):
    out = tmp_path / "t.md"
    write_table([results(tmp_path / "r.csv")], out, gain=("learned_resizer", "bicubic"))
    lines = [line for line in out.read_text().splitlines() if line.startswith("Weights of backbone")]
    assert lines == ["Weights of backbone unet: trained", "Weights of backbone nafnet: trained"]
