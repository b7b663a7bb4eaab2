"""The LMAR resampler (docs/method.md section 2): output size, chunking, relative coordinates, the kernel map."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import lmar.parts.lmar.resampler as lmar_resampler
from lmar.core.errors import LmarError
from lmar.parts.lmar.inputs import relative_coordinate
from lmar.parts.lmar.resampler import LMAR
from lmar.parts.resize import resize


def small_lmar(seed: int = 0, **kw) -> LMAR:
    """A narrow LMAR with R = torch's bicubic (the independent references here resize with it) unless given."""
    torch.manual_seed(seed)
    kw.setdefault("interpolation", "bicubic")
    return LMAR(hidden=kw.pop("hidden", 16), depth=kw.pop("depth", 2), **kw)


def twin(net: LMAR, chunk_pixels: int) -> LMAR:
    """The same weights, another chunk size."""
    other = LMAR(interpolation=net.interpolation, hidden=net.mlp[0].out_features, depth=(len(net.mlp) - 1) // 2,
                 chunk_pixels=chunk_pixels)
    other.load_state_dict(net.state_dict())
    return other


# ---------------------------------------------------------------- output size


@pytest.mark.parametrize(
    "in_hw, out_hw, batch",
    [
        ((37, 51), (13, 17), 1),
        ((37, 51), (13, 17), 3),
        ((48, 72), (24, 36), 2),
        ((40, 30), (9, 23), 1),  # non-square, anisotropic factors
        ((24, 36), (1, 1), 2),
        ((25, 25), (1, 7), 1),
        ((16, 16), (16, 16), 1),  # no resampling
    ],
)
def test_output_has_requested_size(in_hw, out_hw, batch):
    net = small_lmar()
    x = torch.rand(batch, 3, *in_hw)
    with torch.no_grad():
        y = net(x, out_hw)
    assert tuple(y.shape) == (batch, 3, *out_hw)
    assert torch.isfinite(y).all()


def test_full_size_architecture_matches_spec():
    net = LMAR()
    linears = [m for m in net.mlp if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(7, 128)] + [(128, 128)] * 4 + [(128, 81)]
    assert sum(isinstance(m, torch.nn.LeakyReLU) for m in net.mlp) == 5
    assert not isinstance(list(net.mlp)[-1], torch.nn.LeakyReLU)  # no output activation
    assert net.fuse.in_channels == 6 and net.fuse.out_channels == 3 and net.fuse.kernel_size == (1, 1)
    assert LMAR.trainable


def test_batch_items_are_independent():
    net = small_lmar()
    x = torch.rand(3, 3, 29, 31)
    with torch.no_grad():
        whole = net(x, (11, 12))
        one = net(x[1:2], (11, 12))
    torch.testing.assert_close(whole[1:2], one, rtol=1e-5, atol=1e-6)


def test_without_hidden_channel_it_is_the_plain_resampler():
    """fuse = [I | 0] makes x_lr = R(x, size) exactly (the compensatory map then has no say)."""
    net = small_lmar()
    with torch.no_grad():
        net.fuse.weight[:, 3:] = 0
    x = torch.rand(2, 3, 37, 51)
    with torch.no_grad():
        torch.testing.assert_close(net(x, (13, 17)), resize(x, (13, 17), "bicubic", False), rtol=0, atol=1e-6)


def test_bad_interpolation_is_an_lmar_error():
    with pytest.raises(LmarError, match="lanczos"):
        LMAR(interpolation="lanczos")
    with pytest.raises(LmarError, match="antialias"):
        LMAR(interpolation="nearest", antialias=True)


# ---------------------------------------------------------------- chunking


@pytest.mark.parametrize("chunk_pixels", [7, 3 * 51 + 1, 1000])  # one row / 3 rows + remainder / 19 rows
def test_chunked_equals_unchunked_without_grad(chunk_pixels):
    net = small_lmar()
    ref = twin(net, 10**9)
    chunked = twin(net, chunk_pixels)
    x = torch.rand(2, 3, 37, 51)
    with torch.no_grad():
        torch.testing.assert_close(chunked.compensatory_map(x, (13, 17)), ref.compensatory_map(x, (13, 17)),
                                   rtol=0, atol=1e-6)
        torch.testing.assert_close(chunked(x, (13, 17)), ref(x, (13, 17)), rtol=0, atol=1e-6)


@pytest.mark.parametrize("chunk_pixels", [7, 3 * 51 + 1])
def test_chunked_checkpointed_gradients_equal_plain_unchunked(chunk_pixels, monkeypatch):
    net = small_lmar()
    chunked = twin(net, chunk_pixels)
    x = torch.rand(2, 3, 37, 51)
    weight = torch.rand(2, 3, 13, 17)  # a non-trivial scalar objective

    # reference: one band, and no activation checkpointing at all
    calls = []
    with monkeypatch.context() as m:
        m.setattr(lmar_resampler, "checkpoint", lambda fn, *a, **k: calls.append(1) or fn(*a))
        ref = twin(net, 10**9)
        xr = x.clone().requires_grad_(True)
        y_ref = ref(xr, (13, 17))
        (y_ref * weight).sum().backward()
    assert len(calls) == 1

    xc = x.clone().requires_grad_(True)
    y = chunked(xc, (13, 17))
    (y * weight).sum().backward()

    torch.testing.assert_close(y, y_ref.detach(), rtol=0, atol=1e-6)
    torch.testing.assert_close(xc.grad, xr.grad, rtol=1e-4, atol=1e-6)
    for (name, p), (_, q) in zip(chunked.named_parameters(), ref.named_parameters()):
        assert p.grad is not None, name
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-6, msg=name)
    assert chunked.mlp[0].weight.grad.abs().sum() > 0


def test_chunked_path_is_checkpointed_only_with_grad(monkeypatch):
    calls = []
    real = lmar_resampler.checkpoint
    monkeypatch.setattr(lmar_resampler, "checkpoint", lambda *a, **k: calls.append(1) or real(*a, **k))
    net = small_lmar(chunk_pixels=51 * 5)  # 5 rows a band: 37 rows -> 8 bands
    x = torch.rand(1, 3, 37, 51)
    with torch.no_grad():
        net(x, (13, 17))
    assert calls == []
    net(x, (13, 17)).sum().backward()
    assert len(calls) == 8


# ---------------------------------------------------------------- relative coordinate


def brute_force_relative(n_full: int, n_low: int) -> list[set[float]]:
    """For each full-res pixel, the allowed values: (centre - nearest low-res centre) * n_low (ties: all)."""
    coords = -1.0 + (2.0 * np.arange(n_full) + 1.0) / n_full
    centres = -1.0 + (2.0 * np.arange(n_low) + 1.0) / n_low
    out = []
    for c in coords:
        d = np.abs(c - centres)
        nearest = np.flatnonzero(np.isclose(d, d.min(), rtol=0, atol=1e-12))
        out.append({(c - centres[k]) * n_low for k in nearest})
    return out


@pytest.mark.parametrize("n_full, n_low", [(2, 1), (8, 4), (37, 13), (51, 17), (100, 37), (21, 8), (3, 2), (7, 7), (5, 1)])
def test_relative_coordinate_is_in_range_and_matches_brute_force(n_full, n_low):
    got = relative_coordinate(n_full, n_low, torch.device("cpu"), torch.float64)
    assert got.shape == (n_full,) and got.dtype == torch.float64
    assert (got >= -1).all() and (got <= 1).all()
    for i, (value, allowed) in enumerate(zip(got.tolist(), brute_force_relative(n_full, n_low))):
        # float32 arithmetic (the authors'): each centre within 1 ulp, the difference scaled by n_low
        assert any(abs(value - a) < 3e-7 * n_low for a in allowed), (i, value, allowed)


def test_relative_coordinate_factor_two_alternates():
    got = relative_coordinate(10, 5, torch.device("cpu"), torch.float32)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, torch.tensor([-0.5, 0.5] * 5), atol=3e-7 * 5, rtol=0)


def test_relative_coordinate_factor_three_and_no_resampling():
    torch.testing.assert_close(relative_coordinate(9, 3, "cpu", torch.float64),
                               torch.tensor([-2 / 3, 0.0, 2 / 3] * 3, dtype=torch.float64), atol=1e-6, rtol=0)
    assert relative_coordinate(6, 6, "cpu", torch.float64).abs().max() < 1e-6


# ---------------------------------------------------------------- compensatory map, independently


def reference_compensatory_map(net: LMAR, x: torch.Tensor, size) -> torch.Tensor:
    """docs/method.md section 2, written out pixel-feature by pixel-feature with explicit 3x3 shifts."""
    B, _, H, W = x.shape
    h, w = size
    up = F.interpolate(F.interpolate(x, size=(h, w), mode="bicubic", align_corners=False),
                       size=(H, W), mode="bicubic", align_corners=False)
    residual = x - up
    ry = torch.tensor([min(brute_force_relative(H, h)[i]) for i in range(H)], dtype=x.dtype)
    rx = torch.tensor([min(brute_force_relative(W, w)[j]) for j in range(W)], dtype=x.dtype)
    feats = torch.zeros(B, H, W, 7, dtype=x.dtype)
    feats[..., 0] = ry[:, None]
    feats[..., 1] = rx[None, :]
    feats[..., 2] = 2.0 * h / H
    feats[..., 3] = 2.0 * w / W
    feats[..., 4:] = residual.permute(0, 2, 3, 1)
    K = net.mlp(feats).reshape(B, H, W, 27, 3)
    xp = F.pad(x, (1, 1, 1, 1))
    patches = torch.stack(
        [xp[:, c, dy : dy + H, dx : dx + W] for c in range(3) for dy in range(3) for dx in range(3)], dim=-1
    )  # (B, H, W, 27): channel-major, then row, then column (unfold's order)
    return torch.einsum("bhwk,bhwko->bohw", patches, K)


def test_compensatory_map_and_forward_match_an_independent_implementation():
    # odd n_low avoids ties between two equally near low-res centres
    net = small_lmar(chunk_pixels=40)
    x = torch.rand(2, 3, 22, 30)
    size = (7, 11)
    with torch.no_grad():
        comp = net.compensatory_map(x, size)
        ref = reference_compensatory_map(net, x, size)
        torch.testing.assert_close(comp, ref, rtol=1e-4, atol=1e-5)
        x0 = F.interpolate(x, size=size, mode="bicubic", align_corners=False)
        c0 = F.interpolate(ref, size=size, mode="bicubic", align_corners=False)
        expected = F.conv2d(torch.cat([x0, c0], 1), net.fuse.weight, net.fuse.bias)
        torch.testing.assert_close(net(x, size), expected, rtol=1e-4, atol=1e-5)


def test_position_inputs_are_made_once_per_shape_and_dtype():
    """Kept per shape, device and dtype (about 30 small kernels a forward pass otherwise), with the
    values a fresh computation gives, and apart for inference mode (its tensors cannot enter autograd)."""
    net = LMAR(hidden=16, depth=1)
    x = torch.rand(1, 3, 9, 13)
    rel_y, rel_x, cell = net.position_inputs(x, (4, 6))
    assert torch.equal(rel_y, relative_coordinate(9, 4, "cpu", torch.float32))
    assert torch.equal(rel_x, relative_coordinate(13, 6, "cpu", torch.float32))
    assert cell.tolist() == pytest.approx([2 * 4 / 9, 2 * 6 / 13])
    again = net.position_inputs(torch.rand(2, 3, 9, 13), (4, 6))
    assert all(a is b for a, b in zip(again, (rel_y, rel_x, cell)))
    assert net.position_inputs(x, (5, 6))[0] is not rel_y and net.position_inputs(x.double(), (4, 6))[0].dtype == torch.float64
    with torch.inference_mode():
        inferred = net.position_inputs(x, (4, 6))
    assert inferred[0] is not rel_y and inferred[0].is_inference() and not rel_y.is_inference()
