"""Where does a trained learned resizer's gain go? For one checkpoint (argv[1]) against the U-Net:

1. on training-like samples (random 192-pixel crops of the 10 training pairs, random square targets
   48..184, as lmar.train.train_resampler draws them, seed 0): the L1 of the task loss with the
   resizer's BatchNorm as evaluation runs it (running statistics, ``eval``) and as training ran it
   (the sample's own statistics, ``batch``), against the untrained resizer (bilinear, its exact
   initialisation) and lanczos3;
2. on whole 360x540 images (test split and training pairs) at the five evaluation scales: PSNR
   (clamped, from the MSE) of the same four, each followed by the U-Net and lanczos3 upsampling.

``batch`` mode sets momentum 0, so the running statistics are not changed by it. Prints JSON and
writes it to argv[2]."""

import copy
import json
import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from lmar import checkpoint
from lmar.data.images import read_image
from lmar.data.pairs import list_pairs
from lmar.interpolation import resize

torch.set_num_threads(1)
DATA = Path("/work/main/resources/data/mini/30da959bc20b")
BB = Path("/work/main/results/mini-default/models/mini/unet/seed0/backbone.pt")
SCALES = [1.5, 1.8, 2, 3, 4]


def batch_stats(net):
    """A copy of ``net`` whose BatchNorm layers normalise with each input's own statistics."""
    net = copy.deepcopy(net)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.train()
            m.momentum = 0.0
    return net


def main(ckpt: str, out: str) -> None:
    device = torch.device("cpu")
    backbone, _ = checkpoint.load_backbone(BB, device)
    spec = {"type": "learned_resizer", "params": torch.load(ckpt, weights_only=False)["spec"].get("params", {})}
    trained, _ = checkpoint.build_resampler(spec, ckpt, device)
    resamplers = {
        "lanczos3": lambda x, s: resize(x, s, "lanczos3", False),
        "bilinear_init": lambda x, s: resize(x, s, "bilinear", False),
        "eval": trained,
        "batch": batch_stats(trained),
    }
    report = {"checkpoint": ckpt, "crops": {}, "whole": {}}
    gen = torch.Generator().manual_seed(0)
    sizes = list(range(48, 192, 8))
    train_pairs = list_pairs(DATA, "train")
    losses = {k: [] for k in resamplers}
    with torch.no_grad():
        for rep in range(4):
            for p in train_pairs:
                both = torch.cat([read_image(p.input), read_image(p.gt)])[None]
                H, W = both.shape[-2:]
                top = int(torch.randint(0, H - 192 + 1, (1,), generator=gen))
                left = int(torch.randint(0, W - 192 + 1, (1,), generator=gen))
                x, gt = both[..., top:top + 192, left:left + 192].split(3, dim=1)
                s = sizes[int(torch.randint(0, len(sizes), (1,), generator=gen))]
                for k, r in resamplers.items():
                    y = resize(backbone(r(x, (s, s))), (192, 192), "lanczos3")
                    losses[k].append(F.l1_loss(y, gt).item())
        report["crops"] = {k: sum(v) / len(v) for k, v in losses.items()}
        for split in ("test", "train"):
            psnr = {k: {str(s): [] for s in SCALES} for k in resamplers}
            for p in list_pairs(DATA, split):
                x, gt = read_image(p.input)[None], read_image(p.gt)[None]
                H, W = x.shape[-2:]
                for s in SCALES:
                    size = (round(H / s), round(W / s))
                    for k, r in resamplers.items():
                        y = resize(backbone(r(x, size)), (H, W), "lanczos3").clamp(0, 1)
                        psnr[k][str(s)].append(10 * math.log10(1 / F.mse_loss(y, gt).item()))
            report["whole"][split] = {
                k: {s: sum(v) / len(v) for s, v in d.items()} for k, d in psnr.items()}
    text = json.dumps(report, indent=1)
    print(text)
    Path(out).write_text(text + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
