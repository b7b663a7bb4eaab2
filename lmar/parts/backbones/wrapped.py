"""Any importable network as a backbone, by config alone: ``network: module:Class`` plus its
constructor arguments, and a named layer as the feature tap LMAR's losses compare.

```yaml
backbones:
  published:
    type: wrapped
    params: {network: mypkg.models:Net, kwargs: {width: 32}, tap: encoder.2, tap_stride: 4, multiple: 8}
```

The class must be a ``torch.nn.Module`` mapping (B, 3, H, W) to (B, 3, H, W). ``network`` follows
the trust rule of :mod:`lmar.core.registry` (named in a config: imported; named by a checkpoint: only
when trusted). The layer ``tap`` must exist (``named_modules``); this is checked when the part is
built, which the plan-time config check does.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from lmar.core.errors import LmarError
from lmar.core.params import ImportName, PositiveInt
from lmar.core.registry import BACKBONES, import_object
from lmar.parts.backbones.base import Backbone
from lmar.parts.resampler_base import check_output

OUT = "__output__"  # the network's output, kept beside the tapped feature


@BACKBONES.register("wrapped")
class Wrapped(Backbone):
    # this project's own U-Net as the wrapped network, tapped after its second downsampling
    example_params = {"network": "lmar.parts.backbones.unet_lite:UNetLite", "kwargs": {"width": 4}, "tap": "down.1",
                      "tap_stride": 4, "multiple": 4, "min_size": 8}

    def __init__(self, network: ImportName, tap: str, tap_stride: PositiveInt = 4, multiple: PositiveInt = 1,
                 min_size: PositiveInt = 1, kwargs: dict[str, Any] | None = None):
        """``network``: "module:Class"; ``kwargs``: its constructor arguments; ``tap``: the name of
        the layer whose output is the feature (as in ``named_modules``), ``tap_stride`` its
        downsampling factor; ``multiple``: input sizes the network needs (padded to it)."""
        super().__init__()
        cls = import_object(network, "network", "wrapped backbone")
        if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
            raise LmarError(f"network {network!r} is not a torch.nn.Module class")
        self.net = cls(**(kwargs or {}))
        layers = dict(self.net.named_modules())
        if tap not in layers or not tap:
            near = ", ".join(n for n in list(layers)[1:13])
            raise LmarError(f"network {network!r} has no layer {tap!r} to tap; its layers include: {near}")
        self.feature_tap, self.tap_stride, self.multiple, self.min_size = tap, tap_stride, multiple, min_size
        self._layer = layers[tap]

    def _encode(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        caught: list[torch.Tensor] = []
        handle = self._layer.register_forward_hook(lambda _m, _i, out: caught.append(out))
        try:
            out = self.net(x)
        finally:
            handle.remove()
        if not caught or not torch.is_tensor(caught[-1]):
            raise LmarError(f"the tapped layer {self.feature_tap!r} gave no tensor in the forward pass")
        return {self.feature_tap: caught[-1], OUT: out}

    def _decode(self, x: torch.Tensor, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        # before the base class crops to the unpadded size, which would hide an upscaled output
        check_output(type(self.net).__name__, "wrapped network", x, feats[OUT], tuple(x.shape))
        return feats[OUT]
