"""Enhancement backbones E, one architecture per file. Every module here registers itself when the
backbone registry loads this package (lmar.registry): a new file needs no other edit."""

from lmar.backbones.base import Backbone

__all__ = ["Backbone"]
