"""lmar-bench: model-aware resampling (LMAR, CVPR 2024) for UHD image enhancement.

The library is usable without Snakemake: every workflow rule calls one verb of
``python -m lmar`` (see :mod:`lmar.cli`).
"""

__version__ = "0.1.0"
