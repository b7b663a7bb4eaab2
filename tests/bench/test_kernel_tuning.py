"""``lmar tune-kernel``'s measurement loop, run under Triton's CPU interpreter at a tiny size.

On a GPU it times each launch candidate with CUDA events; here the point is the plumbing:
every candidate is checked against float64, recorded, and the fastest correct one reported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from helpers import ROOT

from lmar.parts.lmar.fused import triton_available


SCRIPT = """
import json
from types import SimpleNamespace
from lmar.parts.lmar.fused.launch import Launch
from lmar.bench.tuning import tune
broken = SimpleNamespace(block=16, num_warps=3, num_stages=1, unroll=False, persistent=0)  # fails inside its process
partials = []
result = tune((8, 40), (4, 20), hidden=32, depth=2, computes=("fp32", "bf16"), device="cpu", progress=lambda m: None,
              launches=lambda compute: [Launch(16, 4, 1, False), broken, Launch(32, 4, 1, True, 1)],
              partial=lambda r: partials.append(json.loads(json.dumps(r))))
result["partials"] = partials
print(json.dumps(result))
"""


@pytest.mark.skipif(not triton_available(), reason="needs triton")
def test_tune_checks_and_ranks_every_candidate():
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    runs = [r for r in result["runs"] if r["label"].startswith("fused")]
    failed = [r for r in runs if r["launch"][1] == 3]
    assert len(failed) == 2 and all(not r["ok"] and "num_warps=3" in r["error"] for r in failed), failed
    fused = [r for r in runs if r["launch"][1] != 3]  # the candidates after the failure still ran
    assert len(fused) == 4 and all(r["ok"] for r in fused), fused
    assert all(r["rel_l2"] < 1e-5 for r in fused if r["compute"] == "fp32")
    assert all(0 < r["rel_l2"] < 3e-2 for r in fused if r["compute"] == "bf16")  # > 0: really bf16
    for compute in ("fp32", "bf16"):
        runs = [r for r in fused if r["compute"] == compute]
        assert result["best"][compute] == min(runs, key=lambda r: r["ms"])["launch"]
    assert result["gflop_per_image"] > 0
    # a snapshot after every candidate, so a run cut short keeps what it measured
    partials = result["partials"]
    assert [len(p["runs"]) for p in partials] == [len(result["runs"]) - 6 + i for i in range(1, 7)]
    assert not any(p["complete"] for p in partials) and result["complete"]
    assert partials[0]["best"] == {"fp32": [16, 4, 1, False, 0]}  # the best so far


@pytest.mark.skipif(not triton_available(), reason="needs triton")
def test_bf16_sweep_tries_pipelined_launches_first():
    from lmar.bench.tuning import candidates

    found = [(c.block, c.num_warps, c.num_stages, c.unroll, c.persistent) for c in candidates("bf16")]
    assert len(found) == len(set(found)) == 25
    # the best measured launch, the persistent ones, the best's neighbours in pipelining depth, then the
    # runner-up's shape
    assert found[:9] == [(128, 4, 3, False, 0), (64, 4, 2, False, 1), (128, 8, 2, False, 1), (64, 4, 3, False, 1),
                         (128, 4, 4, False, 0), (128, 4, 2, False, 0),
                         (256, 8, 3, False, 0), (256, 8, 4, False, 0), (256, 8, 2, False, 0)]
    # every other block and warp count, pipelined, before any unpipelined schedule
    stages = [s for _, _, s, _, _ in found]
    assert stages[9:] == [3] * 4 + [1] * 12
    assert {(b, w) for b, w, _, _, _ in found} == {(b, w) for b in (128, 256, 64) for w in (8, 4)}
    assert [p for *_, p in found].count(1) == 3 and not any(c.persistent for c in candidates("tf32"))
