"""``lmar tune-kernel``'s measurement loop, run under Triton's CPU interpreter at a tiny size.

On a GPU it times each launch candidate with CUDA events; here the point is the plumbing:
every candidate is checked against float64, recorded, and the fastest correct one reported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lmar.kernels import triton_available

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import json
from lmar.kernels.lmar_triton import Launch
from lmar.kernels.tuning import tune
result = tune((8, 40), (4, 20), hidden=32, depth=2, computes=("fp32", "bf16"), device="cpu", progress=lambda m: None,
              launches=lambda compute: [Launch(16, 4, 1, False), Launch(32, 4, 1, True)])
print(json.dumps(result))
"""


@pytest.mark.skipif(not triton_available(), reason="needs triton")
def test_tune_checks_and_ranks_every_candidate():
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    fused = [r for r in result["runs"] if r["label"].startswith("fused")]
    assert len(fused) == 4 and all(r["ok"] for r in fused), fused
    assert all(r["rel_l2"] < 1e-5 for r in fused if r["compute"] == "fp32")
    assert all(0 < r["rel_l2"] < 3e-2 for r in fused if r["compute"] == "bf16")  # > 0: really bf16
    for compute in ("fp32", "bf16"):
        runs = [r for r in fused if r["compute"] == compute]
        assert result["best"][compute] == min(runs, key=lambda r: r["ms"])["launch"]
    assert result["gflop_per_image"] > 0
