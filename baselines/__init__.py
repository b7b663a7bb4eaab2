"""Baseline resamplers, one small file each. Importing this package registers them."""

from baselines import full_resolution, interpolation  # noqa: F401
