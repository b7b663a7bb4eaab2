"""The backbones ``nafnet`` and ``restormer_lite``: sizes, taps, training, parameter counts, the
plan-time check of their parameters, and their use as LMAR's frozen backbone."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lmar.core.errors import LmarError
from lmar.core.registry import BACKBONES
from lmar.parts.backbones.nafnet import ChannelLayerNorm, NAFNet
from lmar.parts.backbones.restormer import RestormerLite
from lmar.parts.lmar.resampler import LMAR
from lmar.run.config import check_parts

CPU = torch.device("cpu")
NAMES = {"nafnet": NAFNet, "restormer_lite": RestormerLite}
SMALL = {"nafnet": {"width": 8}, "restormer_lite": {"dim": 8, "heads": [1, 2, 2]}}  # quick to run
TAP_CHANNELS = {"nafnet": 32, "restormer_lite": 32}  # 4 * width / 4 * dim at SMALL


def build(name, params=None):
    torch.manual_seed(0)
    return BACKBONES.build({"type": name, "params": SMALL[name] if params is None else params})


@pytest.mark.parametrize("name", NAMES)
def test_built_by_registered_name(name):
    assert isinstance(build(name), NAMES[name])
    assert isinstance(BACKBONES.build({"type": name}), NAMES[name])  # defaults


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("hw", [(37, 51), (64, 64), (5, 3), (1, 1)])
def test_output_has_input_size(name, hw):
    net = build(name).eval()
    x = torch.rand(2, 3, *hw)
    with torch.no_grad():
        y = net(x)
    assert tuple(y.shape) == (2, 3, *hw)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", NAMES)
def test_feature_tap_has_documented_channels_at_quarter_resolution(name):
    net = build(name).eval()
    assert net.feature_tap == "enc2" and net.tap_stride == 4 and net.tap_channels == TAP_CHANNELS[name]
    with torch.no_grad():
        assert tuple(net.feature(torch.rand(2, 3, 64, 64)).shape) == (2, TAP_CHANNELS[name], 16, 16)
        f = net.feature(torch.rand(1, 3, 37, 51))
    assert f.shape[1] == TAP_CHANNELS[name]
    for n, m in zip((37, 51), f.shape[-2:]):
        assert n // 4 <= m <= -(-n // 4)


@pytest.mark.parametrize("name", NAMES)
def test_default_tap_has_64_channels(name):
    net = BACKBONES.build({"type": name}).eval()
    with torch.no_grad():
        assert tuple(net.feature(torch.rand(1, 3, 32, 32)).shape) == (1, 64, 8, 8)


@pytest.mark.parametrize("name", NAMES)
def test_training_steps_reduce_l1_loss(name):
    net = build(name).train()
    torch.manual_seed(1)
    x = torch.rand(2, 3, 16, 16)
    target = (0.8 * x + 0.1).clamp(0, 1)  # a simple enhancement to learn
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = F.l1_loss(net(x), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with torch.no_grad():
        after = F.l1_loss(net(x), target).item()
    assert after < losses[0], losses


def test_channel_layer_norm_normalizes_each_pixel_over_its_channels():
    torch.manual_seed(3)
    norm = ChannelLayerNorm(6, eps=1e-5)
    with torch.no_grad():
        norm.weight.normal_()
        norm.bias.normal_()
    x = torch.randn(2, 6, 5, 7) * 3 + 1
    mean = x.mean(dim=1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=1, keepdim=True)
    expected = (x - mean) / torch.sqrt(var + 1e-5) * norm.weight.view(1, 6, 1, 1) + norm.bias.view(1, 6, 1, 1)
    torch.testing.assert_close(norm(x), expected, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- parameter counts, layer by layer


def conv(cin, cout, k, bias=True, groups=1):
    return cout * (cin // groups) * k * k + (cout if bias else 0)


def layer_norm(c):
    return 2 * c  # scale and shift per channel


def naf_block(c):
    return (
        layer_norm(c)
        + conv(c, 2 * c, 1)  # expand
        + conv(2 * c, 2 * c, 3, groups=2 * c)  # depthwise
        + conv(c, c, 1)  # simplified channel attention
        + conv(c, c, 1)  # out of the spatial half
        + layer_norm(c)
        + conv(c, 2 * c, 1)  # channel mixing in (then SimpleGate halves it)
        + conv(c, c, 1)  # channel mixing out
        + 2 * c  # beta, gamma
    )


def nafnet_count(w, enc, middle, dec):
    chans = [w * 2**i for i in range(len(enc) + 1)]
    n = conv(3, w, 3) + conv(w, 3, 3)  # intro, ending
    n += sum(k * naf_block(chans[i]) for i, k in enumerate(enc))
    n += sum(conv(chans[i], chans[i + 1], 2) for i in range(len(enc)))  # 2x2 stride-2 downsampling
    n += middle * naf_block(chans[-1])
    n += sum(conv(chans[i + 1], 2 * chans[i + 1], 1, bias=False) for i in range(len(enc)))  # before pixel shuffle
    n += sum(k * naf_block(chans[i]) for i, k in enumerate(dec))
    return n


def transformer_block(c, heads, expansion):
    hidden = int(c * expansion)
    attention = heads + conv(c, 3 * c, 1, False) + conv(3 * c, 3 * c, 3, False, 3 * c) + conv(c, c, 1, False)
    ffn = conv(c, 2 * hidden, 1, False) + conv(2 * hidden, 2 * hidden, 3, False, 2 * hidden) + conv(hidden, c, 1, False)
    return layer_norm(c) + attention + layer_norm(c) + ffn


def restormer_count(d, blocks, heads, expansion, refine):
    chans = [d * 2**i for i in range(len(blocks))]
    n = conv(3, d, 3, False) + conv(d, 3, 3, False)  # embedding, output
    n += sum(k * transformer_block(c, h, expansion) for c, h, k in zip(chans, heads, blocks))  # encoder
    n += sum(conv(c, c // 2, 3, False) for c in chans[:-1])  # before pixel unshuffle
    n += sum(conv(c, 2 * c, 3, False) for c in chans[1:])  # before pixel shuffle
    n += sum(conv(2 * c, c, 1, False) for c in chans[:-1])  # reduction after concatenation
    n += sum(k * transformer_block(c, h, expansion) for c, h, k in zip(chans[:-1], heads[:-1], blocks[:-1]))
    n += refine * transformer_block(d, heads[0], expansion)
    return n


def test_nafnet_parameter_count_at_defaults():
    assert nafnet_count(16, [1, 1, 2], 1, [1, 1, 1]) == 319_475  # the figure in the module doc
    assert sum(p.numel() for p in NAFNet().parameters()) == 319_475


def test_restormer_parameter_count_at_defaults():
    assert restormer_count(16, [1, 1, 2], [1, 2, 4], 2.0, 1) == 227_519  # the figure in the module doc
    assert sum(p.numel() for p in RestormerLite().parameters()) == 227_519


def test_parameter_counts_follow_the_formulas_elsewhere():
    net = NAFNet(width=8, enc_blocks=[2, 0, 1, 1], middle_blocks=2, dec_blocks=[1, 2, 0, 1])
    assert sum(p.numel() for p in net.parameters()) == nafnet_count(8, [2, 0, 1, 1], 2, [1, 2, 0, 1])
    net = RestormerLite(dim=12, blocks=[1, 2, 1, 1], heads=[2, 3, 4, 6], ffn_expansion=2.66, refine_blocks=2)
    assert sum(p.numel() for p in net.parameters()) == restormer_count(12, [1, 2, 1, 1], [2, 3, 4, 6], 2.66, 2)


def test_block_formulas_of_the_docstrings():
    for c in (8, 16, 64):
        assert naf_block(c) == 7 * c * c + 33 * c
        assert transformer_block(c, 4, 2.0) == 10 * c * c + 67 * c + 4


def test_more_levels_change_the_padding_multiple():
    assert NAFNet().multiple == 8 and NAFNet(enc_blocks=[1, 1, 1, 1]).multiple == 16
    assert RestormerLite().multiple == 4
    assert RestormerLite(blocks=[1, 1, 1, 1], heads=[1, 1, 1, 1]).multiple == 8
    net = NAFNet(width=4, enc_blocks=[1, 1, 1, 1]).eval()
    with torch.no_grad():
        assert tuple(net(torch.rand(1, 3, 19, 23)).shape) == (1, 3, 19, 23)


# ---------------------------------------------------------------- plan-time check of the parameters


def config_with(name, params):
    return {
        "datasets": {"d": {"type": "mini"}},
        "backbones": {"b": {"type": name, "params": params}},
        "resamplers": {"r": {"type": "bicubic"}},
    }


@pytest.mark.parametrize(
    ("name", "params", "key"),
    [
        ("nafnet", {"width": -1}, "backbones.b.params.width"),
        ("nafnet", {"width": 2.5}, "backbones.b.params.width"),
        ("nafnet", {"enc_blocks": [1, 1]}, "backbones.b.params.enc_blocks"),
        ("nafnet", {"enc_blocks": [1, -1, 1]}, "backbones.b.params.enc_blocks"),
        ("nafnet", {"middle_blocks": -1}, "backbones.b.params.middle_blocks"),
        ("nafnet", {"dec_blocks": [1, 1]}, "backbones.b.params"),  # a relation: checked by construction
        ("nafnet", {"depth": 3}, "backbones.b.params"),
        ("restormer_lite", {"dim": 0}, "backbones.b.params.dim"),
        ("restormer_lite", {"heads": [1, 0, 1]}, "backbones.b.params.heads"),
        ("restormer_lite", {"ffn_expansion": 0}, "backbones.b.params.ffn_expansion"),
        ("restormer_lite", {"blocks": [1, 1]}, "backbones.b.params.blocks"),
        ("restormer_lite", {"refine_blocks": -2}, "backbones.b.params.refine_blocks"),
        ("restormer_lite", {"heads": [1, 2]}, "backbones.b.params"),
        ("restormer_lite", {"heads": [1, 3, 4]}, "backbones.b.params"),  # 3 does not divide 32
    ],
)
def test_bad_params_are_refused_by_the_config_check(name, params, key):
    with pytest.raises(LmarError, match=key.replace(".", r"\.")):
        check_parts(config_with(name, params))


@pytest.mark.parametrize("name", NAMES)
def test_good_params_pass_the_config_check(name):
    check_parts(config_with(name, SMALL[name]))
    check_parts(config_with(name, {}))


# ---------------------------------------------------------------- LMAR's frozen backbone


@pytest.mark.parametrize("name", NAMES)
def test_frozen_backbone_of_an_lmar_training_step(name):
    backbone = build(name).eval().requires_grad_(False)
    torch.manual_seed(2)
    net = LMAR(hidden=16, depth=2)
    loss, info = net.make_loss(backbone, {"resize_loss": "l1"}, CPU)
    assert info["feature_tap"] == "enc2"
    x = torch.rand(1, 3, 32, 32)
    total, parts = loss(x, None, (16, 16), 0)
    total.backward()
    assert torch.isfinite(total) and set(parts) == {"feature", "edge", "resize"}
    for pname, p in backbone.named_parameters():
        assert p.grad is None, pname
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0
    assert net.mlp[0].weight.grad.abs().sum() > 0
