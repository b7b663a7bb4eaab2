"""The fused kernel's bf16 launches compiled for sm_90 (H100/H200) on a CPU, as a 3840x2160 -> 1200x2133
launch with the epilogue's mix (the forward pass's path): shared memory, registers and spills by the ptxas
Triton ships, the machine code's instructions (a static count, by cuobjdump; and the compare, select
and min/max ones, where the LeakyReLU shows), and the weight bytes the programs read from L2 per image
(the default MLP: 156 KiB of bf16 weight matrices; one program per block reads them per block, a
persistent one once). No GPU: nothing here is a time. Run from the project's root:
  python docs/measured/cpu-2026-12-05-persistent/compile.py
with another Triton (the GPU machine's 3.6.0):  pip install --no-deps --target DIR triton==3.6.0, then
PYTHONPATH=DIR before the command. At an earlier commit it prints the launches that commit knew."""
import collections
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import triton

sys.path[:0] = [".", "tests", "tests/parts"]
import test_lmar_triton as t  # noqa: E402

from lmar.parts.lmar.fused.lmar_triton import Launch, _compensation_kernel, kernel_constants, pack_mlp  # noqa: E402
from lmar.parts.lmar.resampler import kernel_mlp  # noqa: E402

SMS = 132  # H100 SXM and H200 multiprocessors
LAUNCHES = [(128, 4, 3, False, 0), (256, 8, 3, False, 0), (64, 4, 2, False, 1), (64, 4, 3, False, 1),
            (128, 4, 2, False, 1), (128, 4, 3, False, 1), (128, 8, 2, False, 1), (256, 8, 2, False, 1)]
os.environ["TRITON_CACHE_DIR"] = tempfile.mkdtemp()
packed = pack_mlp(kernel_mlp(128, 5).bfloat16())
weight_bytes = sum(w.numel() * w.element_size() for w in (packed.w_in, packed.w_hidden, packed.w_out))
ptxas = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "ptxas"
print(json.dumps({"triton": triton.__version__, "weight_kib": weight_bytes / 1024}))
for spec in LAUNCHES:
    try:
        launch = Launch(*spec)
    except TypeError:  # a commit from before persistent launches: only the others
        if spec[4]:
            continue
        launch = Launch(*spec[:4])
    compiled = t._compile_as_launched(_compensation_kernel, {"w": "bf16", "iy": "i32", "ix": "i32"},
                                      kernel_constants(packed, "bf16", launch, 4, True), t.MAP_INTS,
                                      launch.num_warps, launch.num_stages, floats=("negative_slope",))
    with tempfile.TemporaryDirectory() as d:
        Path(d, "k.ptx").write_text(compiled.asm["ptx"])
        log = subprocess.run([str(ptxas), "-v", "--gpu-name=sm_90a", f"{d}/k.ptx", "-o", f"{d}/k.o"],
                             capture_output=True, text=True, check=True).stderr
        sass = subprocess.run([str(ptxas.parent / "cuobjdump"), "-sass", f"{d}/k.o"], capture_output=True,
                              text=True, check=True).stdout
    ops = collections.Counter(m.group(1) for m in re.finditer(r"/\*[0-9a-f]{4,}\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_]+)", sass))
    blocks = -(-t.H * t.W // launch.block)
    programs = min(blocks, spec[4] * SMS) if spec[4] else blocks
    print(json.dumps({"launch": list(spec), "shared_kib": round(compiled.metadata.shared / 1024, 1),
                      "registers": int(re.search(r"Used (\d+) registers", log).group(1)),
                      "spill_bytes": int(re.search(r"(\d+) bytes spill stores", log).group(1)),
                      "instructions": sum(ops.values()), **{op: ops[op] for op in ("FSETP", "FSEL", "FMNMX")},
                      "programs": programs, "weight_gb_from_l2": round(programs * weight_bytes / 1e9, 3)}))
