"""What the dataset registry expects of a dataset: ``prepare`` writes the harness's layout."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path


class Dataset:
    """A dataset part. ``prepare(out_dir, progress)`` writes (or links) the prepared dataset,
    ``<out_dir>/{train,test}/{input,gt}/<name>.<ext>``, all-or-nothing, with at least one pair
    in each split (:func:`lmar.data.validate.split_problems` checks a split). ``progress`` wraps
    an iterable (e.g. tqdm) when given.

    Class attributes: ``source`` (where a published dataset is fetched from; empty for a
    dataset built or found locally).
    """

    source: dict = {}

    def prepare(self, out_dir: str | Path, progress: Callable[[Iterable], Iterable] | None = None) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not implement prepare()")
