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
    # what plan_shape assumes of a dataset that says nothing more: UHD frames, a UHD dataset's size
    PLAN_SHAPE = (2160, 3840, 2000, 200)
    exact_shape = False  # True where plan_shape's (H, W) is every image's size (targets are checked at plan time)

    def plan_shape(self) -> tuple[int, int, int, int]:
        """``(H, W, n_train, n_test)``, an estimate known before the data exists, that job resources
        are sized from (:mod:`lmar.run.job_resources`)."""
        return self.PLAN_SHAPE

    def declared_test(self) -> tuple[str, list[str] | int] | None:
        """What the params say the test split holds: ``(params key, the images' sorted names)`` or
        ``(params key, the number of pairs)``, or None when they say nothing. The evaluation refuses a
        prepared folder whose test split differs (:func:`lmar.data.validate.check_test_split`)."""
        return None

    @classmethod
    def training_identity(cls, params: dict) -> dict:
        """The part of the bound ``params`` that decides what a backbone trains on (its training and
        held-out pairs): the zoo matches a backbone's dataset on it (:func:`lmar.run.zoo.find`), so that a
        dataset whose test split grows without touching its training split keeps the zoo's backbones.
        By default all of them."""
        return params

    def prepare(self, out_dir: str | Path, progress: Callable[[Iterable], Iterable] | None = None) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not implement prepare()")
