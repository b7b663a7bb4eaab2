"""Enhancement backbones E, one architecture per file, registered in BACKBONES."""

from lmar.backbones import lmar_unet, unet_lite  # noqa: F401  (register "lmar_unet", "unet_lite")
from lmar.backbones.base import Backbone

__all__ = ["Backbone"]
