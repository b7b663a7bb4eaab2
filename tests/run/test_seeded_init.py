"""The seed the CLI verbs are given seeds the weight initialisation: ``runtime.setup(seed=s)`` before a
part is built makes its initial weights a function of ``s``: the same seed, the same weights to the
bit; another seed, other weights."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from helpers import BACKBONE_SPEC, LMAR_PARAMS

from lmar.core.registry import BACKBONES, RESAMPLERS
from lmar.core.runtime import setup


@pytest.fixture(autouse=True)
def _restore_global_generators():
    """setup() seeds process-wide generators: put them back for the tests after this one."""
    py, np_state, torch_state = random.getstate(), np.random.get_state(), torch.get_rng_state()
    yield
    random.setstate(py)
    np.random.set_state(np_state)
    torch.set_rng_state(torch_state)


def initial_weights(registry, spec: dict, seed: int) -> dict[str, torch.Tensor]:
    setup(seed=seed)
    return {k: v.detach().clone() for k, v in registry.build(spec).state_dict().items()}


def differing(a: dict, b: dict) -> list[str]:
    assert a.keys() == b.keys()
    return [k for k in a if not torch.equal(a[k], b[k])]


PARTS = [(BACKBONES, {"type": BACKBONE_SPEC["type"], "params": BACKBONE_SPEC["params"]}),
         (RESAMPLERS, {"type": "lmar", "params": LMAR_PARAMS})]


@pytest.mark.parametrize("registry, spec", PARTS, ids=["unet_lite", "lmar"])
def test_the_seed_decides_the_initial_weights(registry, spec):
    seed0, seed1 = initial_weights(registry, spec, 0), initial_weights(registry, spec, 1)
    torch.manual_seed(12345)  # whatever ran in between: setup(seed=0) starts from the seed again
    torch.rand(7)
    again = initial_weights(registry, spec, 0)
    assert differing(seed0, again) == []
    # every randomly initialised weight (not a constant one, such as a norm's ones or a zero bias)
    # differs between seeds 0 and 1
    random_init = [k for k, v in seed0.items() if k.endswith("weight") and v.numel() > 1 and v.float().std() > 0]
    assert random_init  # the part has some
    assert set(random_init) <= set(differing(seed0, seed1))
