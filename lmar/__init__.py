"""lmar-bench: model-aware resampling (LMAR, CVPR 2024) for UHD image enhancement.

The library is usable without Snakemake: every workflow rule calls one verb of
``python -m lmar`` (see :mod:`lmar.cli`).

The library lives in rooms, each a package; a module imports only from its own room and the rooms
below it (:data:`ROOMS`, lowest first; tests/project/test_rooms.py checks every import, inside functions
too, and that no modules import each other in a circle):

- ``core/``    errors, atomic writes, paths, params, registries, runtime, provenance, fingerprints,
  file hashes, the metric table;
- ``data/``    datasets, downloads, extraction, images, loaders;
- ``parts/``   the Resampler and Backbone bases, ``backbones/``, ``lmar/`` (the LMAR resampler, its
  fused kernels, losses, released-weights converters), resize operators, weights, cost;
- ``run/``     pipeline (DEU), train, resume, evaluate, metrics, enhance, targets, checkpoints, zoo,
  config checks and job resources (what the Snakefile plans with);
- ``report/``  the results store (the hub), table blocks, tables, stats, verdicts, claims, plots,
  figures, left-out notes;
- ``bench/``   the benchmark suite, the evaluation at scale, the fused kernel's launch sweep;
- ``cli.py``   the verbs.

``baselines/`` (one file per baseline resampler) is a part: it imports from ``core`` and ``parts`` only.
``lmar/zoo/`` holds the backbone zoo's files (data, read by :mod:`lmar.run.zoo`).
"""

__version__ = "0.1.0"

ROOMS = ("core", "data", "parts", "run", "report", "bench", "cli")
"""The rooms of the library, lowest first: a module may import from its own room and those before it."""
