"""``python -m lmar <verb>`` (or ``lmar <verb>``): every Snakemake rule calls one verb.

Errors in the user's input print one line ``error: ...`` and exit with status 2.

The verbs are a table (:data:`VERBS`, in :mod:`lmar.cli.verb_table`): each is one small function,
registered with its name, its help and its flags by ``verb``, in the module of what it works on:

- :mod:`lmar.cli.data_verbs`     fetch, prepare and validate datasets; seed the metrics' weights;
- :mod:`lmar.cli.train_verbs`    pretrain a backbone, publish it to the zoo, train a resampler;
- :mod:`lmar.cli.results_verbs`  evaluate, gather the results store, record the run, tables, plots,
  figures;
- :mod:`lmar.cli.enhance_verbs`  enhance one's own images;
- :mod:`lmar.cli.measure_verbs`  benchmarks, the evaluation at scale, the fused kernel's launch sweep;
- :mod:`lmar.cli.parts_verbs`    the authors' released files, the registered parts.

:mod:`lmar.cli.parser` reads the table (``build_parser``, ``run``, ``main``). A verb's function imports
what it needs when it runs, so that ``lmar --help`` imports no torch (tested).
"""

from lmar.cli.parser import build_parser, main, run
from lmar.cli.verb_table import PRECISIONS, VERBS, Verb

__all__ = ["PRECISIONS", "VERBS", "Verb", "build_parser", "main", "run"]
