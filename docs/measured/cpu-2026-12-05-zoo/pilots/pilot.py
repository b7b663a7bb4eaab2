import sys, json, time, math, torch, logging
torch.set_num_threads(1); torch.manual_seed(0)
from pathlib import Path
from lmar.data.mini import MiniDataset
from lmar.train import pretrain_backbone
from lmar import checkpoint
from lmar.data.pairs import list_pairs
from lmar.data.images import read_image
import torch.nn.functional as F
logging.basicConfig(level=logging.INFO, filename=f"/tmp/pilot/{sys.argv[1]}.log")
name, views = sys.argv[1], int(sys.argv[2])
spec = json.loads(sys.argv[3])
data = Path(f"/tmp/pilot/data{views}")
if not data.exists():
    MiniDataset(size=(360,540), views=views).prepare(data)
out = Path(f"/tmp/pilot/{name}/backbone.pt")
t=time.time()
meta = pretrain_backbone(data, spec, out, torch.device("cpu"), 0, name)
net, _ = checkpoint.load_backbone(out, torch.device("cpu"), ())
net.eval(); s=[]
with torch.no_grad():
    for p in list_pairs(data, "test"):
        x,y=read_image(p.input),read_image(p.gt)
        mse=F.mse_loss(net(x[None]).clamp(0,1),y[None]).item(); s.append(10*math.log10(1/mse))
print(name, "minutes", (time.time()-t)/60, "val", meta["final_val_psnr"], "test", sum(s)/len(s), [round(v,2) for v in s], flush=True)
