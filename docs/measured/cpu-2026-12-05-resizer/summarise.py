"""Summarise the runs of run.sh: per variant, the final training loss (its curve CSV), and on the test
split and on the training pairs the mean PSNR per target and its paired difference to lanczos3 (same
backbone, same images), with a t-based 95% interval over the images. Writes results.json and
results.csv next to this script (or to argv[2]); argv[1] is the work folder (default /tmp/resizer)."""

import json
import math
import sys
from pathlib import Path

import pandas as pd
from scipy import stats

W = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/resizer")
OUT = Path(sys.argv[2] if len(sys.argv) > 2 else Path(__file__).parent)
TARGETS = ["x1.5", "x1.8", "x2", "x3", "x4"]
HELD_OUT = {"color_view1", "motorcycle_left"}  # the U-Net's validation pairs (lmar.train.validation_split, 2)
# variant -> its untrained twin (lr 1e-10: the initialisation, exactly): same seed, data, crop and targets,
# so both draw the same crops and targets epoch by epoch and their curves are paired
UNTRAINED = {**dict.fromkeys(["default", "lr1e-4", "lr4e-5", "ep1", "ep3", "ep12"], "lr0"),
             **dict.fromkeys(["crop360", "crop360_lr4e-5"], "crop360_lr0")}


def psnr_table(csv: Path) -> pd.DataFrame:
    """image x target PSNR."""
    return pd.read_csv(csv).pivot(index="image", columns="target", values="psnr")[TARGETS]


def paired(a: pd.DataFrame, b: pd.DataFrame, t: str) -> tuple[float, float, float]:
    """mean of a - b per image at target t, and its 95% t interval."""
    d = (a[t] - b[t]).dropna()
    m, n = d.mean(), len(d)
    h = stats.t.ppf(0.975, n - 1) * d.std(ddof=1) / math.sqrt(n) if n > 1 else float("nan")
    return m, m - h, m + h


def curve(name: str) -> pd.Series | None:
    """The training loss per epoch (the curve CSV's total), or None for a fixed resampler."""
    path = W / "models" / f"{name}.curve.csv"
    return pd.read_csv(path)["total"] if path.exists() else None


def losses(name: str) -> dict:
    """First and last epoch's training loss, and the untrained resizer's on the same crops (where paired)."""
    c, base = curve(name), curve(UNTRAINED.get(name, ""))
    if c is None:
        return {"train_loss_epoch0": None, "train_loss_end": None, "untrained_loss_end": None}
    same = base is not None and len(c) <= len(base)
    return {"train_loss_epoch0": round(float(c.iloc[0]), 4), "train_loss_end": round(float(c.iloc[-1]), 4),
            "untrained_loss_end": round(float(base.iloc[len(c) - 1]), 4) if same else None}


def main() -> None:
    rows = []
    for split in ("test", "train"):
        base = psnr_table(W / split / "lanczos3.csv")
        for csv in sorted((W / split).glob("*.csv"), key=lambda p: p.stat().st_mtime):
            name, table = csv.stem, psnr_table(csv)
            subsets = {"all": table.index}
            if split == "train":
                subsets |= {"fitted8": [i for i in table.index if i not in HELD_OUT],
                            "heldout2": [i for i in table.index if i in HELD_OUT]}
            for subset, idx in subsets.items():
                row = {"variant": name, "split": split, "images": subset, **losses(name)}
                for t in TARGETS:
                    m, lo, hi = paired(table.loc[idx], base.loc[idx], t)
                    row[f"psnr_{t}"] = round(float(table.loc[idx, t].mean()), 3)
                    row[f"d_{t}"], row[f"d_{t}_lo"], row[f"d_{t}_hi"] = round(m, 3), round(lo, 3), round(hi, 3)
                row["d_mean"] = round(sum(row[f"d_{t}"] for t in TARGETS) / len(TARGETS), 3)
                rows.append(row)
    df = pd.DataFrame(rows)
    df.to_csv(OUT / "results.csv", index=False)
    (OUT / "results.json").write_text(json.dumps(rows, indent=1) + "\n")
    show = ["variant", "split", "images", "train_loss_epoch0", "train_loss_end", "untrained_loss_end", *(f"d_{t}" for t in TARGETS), "d_mean"]
    print(df[df.images != "heldout2"][show].to_string(index=False))


if __name__ == "__main__":
    main()
