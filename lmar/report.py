"""Tables from results files only: per (dataset, backbone), rows resamplers, columns scales."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lmar.atomic import atomic_path
from lmar.errors import LmarError
from lmar.evaluate import scale_label

REQUIRED = ["dataset", "backbone", "resampler", "scale", "image", "psnr", "ssim"]


def load_results(paths) -> pd.DataFrame:
    frames = []
    for p in paths:
        try:
            df = pd.read_csv(p)
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise LmarError(f"cannot read results file {p}: {exc}. Re-run its evaluation.") from None
        missing = [c for c in REQUIRED if c not in df.columns]
        if missing:
            raise LmarError(f"results file {p} lacks column(s) {missing}. Re-run its evaluation.")
        frames.append(df)
    if not frames:
        raise LmarError("no results files given to the table")
    return pd.concat(frames, ignore_index=True)


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Mean PSNR and SSIM over test images per dataset, backbone, resampler and scale."""
    keys = ["dataset", "backbone", "resampler", "scale"]
    return df.groupby(keys, sort=False).agg(psnr=("psnr", "mean"), ssim=("ssim", "mean"), n=("image", "count")).reset_index()


def _cell(psnr: float, ssim: float) -> str:
    return f"{psnr:.2f} / {ssim:.4f}"


def markdown_table(df: pd.DataFrame, gain: tuple[str, str] | None = ("lmar", "bicubic")) -> str:
    mean = summary(df)
    out = []
    for (dataset, backbone), part in mean.groupby(["dataset", "backbone"], sort=False):
        scales = sorted(s for s in part["scale"].unique() if s != 1.0)
        cols = [scale_label(s) for s in scales]
        out.append(f"### {dataset} / {backbone}: PSNR (dB) / SSIM, mean over {part['n'].max()} test images\n")
        out.append("| resampler | " + " | ".join(cols) + " |")
        out.append("|---" * (len(cols) + 1) + "|")
        for name, rows in part.groupby("resampler", sort=False):
            by_scale = rows.set_index("scale")
            if set(by_scale.index) == {1.0}:  # full resolution: the ceiling, the same at every scale
                r = by_scale.loc[1.0]
                cells = [_cell(r.psnr, r.ssim)] * len(scales)
                name = f"{name} (no resampling)"
            else:
                cells = [_cell(by_scale.loc[s].psnr, by_scale.loc[s].ssim) if s in by_scale.index else "-" for s in scales]
            out.append(f"| {name} | " + " | ".join(cells) + " |")
        names = set(part["resampler"])
        if gain and set(gain) <= names:
            a, b = (part[part.resampler == g].set_index("scale") for g in gain)
            cells = [
                f"{a.loc[s].psnr - b.loc[s].psnr:+.2f} / {a.loc[s].ssim - b.loc[s].ssim:+.4f}"
                if s in a.index and s in b.index else "-"
                for s in scales
            ]
            out.append(f"| **{gain[0]} - {gain[1]}** | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def write_table(paths, out_md: Path, out_csv: Path, gain=("lmar", "bicubic"), title: str = "") -> pd.DataFrame:
    df = load_results(paths)
    text = (f"# {title}\n\n" if title else "") + markdown_table(df, gain)
    prov = df[["code_version", "device", "seed"]].drop_duplicates() if "code_version" in df else None
    if prov is not None:
        text += "\nProduced by: " + "; ".join(
            f"code {r.code_version}, device {r.device}, seed {r.seed}" for r in prov.itertuples()
        ) + "\n"
    if "resize_loss" in df:
        used = df.loc[df["resize_loss"].notna() & (df["resize_loss"] != ""), ["resampler", "resize_loss"]].drop_duplicates()
        for r in used.itertuples():
            text += f"\nResize loss used to train {r.resampler}: {r.resize_loss}\n"
    with atomic_path(out_csv) as t:
        df.to_csv(t, index=False)
    with atomic_path(out_md) as t:
        t.write_text(text)
    return df
