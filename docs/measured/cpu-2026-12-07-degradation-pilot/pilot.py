"""Pilot: a milder degradation; train a backbone briefly, then full vs DEU (lanczos3) per test image."""
import sys, json, time, math, torch, logging
import numpy as np
torch.set_num_threads(1)
from pathlib import Path
import torch.nn.functional as F
import lmar.data.mini as mini
from lmar.data.pairs import list_pairs
from lmar.data.images import read_image
from lmar.parts.authors_resize import resize
from lmar.run import checkpoint
from lmar.run.train import pretrain_backbone
name, deg, spec = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
def degrade(gt, rng):
    e = rng.uniform(*deg["exposure"]); g = rng.uniform(*deg["gamma"])
    cast = 1.0 + rng.uniform(-deg["cast"], deg["cast"], size=3)
    a, b = rng.uniform(*deg["a"]), rng.uniform(*deg["b"])
    dark = e * gt.astype(np.float64) ** g * cast
    low = dark + np.sqrt(a * np.clip(dark, 0, None) + b * b) * rng.standard_normal(gt.shape)
    return np.clip(low, 0.0, 1.0)
data = Path(f"/tmp/pilot2/data-{deg['tag']}")
if not data.exists():
    mini.MiniDataset(size=(360,540), views=16, exposure=deg['exposure'], gamma=deg['gamma'], cast=deg['cast'], shot_noise=deg['a'], read_noise=deg['b']).prepare(data)
logging.basicConfig(level=logging.INFO, filename=f"/tmp/pilot2/{name}.log")
out = Path(f"/tmp/pilot2/{name}/backbone.pt")
t = time.time()
meta = pretrain_backbone(data, spec, out, torch.device("cpu"), 0, name)
net, _ = checkpoint.load_backbone(out, torch.device("cpu"), ()); net.eval()
def psnr(a,b): return 10*math.log10(1/F.mse_loss(a.clamp(0,1),b).item())
rows = []
with torch.no_grad():
    for p in list_pairs(data, "test"):
        x, y = read_image(p.input)[None], read_image(p.gt)[None]
        H, W = y.shape[-2:]
        full = net(x).clamp(0,1); r = {"img": p.name, "full": psnr(full,y)}
        for s in (1.5, 1.8, 2, 4):
            tt = (round(H/s), round(W/s))
            r[f"deu{s}"] = psnr(resize(net(resize(x,tt)).clamp(0,1),(H,W)), y)
        rows.append(r)
print(name, "min %.1f" % ((time.time()-t)/60), "val %.2f" % meta["final_val_psnr"], flush=True)
for r in rows: print("  ", r["img"], " ".join(f"{k} {v:.2f}" for k, v in r.items() if k != "img"), flush=True)
for s in (1.5, 1.8, 2, 4):
    d = [r["full"] - r[f"deu{s}"] for r in rows]
    print(f"   loss x{s}: mean {np.mean(d):.2f} min {min(d):.2f} max {max(d):.2f}", flush=True)
