"""LMAR, the model-aware resampler (resampler.py), its fused Triton kernels (fused/), its losses and
the converters of the authors' released weights."""
