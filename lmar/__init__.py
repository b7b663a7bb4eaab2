"""lmar-bench: model-aware resampling (LMAR, CVPR 2024) for UHD image enhancement.

The library is usable without Snakemake: every workflow rule calls one verb of
``python -m lmar`` (see :mod:`lmar.cli`).

The library lives in rooms, each a package; a module imports only from its own room and the rooms
below it (:data:`ROOMS`, lowest first; tests/project/test_rooms.py checks every import, inside functions
too, and that no modules import each other in a circle):

- ``core/``    errors, atomic writes, paths, params, registries, runtime, log set-up, provenance, fingerprints,
  file hashes, the metric table;
- ``data/``    datasets, downloads, extraction, images, loaders;
- ``parts/``   the Resampler and Backbone bases, ``backbones/``, ``lmar/`` (the LMAR resampler, its
  per-pixel inputs, its bands' memory planning, its fused kernels, losses, released-weights converters), resize operators, weights, cost;
- ``run/``     pipeline (DEU), train, resume, evaluate, metrics, enhance, targets, checkpoints, zoo,
  config checks and job resources (what the Snakefile plans with);
- ``report/``  the results store (the hub), table blocks, tables, stats, verdicts, claims, plots,
  figures, left-out notes;
- ``bench/``   the benchmark suite, the evaluation at scale, the fused kernel's launch sweep;
- ``cli/``     the verbs, a module per kind of work, and the parser.

``baselines/`` (one file per baseline resampler) is a part: it imports from ``core`` and ``parts`` only.
``lmar/zoo/`` holds the backbone zoo's files (data, read by :mod:`lmar.run.zoo`).
"""

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

__version__ = "0.1.0"

ROOMS = ("core", "data", "parts", "run", "report", "bench", "cli")
"""The rooms of the library, lowest first: a module may import from its own room and those before it."""

MOVED = {
    "lmar.errors": "lmar.core.errors",
    "lmar.params": "lmar.core.params",
    "lmar.registry": "lmar.core.registry",
    "lmar.resampler_base": "lmar.parts.resampler_base",
    "lmar.backbones": "lmar.parts.backbones",
    "lmar.backbones.base": "lmar.parts.backbones.base",
    "lmar.interpolation": "lmar.parts.resize",
}
"""The deprecation list: modules a part written outside the project imported before the library moved
into rooms, by old name -> new name. Importing an old name still works, as the very same module, with
a FutureWarning naming the new one; no other old name resolves."""


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers for the names of :data:`MOVED` only (first on ``sys.meta_path``, so that an old name is
    never loaded a second time from the new file, which would make a second ``Resampler`` class)."""

    def find_spec(self, name, path=None, target=None):
        return importlib.util.spec_from_loader(name, self) if name in MOVED else None

    def create_module(self, spec):
        new = MOVED[spec.name]
        warnings.warn(f"{spec.name} moved to {new}: import it from there (the old name will be removed)",
                      FutureWarning, stacklevel=2)
        return importlib.import_module(new)

    def exec_module(self, module):
        pass  # the module is the new one, already run


if not any(isinstance(f, _MovedModules) for f in sys.meta_path):
    sys.meta_path.insert(0, _MovedModules())
