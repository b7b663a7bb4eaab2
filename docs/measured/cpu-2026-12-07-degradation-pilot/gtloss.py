import math, torch, sys
from pathlib import Path
import torch.nn.functional as F
from lmar.data.mini import MiniDataset
from lmar.data.pairs import list_pairs
from lmar.data.images import read_image
from lmar.parts.authors_resize import resize
from lmar.run import checkpoint
torch.set_num_threads(2)
data = Path("/tmp/pilot2/data16")
if not data.exists():
    MiniDataset(size=(360,540), views=16).prepare(data)
def psnr(a,b): return 10*math.log10(1/F.mse_loss(a.clamp(0,1),b).item())
nets = {}
for b in ["unet","nafnet"]:
    net,_ = checkpoint.load_backbone(Path(f"lmar/zoo/mini-{b}-seed0.pt"), torch.device("cpu"), ())
    nets[b]=net.eval()
with torch.no_grad():
  for p in list_pairs(data,"test"):
    x,y = read_image(p.input)[None], read_image(p.gt)[None]
    H,W = y.shape[-2:]
    row=[p.name]
    for s in [1.8, 4]:
        t=(round(H/s),round(W/s))
        row.append(f"gt x{s} {psnr(resize(resize(y,t),(H,W)),y):.2f}")
    for b,net in nets.items():
        full = net(x).clamp(0,1)
        t=(round(H/1.8),round(W/1.8))
        deu = resize(net(resize(x,t)).clamp(0,1),(H,W)).clamp(0,1)
        row.append(f"{b} full {psnr(full,y):.2f} deu {psnr(deu,y):.2f} deu-vs-full {psnr(deu,full):.2f} fullblur-vs-full {psnr(resize(resize(full,t),(H,W)),full):.2f}")
    print(" | ".join(row), flush=True)
