"""Full-resolution enhancement, no resampling: the quality ceiling and the cost ceiling."""

from lmar.core.registry import RESAMPLERS
from lmar.parts.resampler_base import Resampler


@RESAMPLERS.register("full_resolution")
class FullResolution(Resampler):
    is_identity = True

    def forward(self, x, size=None):
        return x
