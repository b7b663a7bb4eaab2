"""Baseline resamplers, one small file each. Every module here registers itself when the
resampler registry loads this package (lmar.core.registry): a new file needs no other edit."""
