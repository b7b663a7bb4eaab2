"""LMAR's training losses (docs/method.md section 4); the ground truth is never used.

total = feature + edge + w(epoch) * resize, by default; in general (the recipe's keys, for ablations)
total = feature_weight * feature + edge_weight * edge + resize_scale * w(epoch) * resize
        + task_weight * task, where a term
whose weight is 0 is not computed at all (nor the backbone or VGG passes only it needs).
- feature: SmoothL1(up(phi(x_lr)), phi(x)), phi = the backbone's tapped encoder feature, up = the
           resampler's own resize R (lanczos3 in the method) to phi(x)'s size;
- edge:    mean(|up(phi(x_lr)) - phi(x)| * M), M = the Scharr mask of mean_c(x) (:func:`scharr_mask`)
           brought to phi's size by bicubic interpolation;
- resize:  L1 between VGG16 relu4_3 features of x_lr and x0 when the weights are present,
           else the weight-free fallback the config names ("l1": pixel L1);
- task:    L1(resize(backbone(x_lr), (H, W), task_upsampler), gt): not part of the method (weight 0 by
           default); a diagnostic that trains on the ground truth, as the learned resizer does.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from lmar.core.errors import LmarError
from lmar.parts.resize import resize as resize_image
from lmar.parts.weights import load_state_dict, missing_reason, weight_path

log = logging.getLogger(__name__)

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
FALLBACKS = ("l1",)


def scharr_mask(img: torch.Tensor) -> torch.Tensor:
    """The edge loss's weight M of a (B, 1, H, W) image in [0, 1], as the authors compute it: the two
    unnormalised 3x3 Scharr responses (weights 3, 10, 3; replicate padding), each clamped to [-1, 1]
    (a step of 1/32 or more saturates), then M = (|gx| + |gy|) / 2, in [0, 1]."""
    kx = torch.tensor([[3.0, 0.0, -3.0], [10.0, 0.0, -10.0], [3.0, 0.0, -3.0]], dtype=img.dtype, device=img.device)
    k = torch.stack([kx, kx.t()])[:, None]
    g = F.conv2d(F.pad(img, (1, 1, 1, 1), mode="replicate"), k).clamp(-1.0, 1.0)
    return g.abs().mean(dim=1, keepdim=True)


class VGGRelu43(nn.Module):
    """VGG16 features up to relu4_3, frozen, ImageNet-normalised input."""

    def __init__(self, home: Path | None = None):
        """Weights from ``<home or TORCH_HOME>/hub/checkpoints/vgg16-397923af.pth``, hash-checked and
        loaded as tensors only (:func:`lmar.parts.weights.load_state_dict`)."""
        super().__init__()
        from torchvision.models import vgg16

        net = vgg16(weights=None)
        state = load_state_dict("vgg16", home)
        try:
            net.load_state_dict(state)
        except RuntimeError as exc:  # a foreign state dict
            first = (str(exc).strip().splitlines() or [""])[0]
            raise LmarError(f"VGG16 weights {weight_path('vgg16', home)} do not fit VGG16 ({first}). "
                            "Delete the file or replace it.") from None
        self.features = net.features[:23].eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, x):
        return self.features((x - self.mean) / self.std)


def resize_loss_choice(wanted: str, fallback: str) -> tuple[str, str]:
    """(loss actually used, reason) for a config asking ``wanted`` with ``fallback``."""
    if fallback not in FALLBACKS:
        raise LmarError(f"resize_loss_fallback must be one of {FALLBACKS}, got {fallback!r}")
    if wanted in FALLBACKS:
        return wanted, "configured"
    if wanted != "vgg16":
        raise LmarError(f"resize_loss must be 'vgg16' or one of {FALLBACKS}, got {wanted!r}")
    reason = missing_reason(["vgg16"])
    return ("vgg16", f"weights {weight_path('vgg16')}") if not reason else (fallback, reason)


class LMARLoss:
    """``(total, parts)`` for one batch; ``parts`` holds the value of each term computed (unweighted),
    so a term switched off (weight 0) is absent from it."""

    def __init__(self, backbone: nn.Module, resampler: nn.Module, spec: dict, device: torch.device):
        self.backbone, self.resampler = backbone, resampler
        self.weights = tuple(spec.get("resize_weights", (1.0, 1e-3)))
        self.feature_weight = float(spec.get("feature_weight", 1.0))
        self.edge_weight = float(spec.get("edge_weight", 1.0))
        self.resize_scale = float(spec.get("resize_scale", 1.0))
        self.task_weight = float(spec.get("task_weight", 0.0))
        self.task_upsampler = spec.get("task_upsampler", "lanczos3")
        if self.resize_scale == 0 or not any(self.weights):
            used, reason = "none", "the resize loss's weight is 0 (resize_scale * resize_weights)"
        else:
            used, reason = resize_loss_choice(spec.get("resize_loss", "vgg16"), spec.get("resize_loss_fallback", "l1"))
            if used != spec.get("resize_loss", "vgg16"):
                log.warning("resize loss: using fallback %r because %s", used, reason)
        self.vgg = VGGRelu43().to(device) if used == "vgg16" else None
        self.info = {"resize_loss": used, "resize_loss_reason": reason, "feature_tap": backbone.feature_tap,
                     **({"task_loss": "l1", "task_upsampler": self.task_upsampler} if self.task_weight else {})}

    def resize_weight(self, epoch: int) -> float:
        """``resize_scale * w(epoch)``; exactly 0 when either factor is."""
        w = self.weights[0] if epoch == 0 else self.weights[1]
        return 0.0 if self.resize_scale == 0 or w == 0 else self.resize_scale * w

    def __call__(self, x, gt, size, epoch):
        x_lr = self.resampler(x, size)
        w = self.resize_weight(epoch)
        terms: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # name: (weighted, as computed)
        if self.feature_weight or self.edge_weight:
            with torch.no_grad():
                f_full = self.backbone.feature(x)
                if self.edge_weight:
                    edge_map = scharr_mask(x.mean(dim=1, keepdim=True))
                    edge_map = F.interpolate(edge_map, size=f_full.shape[-2:], mode="bicubic", align_corners=False)
            f_low = self.resampler.R(self.backbone.feature(x_lr), tuple(f_full.shape[-2:]))
            if self.feature_weight:
                feature = F.smooth_l1_loss(f_low, f_full)
                terms["feature"] = (feature if self.feature_weight == 1 else self.feature_weight * feature, feature)
            if self.edge_weight:
                edge = ((f_low - f_full).abs() * edge_map).mean()
                terms["edge"] = (edge if self.edge_weight == 1 else self.edge_weight * edge, edge)
        if w:
            x0 = self.resampler.R(x, size)
            if self.vgg is not None:
                resize = F.l1_loss(self.vgg(x_lr), self.vgg(x0))
            else:
                resize = F.l1_loss(x_lr, x0)
            terms["resize"] = (w * resize, resize)
        if self.task_weight:
            out = resize_image(self.backbone(x_lr), tuple(gt.shape[-2:]), self.task_upsampler)
            task = F.l1_loss(out.float(), gt.float())
            terms["task"] = (task if self.task_weight == 1 else self.task_weight * task, task)
        if not terms:
            raise LmarError(f"lmar loss: every loss weight is 0 in epoch {epoch} (feature_weight, edge_weight, "
                            "resize_scale * resize_weights, task_weight): nothing to train on")
        weighted = [t for t, _ in terms.values()]  # in the order feature, edge, resize, task: the method's sum
        total = weighted[0]
        for t in weighted[1:]:
            total = total + t
        return total, {name: term.item() for name, (_, term) in terms.items()}
