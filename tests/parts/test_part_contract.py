"""The contract every registered part keeps, checked for each part the registries list (built-in,
in baselines/ or lmar/parts/backbones/, or a plugin's): a new part file is tested by being registered.

Each part is built with the small params its class declares (``example_params``; none where its
constructor needs no argument) and must: return the shape asked (a resampler: the target size, unless
it declares ``is_identity``, the full-resolution case, which returns its input; a backbone: its
input's shape, any size) in the input's dtype, finite; tap its feature (a backbone); build on the meta
device at plan time, where the workflow sizes it (:func:`lmar.run.job_resources.part_memory`); and
come back from a checkpoint giving the same outputs. The checks a part is spared are listed in
SKIPS, with why."""

from __future__ import annotations

import pytest
import torch

from lmar.core.registry import BACKBONES, RESAMPLERS
from lmar.run import checkpoint
from lmar.run.job_resources import part_memory

CPU = torch.device("cpu")
X = (2, 3, 30, 44)  # a batch of two, an aspect that is not the target's
SIZES = [(15, 22), (9, 40)]  # smaller, and another aspect: a part must honour the size it is given
ODD = (1, 3, 23, 37)  # a backbone pads what its network needs and crops back

# (kind, part, check) -> why the check does not apply to it. A check that needs a skip says so here.
SKIPS: dict[tuple[str, str, str], str] = {}

PARTS = [("resampler", name) for name in RESAMPLERS.names()] + [("backbone", name) for name in BACKBONES.names()]


def _registry(kind: str):
    return RESAMPLERS if kind == "resampler" else BACKBONES


def _spec(kind: str, name: str) -> dict:
    return {"type": name, "params": dict(_registry(kind).get(name).example_params)}


def _skip(kind: str, name: str, check: str) -> None:
    if (kind, name, check) in SKIPS:
        pytest.skip(SKIPS[(kind, name, check)])


def _build(kind: str, name: str):
    torch.manual_seed(0)
    try:
        return _registry(kind).build(_spec(kind, name), f"{kind} {name} (its example_params)").eval()
    except Exception as exc:
        raise AssertionError(f"{kind} {name} does not build from its class's example_params "
                             f"{_spec(kind, name)['params']}: declare small params that build ({exc})") from exc


def _outputs(kind: str, net, x: torch.Tensor) -> list[torch.Tensor]:
    with torch.no_grad():
        if kind == "backbone":
            return [net(x)]
        sizes = [tuple(x.shape[-2:])] if net.is_identity else SIZES
        return [net(x, size) for size in sizes]


def test_the_skips_name_registered_parts_and_known_checks():
    checks = {"shape", "feature", "meta", "checkpoint"}
    assert all((kind, name) in PARTS and check in checks for kind, name, check in SKIPS), SKIPS


@pytest.mark.parametrize("name", RESAMPLERS.names())
def test_a_resampler_returns_the_size_asked_in_the_inputs_dtype(name):
    _skip("resampler", name, "shape")
    net = _build("resampler", name)
    x = torch.rand(*X)
    outs = _outputs("resampler", net, x)
    wanted = [tuple(x.shape[-2:])] if net.is_identity else SIZES
    for out, size in zip(outs, wanted, strict=True):
        assert tuple(out.shape) == (*X[:2], *size) and out.dtype == x.dtype and torch.isfinite(out).all()
    if net.is_identity:
        assert torch.equal(outs[0], x)


@pytest.mark.parametrize("name", BACKBONES.names())
def test_a_backbone_returns_its_inputs_shape_and_taps_its_feature(name):
    net = _build("backbone", name)
    x = torch.rand(*ODD)
    if ("backbone", name, "shape") not in SKIPS:
        (out,) = _outputs("backbone", net, x)
        assert out.shape == x.shape and out.dtype == x.dtype and torch.isfinite(out).all()
    _skip("backbone", name, "feature")
    with torch.no_grad():
        feature = net.feature(x)
    assert feature.ndim == 4 and feature.shape[0] == 1 and feature.shape[-1] <= -(-x.shape[-1] // net.tap_stride) + 1


@pytest.mark.parametrize(("kind", "name"), PARTS)
def test_a_part_builds_on_the_meta_device_at_plan_time(kind, name):
    _skip(kind, name, "meta")
    batch_hw, target = (1, *X[-2:]), (SIZES[0] if kind == "resampler" else None)
    got = part_memory(kind, _spec(kind, name), f"{kind} {name}", batch_hw=batch_hw, target=target)
    assert got is not None, f"{kind} {name} cannot be built on the meta device: the plan cannot size it"
    assert got.params >= 0 and got.planned


@pytest.mark.parametrize(("kind", "name"), PARTS)
def test_a_part_comes_back_from_its_checkpoint(kind, name, tmp_path):
    _skip(kind, name, "checkpoint")
    net = _build(kind, name)
    spec = _spec(kind, name)
    path = tmp_path / f"{kind}.pt"
    checkpoint.save(path, kind, spec, net, {"train": {}})
    torch.manual_seed(1)  # another initialisation: only the checkpoint can make the outputs agree
    if kind == "backbone":
        back, _ = checkpoint.load_backbone(path, CPU)
    else:
        back, _ = checkpoint.build_resampler(spec, path if net.trainable else None, CPU)
    x = torch.rand(*(ODD if kind == "backbone" else X))
    for a, b in zip(_outputs(kind, net, x), _outputs(kind, back, x), strict=True):
        assert torch.equal(a, b)
