"""4K LMAR inference on CPU with the old and the new automatic band size, in one run (see README.md here)."""
import json, torch
from lmar.benchmarks import measure, UHD
from lmar.resampler import auto_chunk_pixels, CHUNK_BUDGET_CAP, N_INPUTS
def main():
    old_auto = int(CHUNK_BUDGET_CAP["cpu"] // (4 * (N_INPUTS + 27 + 81 + 3 + 128 * 2)))  # the old rule's value (384 MiB cap)
    res = {"old_auto_chunk": old_auto, "new_auto_chunk": auto_chunk_pixels(torch.device("cpu"), 128, 5, False)}
    size = [round(UHD[0] / 1.8), round(UHD[1] / 1.8)]
    common = dict(device="cpu", hw=list(UHD), repeats=2, warmup=1)
    res["bicubic"] = measure("resample", resampler={"type": "bicubic"}, size=size, **{**common, "repeats": 5})
    for label, chunk in [("old", old_auto), ("new", "auto")]:
        res[f"lmar {label}"] = measure("resample", resampler={"type": "lmar", "params": {"chunk_pixels": chunk}}, size=size, **common)
        print(label, res[f"lmar {label}"]["seconds"], res[f"lmar {label}"]["peak_extra_mib"], flush=True)
    print(json.dumps(res, indent=1))
    json.dump(res, open("resample.json", "w"), indent=1)
    
if __name__ == "__main__":
    main()