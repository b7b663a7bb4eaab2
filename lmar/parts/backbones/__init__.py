"""Enhancement backbones E, one architecture per file. Every module here registers itself when the
backbone registry loads this package (lmar.core.registry): a new file needs no other edit."""

from lmar.parts.backbones.base import Backbone

__all__ = ["Backbone"]
