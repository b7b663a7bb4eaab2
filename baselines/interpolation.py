"""Fixed interpolation resamplers (no training): PyTorch's bicubic, bilinear, nearest and area, and
the LMAR authors' resize, lanczos3 (their default) and cubic (Keys, a = -0.5), which read zero
outside the image (:mod:`lmar.parts.authors_resize`)."""

from __future__ import annotations

from typing import Literal

from lmar.core.registry import RESAMPLERS
from lmar.parts.resampler_base import Resampler
from lmar.parts.resize import METHODS, check_method, resize


@RESAMPLERS.register("interpolation")
class Interpolation(Resampler):
    def __init__(self, method: Literal[METHODS] = "bicubic", antialias: bool = False):
        super().__init__()
        check_method(method, antialias)
        self.method, self.antialias = method, antialias

    def forward(self, x, size):
        return resize(x, size, self.method, self.antialias)

    def resizes(self, x, size):
        return [(tuple(x.shape[-2:]), tuple(size), self.method, self.antialias, 3, True)], 0


def _fixed(method: str) -> type:
    class Fixed(Interpolation):
        def __init__(self, antialias: bool = False):
            super().__init__(method, antialias)

    Fixed.__name__ = Fixed.__qualname__ = method.capitalize()
    return RESAMPLERS.register(method)(Fixed)


Bicubic = _fixed("bicubic")
Bilinear = _fixed("bilinear")
Nearest = _fixed("nearest")
Area = _fixed("area")
Lanczos3 = _fixed("lanczos3")
Cubic = _fixed("cubic")
