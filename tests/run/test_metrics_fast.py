"""SSIM through pyiqa with its Gaussian window filtered in two 1D passes: the same scores as pyiqa's
own 2D filtering (to 1e-8), and pyiqa left as it was."""

from __future__ import annotations

import pytest
import torch

from lmar.run.metrics import Scorer, _separable_filter2

CPU = torch.device("cpu")


def pyiqa_alone(name: str, out: torch.Tensor, gt: torch.Tensor, **options) -> float:
    import pyiqa

    with torch.no_grad():
        return float(pyiqa.create_metric(name, device=CPU, as_loss=False, **options)(out[None], gt[None]))


@pytest.mark.parametrize("hw", [(40, 60), (300, 520), (531, 777)])  # the last two are downsampled by pyiqa
def test_ssim_equals_pyiqa_own(hw):
    gen = torch.Generator().manual_seed(hw[0])
    gt = torch.rand(3, *hw, generator=gen)
    out = (gt + 0.1 * torch.randn(3, *hw, generator=gen)).clamp(0, 1)
    ours = Scorer(["psnr", "ssim"], CPU)(out, gt)
    assert ours["ssim"] == pytest.approx(pyiqa_alone("ssimc", out, gt, downsample=True), abs=1e-8)
    assert ours["psnr"] == pyiqa_alone("psnr", out, gt)  # untouched


def test_pyiqa_is_put_back_after_scoring():
    from pyiqa.archs import ssim_arch

    before = ssim_arch.filter2
    Scorer(["ssim"], CPU)(torch.rand(3, 30, 30), torch.rand(3, 30, 30))
    assert ssim_arch.filter2 is before


def test_a_window_that_is_not_separable_uses_the_original_filter():
    calls = []

    def original(x, w, shape="same"):
        calls.append(shape)
        return torch.nn.functional.conv2d(x, w, groups=x.shape[1])

    x = torch.rand(1, 3, 20, 20, dtype=torch.float64)
    w = torch.rand(3, 1, 5, 5, dtype=torch.float64)  # random: not an outer product
    assert torch.equal(_separable_filter2(original)(x, w, "valid"), torch.nn.functional.conv2d(x, w, groups=3))
    assert calls == ["valid"]
    # a separable one does not call it, and agrees with the 2D filter
    u = torch.rand(5, dtype=torch.float64)
    sep = torch.outer(u, u).expand(3, 1, 5, 5)
    torch.testing.assert_close(_separable_filter2(original)(x, sep, "valid"),
                               torch.nn.functional.conv2d(x, sep, groups=3), rtol=0, atol=1e-12)
    assert calls == ["valid"]
