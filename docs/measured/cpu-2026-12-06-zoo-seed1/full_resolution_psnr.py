"""Full-resolution test PSNR/SSIM of zoo backbones (8-bit rounded output, the project's pyiqa Scorer).

Run from the repository root after `make run` (which builds the dataset folder named below):
    python docs/measured/cpu-2026-12-06-zoo-seed1/full_resolution_psnr.py lmar/zoo/mini-unet-seed0.pt ...
"""
import sys
from pathlib import Path

import torch

from lmar.data.images import read_image
from lmar.run import checkpoint
from lmar.run.metrics import Scorer

torch.set_num_threads(1)
data = Path("resources/data/mini/80eba069972b")
score = Scorer(["psnr", "ssim"], torch.device("cpu"), required=("psnr",))
for ckpt in sys.argv[1:]:
    net, _ = checkpoint.load_backbone(ckpt, torch.device("cpu"))
    net.eval()
    per = {}
    for gt_path in sorted((data / "test" / "gt").glob("*.png")):
        x = read_image(data / "test" / "input" / gt_path.name)[None]
        gt = read_image(gt_path)
        with torch.no_grad():
            y = (net(x)[0].clamp(0, 1) * 255).round() / 255
        per[gt_path.stem] = score(y, gt)
    psnr = [v["psnr"] for v in per.values()]; ssim = [v["ssim"] for v in per.values()]
    print(ckpt, f"psnr {sum(psnr)/len(psnr):.3f} ssim {sum(ssim)/len(ssim):.4f}",
          " ".join(f"{k}:{v['psnr']:.2f}" for k, v in per.items()))
