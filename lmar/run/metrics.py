"""Image-quality metrics through pyiqa (imported lazily: it is slow to import). Which pyiqa metric and
options each of our names stands for, and the weights it needs: the metric table,
:mod:`lmar.core.metric_table`.

LPIPS needs torchvision's ImageNet AlexNet and the LPIPS linear layers (lmar.parts.weights). When
they are absent it is reported missing, with a one-line reason, unless it is required.

LPIPS weights are never loaded by pyiqa or torchvision (both unpickle with ``weights_only=False``, so a
planted file would run code): pyiqa's network is built without loading anything, and the tensors are
loaded by ``lmar.parts.weights.load_state_dict`` (sha256 check, then ``weights_only=True``) and copied in.
A weight file whose sha256 does not match: an error for a required metric; otherwise the metric is
reported missing with the reason ("sha256 mismatch for <file>: ..."). The file is never unpickled.
Any other problem with a present weight file (refused by ``weights_only``, wrong keys or shapes) is an
error even for a metric that is not required: with a matching sha256 it cannot happen to a genuine file.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import types

import torch

from lmar.core.errors import LmarError
from lmar.core.metric_table import METRICS
from lmar.parts.weights import WeightHashError, load_state_dict, missing_reason, weight_path

log = logging.getLogger(__name__)

# pyiqa LPIPS options that load nothing: no linear layers from a file or URL, an AlexNet trunk without weights.
LPIPS_NO_LOADING = {"pretrained": False, "pnet_rand": True}

_PATCH_LOCK = threading.Lock()


@contextlib.contextmanager
def _pyiqa_lpips_without_loading():
    """While pyiqa builds its LPIPS network, its AlexNet comes without weights and it cannot load any file.

    pyiqa 0.1.16's ``alexnet`` wrapper ignores ``pnet_rand`` and always calls torchvision's
    ``models.alexnet(weights='IMAGENET1K_V1')`` (an unchecked, ``weights_only=False`` load of the cached
    file), so its module's ``models`` is swapped for one whose ``alexnet`` has no weights, and its
    ``load_pretrained_network`` for one that refuses. Anything else pyiqa would take from ``models``
    fails (AttributeError) rather than loading. Both are put back afterwards.
    """
    import torchvision
    from pyiqa.archs import lpips_arch

    if not hasattr(lpips_arch, "models") or not hasattr(lpips_arch, "load_pretrained_network"):
        raise LmarError("this pyiqa's LPIPS is not the one lmar.run.metrics knows how to build safely (pyiqa 0.1.16)")

    def alexnet(*_args, **_kwargs):
        return torchvision.models.alexnet(weights=None)

    def refuse(_net, model_path, *_args, **_kwargs):
        raise LmarError(f"internal error: pyiqa tried to load {model_path} itself; refused")

    with _PATCH_LOCK:
        saved = lpips_arch.models, lpips_arch.load_pretrained_network
        lpips_arch.models = types.SimpleNamespace(alexnet=alexnet)
        lpips_arch.load_pretrained_network = refuse
        try:
            yield
        finally:
            lpips_arch.models, lpips_arch.load_pretrained_network = saved


def _lpips_source(param_name: str) -> tuple[str, str]:
    """(weight name, key in its state dict) for a parameter of pyiqa's LPIPS network."""
    if param_name.startswith("net.slice"):  # net.sliceK.N.weight <- torchvision features.N.weight
        return "alexnet", "features." + param_name.split(".", 2)[2]
    if param_name.startswith("lin"):  # lin0.model.1.weight: the lpips package's own key
        return "lpips_alex", param_name
    raise LmarError(f"internal error: no weight file provides LPIPS parameter {param_name!r}")


def assign_lpips_weights(net: torch.nn.Module, state: dict[str, dict]) -> None:
    """Copy the safely loaded tensors into pyiqa's LPIPS network ``net``.

    ``state`` maps "alexnet" and "lpips_alex" to their state dicts. Every parameter must be assigned,
    with its shape, and every AlexNet ``features.*`` and every linear-layer tensor used; else LmarError
    naming the file.
    """
    used = {name: set() for name in state}
    with torch.no_grad():
        for pname, param in net.named_parameters():
            wname, key = _lpips_source(pname)
            tensor = state[wname].get(key)
            if tensor is None:
                raise LmarError(f"weights {weight_path(wname)} have no {key!r} (LPIPS {pname}); they are not {wname}")
            if tuple(tensor.shape) != tuple(param.shape):
                raise LmarError(
                    f"weights {weight_path(wname)}: {key!r} has shape {tuple(tensor.shape)}, "
                    f"LPIPS {pname} needs {tuple(param.shape)}"
                )
            param.copy_(tensor.to(dtype=param.dtype))
            used[wname].add(key)
    for wname, sd in state.items():
        unused = sorted(k for k in sd if k not in used[wname] and (wname != "alexnet" or k.startswith("features.")))
        if unused:
            raise LmarError(f"weights {weight_path(wname)} have tensors LPIPS does not use: {unused[:5]}")


class KeptReference:
    """A module's ``forward`` that keeps its outputs for one input, the first after :meth:`forget`,
    and returns them again for an input equal to it (``torch.equal``: the same shape, dtype, device
    and every value), instead of computing them anew.

    LPIPS runs its AlexNet trunk on both images of every pair it scores; an evaluation scores every
    target size of a test pair against the same ground truth, so the ground truth's features are
    the same each time (pyiqa runs the trunk with cuDNN's deterministic algorithms). pyiqa passes the
    reference first, which is the input kept; were that order to change, nothing equal would come
    again and every call would compute, as before: whether a call is served from the kept outputs
    depends only on its input's values. The outputs are returned as they are (LPIPS only reads them).
    """

    def __init__(self, forward):
        self.forward, self.kept, self.served = forward, None, 0

    def forget(self) -> None:
        self.kept = None

    def __call__(self, x: torch.Tensor):
        if self.kept is not None:
            kept_x, outputs = self.kept
            if kept_x.shape == x.shape and kept_x.dtype == x.dtype and kept_x.device == x.device and torch.equal(kept_x, x):
                self.served += 1
                return outputs
        outputs = self.forward(x)
        if self.kept is None:
            self.kept = (x.detach().clone(), outputs)  # a copy: a later in-place change cannot fake a match
        return outputs


def keep_lpips_reference(metric) -> KeptReference:
    """Make pyiqa's LPIPS ``metric`` keep its trunk's outputs for one reference image (:class:`KeptReference`);
    the parameters and the state dict are untouched (the trunk's ``forward`` is wrapped on the instance)."""
    trunk = metric.net.net
    trunk.forward = KeptReference(trunk.forward)
    return trunk.forward


def build_lpips(device: torch.device):
    """pyiqa's LPIPS (AlexNet, v0.1) with its weights loaded by lmar.parts.weights (hash-checked, weights_only)."""
    import pyiqa

    state = {name: load_state_dict(name) for name in ("lpips_alex", "alexnet")}
    with _pyiqa_lpips_without_loading():
        metric = pyiqa.create_metric("lpips", device=device, as_loss=False, **LPIPS_NO_LOADING)
    assign_lpips_weights(metric.net, state)
    return metric.eval()


# A window that is an outer product to this relative tolerance is filtered in two 1D passes. pyiqa's
# Gaussian is made in float64 and rounded to float32 (relative error up to 6e-8), so it is rank one
# to about that; the two passes then agree with the 2D filter to about 1e-9 (tests/run/test_metrics_fast.py).
SEPARABLE_RTOL = 1e-6


def _factors(weight: torch.Tensor):
    """(a, b) with outer(a, b) = weight[c, 0] for every channel c within SEPARABLE_RTOL, else None."""
    w = weight[:, 0]
    total = w.sum(dim=(1, 2), keepdim=True)
    if (total == 0).any():
        return None
    a, b = w.sum(dim=2) / total[..., 0].sqrt(), w.sum(dim=1) / total[..., 0].sqrt()
    err = (a[:, :, None] * b[:, None, :] - w).abs().max()
    return (a, b) if err <= SEPARABLE_RTOL * w.abs().max() else None


def _separable_filter2(original):
    """pyiqa's ``filter2`` ('valid' mode, one window per channel), as two 1D convolutions when the
    window is separable: PyTorch has no fast float64 2D convolution on a CPU, and SSIM runs five of
    them per image (2.4 s for a 360x540 image on the 2-core reference machine)."""

    def filter2(x: torch.Tensor, weight: torch.Tensor, shape: str = "same") -> torch.Tensor:
        ab = _factors(weight) if shape == "valid" and weight.shape[1] == 1 else None
        if ab is None:
            return original(x, weight, shape)
        a, b = (f.to(x) for f in ab)
        # each pass is a product with a banded matrix (BLAS), not a convolution
        return _band(a, x.shape[-2]) @ x @ _band(b, x.shape[-1]).transpose(-1, -2)

    return filter2


def _band(taps: torch.Tensor, n: int) -> torch.Tensor:
    """(C, n - k + 1, n): row i of channel c holds ``taps[c]`` (k of them) at columns i .. i + k - 1,
    so that ``band @ v`` is the 'valid' correlation of v with the taps along that axis."""
    c, k = taps.shape
    m = n - k + 1
    rows = torch.arange(m, device=taps.device)
    out = taps.new_zeros(c, m, n)
    for j in range(k):
        out[:, rows, rows + j] = taps[:, j : j + 1]
    return out[None]


@contextlib.contextmanager
def _ssim_in_two_passes():
    """While pyiqa computes SSIM, its window filter runs as two 1D passes (put back afterwards)."""
    from pyiqa.archs import ssim_arch

    original = ssim_arch.filter2
    with _PATCH_LOCK:
        ssim_arch.filter2 = _separable_filter2(original)
        try:
            yield
        finally:
            ssim_arch.filter2 = original


class Scorer:
    """Scores (3, H, W) outputs in [0, 1] against their ground truth with each named metric.

    ``missing`` maps each metric that could not be built to the reason; its column is NaN.
    """

    def __init__(self, names, device: torch.device, required=("psnr", "ssim")):
        unknown = sorted(set(names) - set(METRICS))
        if unknown:
            raise LmarError(f"unknown metric(s) {unknown} in evaluation.metrics; known: {sorted(METRICS)}")
        import pyiqa

        self.names, self.device, self.metrics, self.missing = list(names), device, {}, {}
        self._reference, self.kept = None, []  # the ground truth of the last call; LPIPS's kept features
        for n in names:
            reason = missing_reason(METRICS[n].weights)
            if not reason:
                try:
                    if n == "lpips":
                        self.metrics[n] = build_lpips(device)
                        self.kept.append(keep_lpips_reference(self.metrics[n]))
                    else:
                        self.metrics[n] = pyiqa.create_metric(METRICS[n].pyiqa, device=device, as_loss=False,
                                                              **METRICS[n].options)
                except WeightHashError as exc:
                    reason = str(exc)
            if reason:
                if n in required:
                    raise LmarError(f"metric {n!r} is required (evaluation.required_metrics) but {reason}")
                log.warning("metric %s missing: %s", n, reason)
                self.missing[n] = reason

    def __call__(self, out: torch.Tensor, gt: torch.Tensor) -> dict[str, float]:
        """Scores of one output, on the scorer's device. The last bit of a score follows the memory
        layout of ``out`` (PyTorch's reductions sum in memory order): PSNR 7.302136421 dB for a (3, H, W)
        contiguous output, 7.302135944 dB for the same values laid out (H, W, 3) as an image is read.

        Score every output of one ground truth with the same ``gt`` tensor, one after another: LPIPS
        then computes the ground truth's features once (:class:`KeptReference`); a new ``gt`` object
        starts afresh."""
        if gt is not self._reference:
            self._reference = gt
            for kept in self.kept:
                kept.forget()
        out, gt = out[None].to(self.device), gt[None].to(self.device)
        with torch.no_grad(), _ssim_in_two_passes():
            scores = {n: float(m(out, gt)) for n, m in self.metrics.items()}
        return {n: scores.get(n, float("nan")) for n in self.names}
