"""chunk_pixels="auto": bands sized from free memory, same result as any explicit chunking."""

from __future__ import annotations

import pytest
import torch

from lmar.core.errors import LmarError
from lmar.parts.lmar import bands
from lmar.parts.lmar import resampler as lmar_resampler
from lmar.parts.lmar.bands import auto_chunk_pixels
from lmar.parts.lmar.resampler import LMAR


def test_auto_chunk_fits_the_budget(monkeypatch):
    monkeypatch.setattr(bands, "free_memory", lambda device: 8 * 2**30)
    gpu = torch.device("cuda")  # only its type is read: no GPU needed
    n = auto_chunk_pixels(gpu, hidden=128, depth=5, needs_grad=False)
    per_pixel = 4 * (7 + 27 + 81 + 3 + 128 * 2)
    assert n * per_pixel <= bands.CHUNK_BUDGET_CAP["cuda"] < (n + 1) * per_pixel
    # a checkpointed band keeps every layer: fewer pixels per band
    assert auto_chunk_pixels(gpu, 128, 5, needs_grad=True) < n


def test_cpu_bands_stay_cache_sized(monkeypatch):
    monkeypatch.setattr(bands, "free_memory", lambda device: 8 * 2**30)
    cap = bands.CHUNK_CACHE_PIXELS["cpu"]
    assert auto_chunk_pixels(torch.device("cpu"), 128, 5, needs_grad=False) == cap
    assert auto_chunk_pixels(torch.device("cpu"), 128, 5, needs_grad=True) == cap


def test_auto_chunk_shrinks_with_free_memory(monkeypatch):
    monkeypatch.setattr(bands, "free_memory", lambda device: 64 * 2**20)
    small = auto_chunk_pixels(torch.device("cpu"), 128, 5, False)
    assert small * 4 * (7 + 27 + 81 + 3 + 256) <= 0.125 * 64 * 2**20
    monkeypatch.setattr(bands, "free_memory", lambda device: 0)
    assert auto_chunk_pixels(torch.device("cpu"), 128, 5, False) == 1


def test_auto_equals_explicit_chunking(monkeypatch):
    torch.manual_seed(0)
    x = torch.rand(1, 3, 23, 31)
    ref = LMAR(hidden=16, depth=2, chunk_pixels=10**9)
    auto = LMAR(hidden=16, depth=2, chunk_pixels="auto")
    auto.load_state_dict(ref.state_dict())
    monkeypatch.setattr(bands, "free_memory", lambda device: 2**16)  # forces many small bands
    assert auto_chunk_pixels(x.device, 16, 2, False) < 31 * 23
    with torch.no_grad():
        torch.testing.assert_close(auto(x, (9, 13)), ref(x, (9, 13)), rtol=1e-5, atol=1e-6)


def test_checkpointing_only_when_activations_do_not_fit(monkeypatch):
    kept = 64 * 64 * bands.band_bytes_per_pixel(16, 2, needs_grad=True)
    monkeypatch.setattr(bands, "free_memory", lambda device: 8 * kept)
    assert not bands.auto_checkpoint(torch.device("cpu"), 16, 2, pixels=64 * 64)
    monkeypatch.setattr(bands, "free_memory", lambda device: 2 * kept)
    assert bands.auto_checkpoint(torch.device("cpu"), 16, 2, pixels=64 * 64)


@pytest.mark.parametrize("free", [2**14, 2**34], ids=["checkpointed small bands", "all activations kept"])
def test_gradients_do_not_depend_on_the_band_plan(monkeypatch, free):
    torch.manual_seed(0)
    x = torch.rand(2, 3, 23, 31, requires_grad=True)
    ref = LMAR(hidden=16, depth=2, chunk_pixels=10**9)  # one band, never checkpointed by "auto"'s rule
    auto = LMAR(hidden=16, depth=2)
    auto.load_state_dict(ref.state_dict())
    checkpointed = []
    real_checkpoint = lmar_resampler.checkpoint
    monkeypatch.setattr(lmar_resampler, "checkpoint", lambda *a, **k: checkpointed.append(1) or real_checkpoint(*a, **k))
    grads = []
    for net in (ref, auto):
        monkeypatch.setattr(bands, "free_memory", lambda device, net=net: free if net is auto else 2**40)
        x.grad, checkpointed[:] = None, []
        net(x, (9, 13)).square().sum().backward()
        grads.append([x.grad.clone()] + [p.grad.clone() for p in net.parameters()])
    assert len(checkpointed) == (0 if free > 2**20 else 23)  # auto: no checkpoints, or one per row (2 x 31 px each)
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bad", [0, -5, "lots", 2.5])
def test_bad_chunk_pixels(bad):
    with pytest.raises(LmarError, match="chunk_pixels"):
        LMAR(chunk_pixels=bad)
