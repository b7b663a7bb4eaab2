"""The ablation figure (lmar.report.plot_ablation) from a small hand-made store: which entries are
variants of which method, their paired differences and intervals worked out by hand, one panel per
target with each variant in its colour of every figure, and a store without variants refused with
nothing written."""

from __future__ import annotations

import pandas as pd
import pytest
from helpers import run_cli

from lmar.core.errors import LmarError
from lmar.report.plot_ablation import ablation_figure, variant_rows, variants, write_ablation
from lmar.report.plot_style import resampler_styles

# PSNR per image (i1, i2, i3) at x2 and x4; no-x is a variant of lmar (same type), learned_resizer is not
PSNR = {"lanczos3": ([20.0, 21.0, 22.0], [18.0, 19.0, 20.0]),
        "lmar": ([20.0, 21.0, 22.0], [18.0, 19.0, 20.0]),
        "no-x": ([20.5, 21.5, 23.0], [17.0, 18.0, 19.0]),
        "learned_resizer": ([19.0, 20.0, 21.0], [17.5, 18.5, 19.5])}
TYPES = {"lanczos3": "lanczos3", "lmar": "lmar", "no-x": "lmar", "learned_resizer": "learned_resizer"}


def store(names=tuple(PSNR)) -> pd.DataFrame:
    rows = []
    for name in names:
        for target, scale, values in zip(("x2", "x4"), (2.0, 4.0), PSNR[name]):
            for image, v in zip(("i1", "i2", "i3"), values):
                rows.append({"dataset": "d", "backbone": "b", "resampler": name, "resampler_type": TYPES[name],
                             "target": target, "scale": scale, "image": image, "seed": 0, "psnr": v, "ssim": 0.5,
                             "resampler_weights": "none" if name == "lanczos3" else "trained",
                             "resampler_kept_epoch": 0 if name != "lanczos3" else None})
    return pd.DataFrame(rows)


def test_a_variant_is_a_trained_entry_of_a_methods_type_after_it():
    assert variants(store()) == {"no-x": "lmar"}
    assert variants(store(("lanczos3", "lmar", "learned_resizer"))) == {}


def test_variant_minus_method_with_its_paired_interval_by_hand():
    rows = variant_rows(store(), n_boot=2000).set_index("target")
    assert list(rows["variant"]) == ["no-x", "no-x"] and set(rows["method"]) == {"lmar"}
    # x2: no-x - lmar = +0.5, +0.5, +1.0: mean 2/3; 3 images, so Student's t over them:
    # 0.6667 +- 4.3027 x 0.288675 / sqrt(3) = 0.6667 +- 0.7171 -> [-0.0504, +1.3838], not significant
    x2 = rows.loc["x2"]
    assert abs(x2["mean"] - 2 / 3) < 1e-12
    assert abs(x2["low"] - (2 / 3 - 0.71715)) < 1e-3 and abs(x2["high"] - (2 / 3 + 0.71715)) < 1e-3
    assert not x2["significant"]
    # x4: -1 on every image: mean -1, an interval of width 0 at -1, significant
    x4 = rows.loc["x4"]
    assert (x4["mean"], x4["low"], x4["high"], x4["significant"]) == (-1.0, -1.0, -1.0, True)


def test_one_panel_per_target_each_variant_in_its_colour_and_a_dagger_where_significant():
    df = store()
    fig = ablation_figure(df, n_boot=500)
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in axes] == ["x2", "x4"]
    _, colours, markers = resampler_styles(df)
    for ax in axes:
        points = [line for line in ax.get_lines() if line.get_marker() == markers["no-x"]]
        assert len(points) == 1 and points[0].get_color() == colours["no-x"]
    daggers = {ax.get_title(): [t.get_text() for t in ax.texts] for ax in axes}
    assert daggers == {"x2": [], "x4": ["†"]}
    assert [t.get_text() for t in axes[0].get_yticklabels()] == ["no-x"]
    (title,) = [sub.get_suptitle() for sub in fig.subfigs]
    assert title.startswith("d / b (seed 0): PSNR, each variant - lmar, paired 95% CI, † excludes 0")


def test_a_store_without_variants_is_refused_and_nothing_is_written(tmp_path):
    path = tmp_path / "results.csv"
    store(("lanczos3", "lmar", "learned_resizer")).to_csv(path, index=False)
    with pytest.raises(LmarError, match="no variants of a learned method"):
        write_ablation(path, tmp_path / "ablation.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv"]


def test_the_verb_writes_the_figure_and_its_pdf(tmp_path, capsys):
    path = tmp_path / "results.csv"
    store().to_csv(path, index=False)
    rc, _ = run_cli(capsys, "plot-ablation", str(path), "--out", str(tmp_path / "ablation.png"))
    assert rc == 0
    assert (tmp_path / "ablation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "ablation.pdf").read_bytes()[:5] == b"%PDF-"


def test_a_variant_that_kept_its_initial_weights_is_named_in_the_title():
    df = store()
    df.loc[df["resampler"] == "no-x", "resampler_kept_epoch"] = -1
    (title,) = [sub.get_suptitle() for sub in ablation_figure(df, n_boot=200).subfigs]
    assert title.endswith("\nkept their initial weights: no-x")


def test_comparing_only_the_variant_pairs_gives_their_rows_of_all_pairs():
    from lmar.report.stats import learned_names
    from lmar.report.tables import comparisons

    df = store()
    every = comparisons(df, ["psnr"], learned_names(df), n_boot=300)
    only = comparisons(df, ["psnr"], learned_names(df), n_boot=300, only={("lmar", "no-x")})
    assert set(zip(only["a"], only["b"])) == {("lmar", "no-x")}
    pd.testing.assert_frame_equal(only.reset_index(drop=True),
                                  every[(every["a"] == "lmar") & (every["b"] == "no-x")].reset_index(drop=True))
