"""How much can a resampler change a backbone's output by changing its input's tone? For the U-Net
and NAFNet of results/mini-default: the mean PSNR over the 6 test images of backbone(k * lanczos3(x))
upsampled with lanczos3, at x2, for brightness gains k (k = 1 is the plain DEU). A backbone that
normalises its input's statistics (instance norm) barely moves with k; one that does not, moves.
Prints JSON and writes it to argv[1]."""

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
MODELS = Path("/work/main/results/mini-default/models/mini")
GAINS = [0.5, 0.75, 1.0, 1.5, 2.0, 3.0]

report = {}
with torch.no_grad():
    for name in ("unet", "nafnet"):
        backbone, _ = checkpoint.load_backbone(MODELS / name / "seed0" / "backbone.pt", torch.device("cpu"))
        scores = {str(k): [] for k in GAINS}
        for p in list_pairs(DATA, "test"):
            x, gt = read_image(p.input)[None], read_image(p.gt)[None]
            H, W = x.shape[-2:]
            small = resize(x, (H // 2, W // 2), "lanczos3", False)
            for k in GAINS:
                y = resize(backbone(k * small), (H, W), "lanczos3").clamp(0, 1)
                scores[str(k)].append(10 * math.log10(1 / F.mse_loss(y, gt).item()))
        report[name] = {k: sum(v) / len(v) for k, v in scores.items()}
print(json.dumps(report, indent=1))
Path(sys.argv[1]).write_text(json.dumps(report, indent=1) + "\n")
