"""The resize as tap tables (lmar.parts.resize.resize_taps), which the fused LMAR kernel uses to
form the residual x - R(x0, (H, W)) on chip, against the resize itself."""

from __future__ import annotations

import pytest
import torch

from lmar.parts.resize import resize, resize_taps


def apply_taps(x: torch.Tensor, taps_y, taps_x) -> torch.Tensor:
    """Resize ``x`` (B, C, h, w) with the tables, every output pixel (the test's own evaluation)."""
    (iy, wy), (ix, wx) = taps_y, taps_x
    rows = (x[:, :, iy.long()] * wy[:, :, None]).sum(dim=3)  # (B, C, H, w)
    return (rows[:, :, :, ix.long()] * wx).sum(dim=-1)


SHAPES = [((4, 6), (9, 13)), ((5, 7), (9, 13)), ((9, 13), (9, 13)), ((3, 1), (7, 1)), ((1, 1), (5, 5)),
          ((12, 6), (9, 13)), ((120, 213), (216, 384))]


@pytest.mark.parametrize("method, antialias", [("bicubic", False), ("bicubic", True), ("bilinear", False),
                                               ("bilinear", True), ("nearest", False), ("area", False)])
@pytest.mark.parametrize("in_hw, out_hw", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_tables_reproduce_the_resize(method, antialias, in_hw, out_hw):
    taps = resize_taps(in_hw, out_hw, method, antialias)
    if taps is None:  # only antialiased bicubic downscaling needs more than 4 taps here
        assert (method, antialias, in_hw) == ("bicubic", True, (12, 6))
        return
    for (index, weight), n_in, n_out in zip(taps, in_hw, out_hw):
        assert index.dtype == torch.int32 and weight.dtype == torch.float32
        assert index.shape == weight.shape == (n_out, 4)
        assert 0 <= index.min() and index.max() < n_in
    x = torch.rand(2, 3, *in_hw)
    assert (apply_taps(x, *taps) - resize(x, out_hw, method, antialias)).abs().max() <= 1e-5


def test_bicubic_upscaling_uses_four_taps_with_clamped_borders():
    (index, weight), _ = resize_taps((4, 4), (8, 8))
    assert torch.allclose(weight.sum(dim=1), torch.ones(8))  # cubic weights sum to 1
    assert index.min() == 0 and index.max() == 3  # source rows clamped at the borders, not padded


def test_4k_bicubic_tables():
    """The default LMAR setting at 4K, x1.8: every pixel of the upscaled image from the tables."""
    taps = resize_taps((1200, 2133), (2160, 3840))
    x = torch.rand(1, 3, 1200, 2133)
    assert (apply_taps(x, *taps) - resize(x, (2160, 3840))).abs().max() <= 1e-5


def test_more_taps_than_the_tables_hold_is_refused():
    assert resize_taps((12, 6), (9, 13), "bicubic", True) is None  # antialiased bicubic downscaling
    assert resize_taps((12, 6), (9, 13), "bicubic", True, max_taps=8) is not None
