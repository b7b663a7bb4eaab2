"""LMAR training steps on CPU with checkpointed bands and with every band's activations kept, in one run (see README.md here)."""
import json
from lmar.benchmarks import measure

def main():
    res = {}
    for label, chunk in [("checkpointed 8192-pixel bands", 8192), ("auto (all activations kept)", "auto")]:
        res[label] = measure("train_step", device="cpu", backbone={"type": "unet_lite", "params": {"width": 16}}, crop=256,
                             options={}, resampler={"type": "lmar", "params": {"chunk_pixels": chunk}}, repeats=5, warmup=2)
        print(label, res[label]["seconds"], 1 / res[label]["seconds"], res[label]["peak_extra_mib"], flush=True)
    json.dump(res, open("train_checkpoint.json", "w"), indent=1)
if __name__ == "__main__":
    main()
