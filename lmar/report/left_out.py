"""What a run left out of its tables, and the exit status that says so.

Results files that could not be read, lack columns or hold text in a column of numbers, a configured
metric missing for some rows, an infinite score (:func:`lmar.report.blocks.finite_scores`),
results of different configs in one folder, a gain pair naming a resampler that did not run, rows
of one table scored on different test images or seeds (the table is reduced to those they share:
:func:`lmar.report.blocks.common_rows`): none of these stops the tables, the plots or the report. Each is one note: a warning line in the log, a
line in the table, and a line in ``left_out.md`` (in the report). ``python -m lmar left-out FILE``
prints the notes of such files and exits with :data:`LEFT_OUT` when there is any (``make run``
ends with it), 0 when nothing was left out.
"""

from __future__ import annotations

from pathlib import Path

from lmar.core.atomic import atomic_path
from lmar.core.errors import LmarError

LEFT_OUT = 3  # exit status: every output was written, and something was left out of it
NOTHING = "Nothing was left out."


def write(path: Path, notes: list[str]) -> None:
    """The notes as a Markdown list (or the line that says there are none), written whole or not at all."""
    text = "# Left out of the tables\n\n" + ("".join(f"- {n}\n" for n in notes) if notes else NOTHING + "\n")
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def read(path: Path) -> list[str]:
    """The notes of a file :func:`write` wrote."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise LmarError(f"cannot read {path} ({exc.strerror}); rerun the table step that writes it") from None
    if not text.startswith("# Left out"):
        raise LmarError(f"{path} is not a left-out record (its first line should be '# Left out ...')")
    return [line[2:] for line in text.splitlines() if line.startswith("- ")]


def check(paths) -> tuple[int, list[str]]:
    """(exit status, every note) of the records ``paths``."""
    notes = [n for p in paths for n in read(p)]
    return (LEFT_OUT if notes else 0), notes
