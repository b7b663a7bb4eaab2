"""LMAR training steps on CPU with the old and the new automatic band size, in one run (see README.md here)."""
import json
from lmar.benchmarks import measure

def main():
    from lmar.resampler import CHUNK_BUDGET_CAP, N_INPUTS
    old = int(CHUNK_BUDGET_CAP["cpu"] // (4 * (N_INPUTS + 27 + 81 + 3 + 128 * 11)))
    res = {}
    for label, chunk in [("old", old), ("new", "auto")]:
        res[label] = measure("train_step", device="cpu", backbone={"type": "unet_lite", "params": {"width": 16}}, crop=256,
                             options={}, resampler={"type": "lmar", "params": {"chunk_pixels": chunk}}, repeats=5, warmup=2)
        print(label, chunk, res[label]["seconds"], 1 / res[label]["seconds"], res[label]["peak_extra_mib"], flush=True)
    json.dump(res, open("train.json", "w"), indent=1)
if __name__ == "__main__":
    main()
