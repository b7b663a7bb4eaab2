"""What Downsample -> Enhance -> Upsample could reach with a perfect enhancer: each test image's ground truth
downsampled (lanczos3 as the harness's lanczos3 resampler, or area), upsampled back with lanczos3 (the
harness's upsampler), rounded to 8 bits and scored with pyiqa's psnr against the ground truth itself.
The gap between a backbone's full-resolution PSNR and its DEU PSNR is the resampling loss; this says how
much of the picture the small image cannot carry whatever the downsampler hands the backbone.
    python docs/measured/cpu-2026-12-08-lmar-objective/resampling_ceiling.py resources/data/mini/<key>/test/gt
prints CSV rows: downsampler, target, image, psnr."""

import sys
from pathlib import Path

import numpy as np
import pyiqa
import torch
import torch.nn.functional as F
from PIL import Image

from lmar.parts.authors_resize import resize

SCALES = {"x1.5": 1.5, "x1.8": 1.8, "x2": 2, "x3": 3, "x4": 4}
psnr = pyiqa.create_metric("psnr", device="cpu", as_loss=False)
print("downsampler,target,image,psnr")
for path in sorted(Path(sys.argv[1]).glob("*.png")):
    gt = torch.from_numpy(np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)[None]
    h, w = gt.shape[-2:]
    for name, s in SCALES.items():
        small = (round(h / s), round(w / s))
        for down in ("lanczos3", "area"):
            x = resize(gt, small, "lanczos3") if down == "lanczos3" else F.interpolate(gt, size=small, mode="area")
            out = (resize(x.clamp(0, 1), (h, w), "lanczos3").clamp(0, 1) * 255).round() / 255
            print(f"{down},{name},{path.stem},{psnr(out, gt).item():.4f}")
