"""LPIPS computes a ground truth's features once for all the outputs scored against it, and scores as pyiqa does.

The expected scores come from pyiqa's own LPIPS, loaded its own way from the same stand-in weight files
(allowed only here: both files are ours) and run without any of lmar's changes.
"""

from __future__ import annotations

import pandas as pd
import torch

from helpers import CPU, LABELS, N_TEST, accept_weight, stand_in_alexnet, stand_in_lpips

from lmar.run import metrics
from lmar.run.evaluate import evaluate
from lmar.run.metrics import KeptReference, Scorer


def test_scores_equal_pyiqas_to_the_last_bit_and_the_reference_is_computed_once(empty_torch_home, monkeypatch):
    import pyiqa

    alex, lin = stand_in_alexnet(empty_torch_home), stand_in_lpips(empty_torch_home)
    accept_weight(monkeypatch, "alexnet", alex)
    accept_weight(monkeypatch, "lpips_alex", lin)
    scorer = Scorer(["psnr", "lpips"], CPU, required=["psnr", "lpips"])
    theirs = pyiqa.create_metric("lpips", device=CPU, as_loss=False, pretrained_model_path=str(lin))
    trunk_calls = []
    kept = scorer.metrics["lpips"].net.net.forward
    assert isinstance(kept, KeptReference)
    inner = kept.forward
    kept.forward = lambda x: trunk_calls.append(x.shape) or inner(x)

    torch.manual_seed(3)
    gt_a, gt_b = torch.rand(3, 40, 48), torch.rand(3, 40, 48)
    outputs_a = [(gt_a + 0.05 * torch.randn(3, 40, 48)).clamp(0, 1) for _ in range(3)] + [gt_b]
    outputs_b = [(gt_b + 0.1 * torch.randn(3, 40, 48)).clamp(0, 1) for _ in range(2)] + [gt_a, gt_b.clone()]
    for gt, outputs in ((gt_a, outputs_a), (gt_b, outputs_b)):
        for out in outputs:
            ours = scorer(out, gt)["lpips"]
            with torch.no_grad():
                expected = float(theirs(out[None], gt[None]))
            assert ours == expected  # every bit: the kept features are the ones pyiqa computes
    # per ground truth: its features once, then one trunk pass per output; gt_b scored against itself is
    # served entirely from the kept features (both inputs equal the reference)
    assert len(trunk_calls) == (1 + 4) + (1 + 3) and kept.served == 3 + (3 + 1)
    assert scorer(gt_b, gt_b)["lpips"] == 0.0


def test_kept_outputs_serve_only_an_input_equal_to_the_kept_one():
    calls = []

    def forward(x):
        calls.append(x.clone())
        return (x * 2, x.sum())

    kept = KeptReference(forward)
    a, b = torch.arange(12.0).view(1, 3, 2, 2), torch.ones(1, 3, 2, 2)
    first = kept(a)
    assert len(calls) == 1
    assert kept(b)[1] == 12.0 and len(calls) == 2  # another input: computed, and not kept
    assert kept(a.clone()) is first and len(calls) == 2 and kept.served == 1  # equal values: served
    changed = a.clone()
    changed[0, 1, 1, 0] += 1e-6
    assert torch.equal(kept(changed)[0], changed * 2) and len(calls) == 3  # one value differs: computed
    assert len(kept(a.double())) == 2 and len(calls) == 4  # another dtype: computed
    a.add_(1.0)  # the caller changes its tensor in place: the kept copy still holds the old values
    assert torch.equal(kept(a)[0], a * 2) and len(calls) == 5
    kept.forget()
    kept(b)
    assert kept(b.clone()) is not first and len(calls) == 6 and kept.served == 2  # b is now the kept input


def test_an_evaluation_computes_each_ground_truths_features_once(mini_data, backbone_ckpt, empty_torch_home, tmp_path,
                                                                  monkeypatch):
    accept_weight(monkeypatch, "alexnet", stand_in_alexnet(empty_torch_home))
    accept_weight(monkeypatch, "lpips_alex", stand_in_lpips(empty_torch_home))
    made, keep = [], metrics.keep_lpips_reference
    monkeypatch.setattr(metrics, "keep_lpips_reference", lambda metric: made.append(keep(metric)) or made[-1])
    evaluate(mini_data, backbone_ckpt, {"type": "bicubic"}, None,
             {"scales": [2, 3, 4], "metrics": ["psnr", "lpips"], "required_metrics": ["lpips"], "workers": 0},
             tmp_path / "m.csv", tmp_path / "img", CPU, dict(LABELS))
    (kept,) = made
    # each test pair: its ground truth's features at the first target, then kept for the other two
    assert kept.served == N_TEST * 2
    rows = pd.read_csv(tmp_path / "m.csv")
    assert len(rows) == N_TEST * 3 and rows.lpips.notna().all()

