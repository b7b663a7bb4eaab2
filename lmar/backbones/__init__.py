"""Enhancement backbones E, one architecture per file, registered in BACKBONES."""

from lmar.backbones import unet  # noqa: F401  (registers "lmar_unet")
from lmar.backbones.base import Backbone

__all__ = ["Backbone"]
