"""The results store: evaluation CSVs joined into one Parquet file (and its CSV twin), every part's
parameters flattened into columns of their own."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from helpers import entries

from lmar.core.errors import LmarError
from lmar.report.store import flatten, gather


def row(resampler="lmar", image="a", **extra):
    return {"dataset": "mini", "backbone": "unet", "resampler": resampler, "target": "x2", "scale": 2.0,
            "image": image, "seed": 0, "psnr": 20.0, "ssim": 0.5, **extra}


def test_flatten_names_each_parameter_by_where_it_comes_from():
    df = pd.DataFrame([
        row(resampler_params=json.dumps({"hidden": 128, "interpolation": "lanczos3"}),
            resampler_train=json.dumps({"epochs": 6, "resize_weights": [1.0, 0.001]}),
            backbone_params=json.dumps({"model_channel": 8}), backbone_train=json.dumps({"size": [180, 270]})),
        row(resampler="bicubic", resampler_params=json.dumps({"antialias": False}), resampler_train="",
            backbone_params=json.dumps({"model_channel": 8}), backbone_train=json.dumps({"size": [180, 270]})),
    ])
    out = flatten(df)
    assert "resampler_params" not in out and "backbone_train" not in out
    assert out.loc[0, "resampler.hidden"] == 128 and pd.isna(out.loc[1, "resampler.hidden"])
    assert out.loc[0, "resampler.interpolation"] == "lanczos3" and str(out.loc[1, "resampler.antialias"]) == "False"
    assert out.loc[0, "resampler.train.resize_weights"] == "[1.0, 0.001]"  # lists kept as JSON text
    assert out.loc[0, "backbone.train.size"] == "[180, 270]" and list(out["backbone.model_channel"]) == [8, 8]


def test_a_column_with_values_of_different_types_is_text():
    df = pd.DataFrame([row(resampler_params=json.dumps({"chunk_pixels": "auto"})),
                       row(image="b", resampler_params=json.dumps({"chunk_pixels": 4096}))])
    assert list(flatten(df)["resampler.chunk_pixels"]) == ["auto", "4096"]


def test_gather_writes_the_same_rows_to_parquet_and_csv(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    pd.DataFrame([row(image="a", resampler_params="{}"), row(image="b", resampler_params="{}")]).to_csv(a, index=False)
    pd.DataFrame([row("bicubic", resampler_params=json.dumps({"antialias": True}))]).to_csv(b, index=False)
    df, _ = gather([a, b], tmp_path / "out" / "results.parquet", tmp_path / "out" / "results.csv")
    stored = pd.read_parquet(tmp_path / "out" / "results.parquet")
    assert len(stored) == 3 and list(stored["image"]) == ["a", "b", "a"]
    pd.testing.assert_frame_equal(stored, df)
    assert pd.read_csv(tmp_path / "out" / "results.csv")["psnr"].tolist() == [20.0, 20.0, 20.0]


def test_the_same_evaluation_twice_is_refused_and_nothing_is_written(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    pd.DataFrame([row()]).to_csv(a, index=False)
    pd.DataFrame([row()]).to_csv(b, index=False)
    (tmp_path / "out").mkdir()
    with pytest.raises(LmarError, match="2 results rows share their keys.*the same evaluation is in two files"):
        gather([a, b], tmp_path / "out" / "results.parquet", tmp_path / "out" / "results.csv")
    assert entries(tmp_path / "out") == []


def test_a_column_that_is_not_json_is_named(tmp_path):
    a = tmp_path / "a.csv"
    pd.DataFrame([row(resampler_params="{hidden: 8")]).to_csv(a, index=False)
    with pytest.raises(LmarError, match="results column resampler_params holds text that is not JSON"):
        gather([a], tmp_path / "r.parquet", tmp_path / "r.csv")


def test_rows_of_different_configs_are_flagged(tmp_path):
    from lmar.report.write import write_table

    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    pd.DataFrame([row(image="a", resampler_params=json.dumps({"hidden": 128}))]).to_csv(a, index=False)
    pd.DataFrame([row(image="b", resampler_params=json.dumps({"hidden": 64}))]).to_csv(b, index=False)
    gather([a, b], tmp_path / "r.parquet", tmp_path / "r.csv")
    write_table([tmp_path / "r.parquet"], tmp_path / "t.md")
    text = (tmp_path / "t.md").read_text()
    assert "**Left out:** resampler lmar: rows with resampler.hidden = 128, 64: results of different configs" in text


def test_integers_stay_integers_where_some_rows_lack_the_key(tmp_path):
    from lmar.report.write import write_table

    a = tmp_path / "a.csv"
    pd.DataFrame([row(resampler_train=json.dumps({"epochs": 6, "lr": 0.0004})),
                  row("bicubic", resampler_train="")]).to_csv(a, index=False)
    df, _ = gather([a], tmp_path / "r.parquet", tmp_path / "r.csv")
    assert str(df["resampler.train.epochs"].dtype) == "Int64"
    assert str(pd.read_parquet(tmp_path / "r.parquet")["resampler.train.epochs"].dtype) == "Int64"
    write_table([tmp_path / "r.parquet"], tmp_path / "t.md")
    assert "Training budget of resampler lmar: epochs 6, lr 0.0004" in (tmp_path / "t.md").read_text()


def test_hashes_and_image_names_of_digits_stay_text(tmp_path):
    # a 12-digit hex hash may happen to be all digits (or digits and one 'e'); names like 0042 are
    # common in datasets. Read as numbers they would differ by file and break the Parquet write.
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    pd.DataFrame([row(image="0042", config_hash="012345678901", code_version="1e5a00000000")]).to_csv(a, index=False)
    pd.DataFrame([row("bicubic", image="0042", config_hash="abcdef012345", code_version="1e5a00000000")]).to_csv(
        b, index=False)
    gather([a, b], tmp_path / "results.parquet", tmp_path / "results.csv")
    stored = pd.read_parquet(tmp_path / "results.parquet")
    assert list(stored["config_hash"]) == ["012345678901", "abcdef012345"]
    assert list(stored["image"]) == ["0042", "0042"] and list(stored["code_version"]) == ["1e5a00000000"] * 2


def test_every_section_lists_backbones_in_the_order_of_the_rows(tmp_path):
    # unet's rows come first, as in the default config: the overview, the cost tables and the training
    # budgets all follow that order (alphabetical order would put nafnet first in some of them)
    from lmar.report.write import write_table

    rows = []
    for backbone, epochs in (("unet", 180), ("nafnet", 90)):
        for resampler, target, scale in (("bicubic", "x2", 2.0), ("full_resolution", "full", 1.0)):
            for image in ("a", "b"):
                rows.append({**row(resampler, image, backbone=backbone, target=target, scale=scale),
                             "target_h": 10, "target_w": 15, "time_s": 0.01, "enhance_ms": 5.0,
                             "enhance_gflops": 1.0, "backbone_n_params": 1000,
                             "backbone_train": json.dumps({"epochs": epochs}), "resampler_train": ""})
    a = tmp_path / "a.csv"
    pd.DataFrame(rows).to_csv(a, index=False)
    gather([a], tmp_path / "r.parquet", tmp_path / "r.csv")
    write_table([tmp_path / "r.parquet"], tmp_path / "t.md")
    text = (tmp_path / "t.md").read_text()
    overview, rest = text.split("## Every metric")
    cost = rest.split("## Cost")[1]
    for section in (overview, cost):
        assert 0 <= section.index("### mini / unet") < section.index("### mini / nafnet")
    assert 0 <= text.index("Training budget of backbone unet: epochs 180") < text.index(
        "Training budget of backbone nafnet: epochs 90")
