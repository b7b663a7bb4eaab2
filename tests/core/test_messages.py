"""Messages that say what would work: a target the backbone cannot take names a factor that it can
(or says that no factor can), a target larger than its input is refused (DEU only downsamples),
and a thread count below 1 is refused, not silently raised to 1."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from lmar.core.errors import LmarError
from lmar.core.runtime import setup
from lmar.run.pipeline import check_target


def backbone(min_size: int) -> SimpleNamespace:
    return SimpleNamespace(min_size=min_size)


def hint(message: str) -> float:
    return float(re.search(r"use a scale of at most ([0-9.]+)", message)[1])


@pytest.mark.parametrize("hw,least", [((24, 36), 8), ((100, 57), 16), ((2160, 3840), 64), ((9, 9), 8)])
def test_the_named_factor_works_and_a_bit_more_does_not(hw, least):
    with pytest.raises(LmarError) as err:
        check_target((1, 1), hw, backbone(least), "x")
    s = hint(str(err.value))
    assert s >= 1
    # the factor named fits; 0.01 more does not (sizes rounded to nearest, as target_size does; by hand)
    assert min(round(hw[0] / s), round(hw[1] / s)) >= least
    s_more = s + 0.01
    assert min(round(hw[0] / s_more), round(hw[1] / s_more)) < least
    check_target((round(hw[0] / s), round(hw[1] / s)), hw, backbone(least), "x")


def test_an_input_smaller_than_the_backbone_takes_no_factor():
    with pytest.raises(LmarError, match=r"the input 6x9 is smaller than the backbone's smallest input 8x8: it cannot "
                                        r"be enhanced by this backbone at any size") as err:
        check_target((3, 4), (6, 9), backbone(8), "scale 2 for a.png")
    assert "at most" not in str(err.value)


def test_a_fixed_size_names_a_size_not_a_scale():
    with pytest.raises(LmarError, match=r"use a target of at least 8x8$"):
        check_target((7, 30), (24, 36), backbone(8), "target small of a.png", by_scale=False)


@pytest.mark.parametrize("size", [(25, 36), (24, 37), (100000, 100000)])
def test_a_target_larger_than_its_input_is_refused(size):
    with pytest.raises(LmarError, match=rf"the target {size[0]}x{size[1]} is larger than the input 24x36; .*at most "
                                        r"24x36"):
        check_target(size, (24, 36), backbone(8), "target big of a.png")
    check_target((24, 36), (24, 36), backbone(8), "full size is fine")


@pytest.mark.parametrize("threads", [-3, 0, True, 1.5])
def test_threads_below_one_are_refused(threads):
    with pytest.raises(LmarError, match=re.escape(f"--threads must be a whole number of at least 1, got {threads!r}")):
        setup(threads=threads)


def test_more_threads_than_cores_use_the_cores():
    import os

    import torch

    setup(threads=10_000)
    assert torch.get_num_threads() == (os.cpu_count() or 1)
    setup(threads=1)
    assert torch.get_num_threads() == 1
