"""The backbone stays frozen while the real trainer (``train_resampler``) trains a resampler against it:
its weights and buffers come out bit-for-bit as they were loaded, and none of its parameters asks
for gradients. Checked on the very module the trainer loads (a spy on ``checkpoint.load_backbone``),
for LMAR and for the learned resizer baseline."""

from __future__ import annotations

import pytest
import torch

from helpers import CPU, LMAR_SPEC

from lmar.run import checkpoint
from lmar.run.train import train_resampler

RESIZER_SPEC = {
    "type": "learned_resizer",
    "params": {"n": 4, "r": 1},
    "train": {"epochs": 1, "crop": 32, "target_min": 8, "target_max": 32, "repeats": 1},
}


def spy_on_backbone(monkeypatch) -> list:
    """Record each (backbone, state at load) that ``checkpoint.load_backbone`` hands the trainer."""
    loaded = []
    real = checkpoint.load_backbone

    def spy(*args, **kwargs):
        net, ckpt = real(*args, **kwargs)
        loaded.append((net, {k: v.detach().clone() for k, v in net.state_dict().items()}))
        return net, ckpt

    monkeypatch.setattr(checkpoint, "load_backbone", spy)
    return loaded


@pytest.mark.parametrize("spec", [LMAR_SPEC, RESIZER_SPEC], ids=["lmar", "learned_resizer"])
def test_the_backbone_is_not_changed_by_training_a_resampler(mini_data, backbone_ckpt, tmp_path, monkeypatch, spec):
    loaded = spy_on_backbone(monkeypatch)
    torch.manual_seed(0)
    train_resampler(mini_data, backbone_ckpt, spec, tmp_path / "r.pt", CPU, seed=0, name="r")
    assert len(loaded) == 1  # the trainer's own backbone, not a copy we built
    net, at_load = loaded[0]
    # the file's weights too: what was loaded is the checkpoint, and training left it as it was
    on_file = checkpoint.load(backbone_ckpt, "backbone")["state_dict"]
    after = net.state_dict()
    assert after.keys() == at_load.keys() == on_file.keys()
    changed = [k for k in after if not torch.equal(after[k], at_load[k]) or not torch.equal(after[k], on_file[k])]
    assert changed == []
    assert [n for n, p in net.named_parameters() if p.requires_grad] == []
