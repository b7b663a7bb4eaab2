"""The fp16 tolerance's error model, measured: per size, CPU fp16 (round to nearest) and the largest
deviation from the authors' fp32 outputs over 8 draws of FaithfulFloat16 (every float16 reduction
rounded to either neighbour of its exact result, at random; seed 0). Run from the project's root with
the authors' files where the tests find them:  python docs/measured/cpu-2026-12-05-fp16-model/model.py"""
import json
import sys

import torch

sys.path[:0] = [".", "tests", "tests/parts"]
import test_released_precision as t  # noqa: E402

net, generator, rows = t.released_lmar(), torch.Generator().manual_seed(0), {}
for h, w in t.SIZES:
    nearest = t.small_image_and_map(net, "fp16", t.CPU, (h, w))
    worst = [0.0, 0.0]
    for _ in range(8):
        with t.FaithfulFloat16(generator):
            drawn = t.small_image_and_map(net, "fp16", t.CPU, (h, w))
        worst = [max(worst[i], t.max_diff(drawn[i], f"{n}_{h}x{w}.npy")) for i, n in enumerate(("lmar_down", "lmar_map"))]
    rows[f"{h}x{w}"] = {"cpu_fp16": [t.max_diff(nearest[i], f"{n}_{h}x{w}.npy") for i, n in enumerate(("lmar_down", "lmar_map"))],
                        "model_worst_of_8": worst}
    print(f"{h}x{w}", json.dumps(rows[f"{h}x{w}"]), flush=True)
print(json.dumps({"worst": [max(r["model_worst_of_8"][i] for r in rows.values()) for i in (0, 1)],
                  "tolerance": list(t.TOLERANCE["fp16"])}))
