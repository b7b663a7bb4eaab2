"""Where a CLI verb's log lines go: standard error, one timestamped line each. It imports no torch, so
that a verb which needs no PyTorch (the report verbs) does not spend seconds loading it."""

from __future__ import annotations

import logging
import sys


def log_to_stderr() -> None:
    """INFO and above to standard error, unless the process has set up logging already."""
    if not logging.getLogger().handlers:
        logging.basicConfig(
            stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
