"""Names that become path components (experiments, parts, target sizes): one pattern, checked
where the config is validated (the schema holds these same patterns; a test compares them) and
again where a path is made from the name.

The patterns are matched whole: they end with ``(?![\\s\\S])`` (nothing follows), because a
JSON schema's ``$`` (and Python's ``re.search`` with ``$``) also matches before a final newline,
which let ``"cfgx\\n"`` through as a folder name.
"""

from __future__ import annotations

import re

from lmar.core.errors import LmarError

MAX_NAME = 64  # characters
_END = r"(?![\s\S])"  # the end of the string, in JSON schema (ECMA 262) and Python regexes alike
# starts with a letter or digit (never "." or ".."), then letters, digits, "_", "-" and "."; no "/"
NAME_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9_.-]{{0,{MAX_NAME - 1}}}{_END}"
# a part's name (a config entry of datasets, backbones, resamplers): the same without "."
PART_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9_-]{{0,{MAX_NAME - 1}}}{_END}"


def path_component(name, where: str, part: bool = False) -> str:
    """``name`` if it is safe as one path component (NAME_PATTERN, or PART_PATTERN for a part's
    name), else LmarError naming ``where``."""
    pattern = PART_PATTERN if part else NAME_PATTERN
    if not isinstance(name, str) or not re.search(pattern, name):
        chars = "letters, digits, '_' and '-'" if part else "letters, digits, '_', '-' and '.'"
        raise LmarError(
            f"{where} must be a name of at most {MAX_NAME} {chars} that starts with a letter or digit "
            f"(it becomes a folder name), got {name!r}"
        )
    return name
