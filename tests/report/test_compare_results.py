"""``lmar compare-results``: two results stores are the same results, or the report says where not.
Every expected value is written by hand below, not computed by the code under test."""

from __future__ import annotations

import pandas as pd

from helpers import one_error, run_cli


def rows() -> pd.DataFrame:
    return pd.DataFrame([
        {"dataset": "mini", "backbone": "unet", "seed": 0, "resampler": r, "target": "x2", "scale": 2.0,
         "image": img, "psnr": p, "ssim": 0.5, "lpips": None, "resampler.hidden": h,
         "enhance_ms": 10.0, "time_s": 1.0, "load_1m": 0.3, "code_version": "aaa", "timed_at": "2026-01-01T00:00"}
        for r, img, p, h in [("lmar", "a", 20.0, "128"), ("lmar", "b", 21.5, "128"), ("bicubic", "a", 19.0, None)]
    ])


def stores(tmp_path, change=None) -> tuple:
    a, b = rows(), rows()
    if change:
        b = change(b)
    pa, pb = tmp_path / "a.parquet", tmp_path / "b.parquet"
    a.to_parquet(pa)
    b.to_parquet(pb)
    return pa, pb


def test_timings_host_load_and_commit_are_not_results_and_row_order_does_not_matter(tmp_path, capsys):
    def rerun(b):
        b = b.iloc[::-1].reset_index(drop=True)
        return b.assign(enhance_ms=b["enhance_ms"] * 3, time_s=9.0, load_1m=4.0, code_version="bbb",
                        timed_at="2026-02-02T00:00")

    rc, _ = run_cli(capsys, "compare-results", *stores(tmp_path, rerun))
    assert rc == 0


def test_one_number_one_ulp_apart_is_a_difference_unless_a_tolerance_allows_it(tmp_path, capsys):
    def nudge(b):
        b.loc[1, "psnr"] = 21.5 + 1e-9
        return b

    a, b = stores(tmp_path, nudge)
    rc, _ = run_cli(capsys, "compare-results", a, b, "--out-md", tmp_path / "r.md")
    report = (tmp_path / "r.md").read_text()
    assert rc == 1 and "| psnr | 1 | 1e-09 |" in report and "the results differ" in report
    assert "ssim" not in report.split("| column |")[1]  # only the column that moved is listed
    rc, _ = run_cli(capsys, "compare-results", a, b, "--atol", "1e-6")
    assert rc == 0


def test_a_missing_value_equals_only_a_missing_value(tmp_path, capsys):
    def fill(b):
        b.loc[0, "lpips"] = 0.1
        return b

    rc, _ = run_cli(capsys, "compare-results", *stores(tmp_path, fill), "--out-md", tmp_path / "r.md")
    assert rc == 1 and "| lpips | 1 |" in (tmp_path / "r.md").read_text()


def test_a_parameter_column_of_text_is_compared_too(tmp_path, capsys):
    def widen(b):
        b.loc[0, "resampler.hidden"] = "256"
        return b

    rc, _ = run_cli(capsys, "compare-results", *stores(tmp_path, widen), "--out-md", tmp_path / "r.md")
    assert rc == 1 and "| resampler.hidden | 1 |  |" in (tmp_path / "r.md").read_text()
    rc, _ = run_cli(capsys, "compare-results", *stores(tmp_path, widen), "--skip", "resampler.hidden")
    assert rc == 0


def test_rows_and_columns_only_one_side_holds_are_named(tmp_path, capsys):
    def drop(b):
        return b.drop(index=2).drop(columns="ssim")

    a, b = stores(tmp_path, drop)
    rc, _ = run_cli(capsys, "compare-results", a, b, "--out-md", tmp_path / "r.md")
    report = (tmp_path / "r.md").read_text()
    assert rc == 1
    assert f"- columns only in {a}: ssim" in report
    assert f"- 1 row(s) only in {a}, e.g. mini/unet/0/bicubic/x2/a" in report


def test_a_repeated_row_is_one_error_naming_the_file(tmp_path, capsys):
    a, b = stores(tmp_path, lambda b: pd.concat([b, b.iloc[[0]]], ignore_index=True))
    rc, err = run_cli(capsys, "compare-results", a, b, "--out-md", tmp_path / "r.md")
    assert str(b) in one_error(rc, err) and "repeat" in err
    assert not (tmp_path / "r.md").exists()
