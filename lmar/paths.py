"""Names that become path components (experiments, parts, target sizes): one pattern, checked
where the config is validated (the schema) and again where a path is made from the name."""

from __future__ import annotations

import re

from lmar.errors import LmarError

# starts with a letter or digit (never "." or ".."), then letters, digits, "_", "-" and "."; no "/"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


def path_component(name, where: str) -> str:
    """``name`` if it is safe as one path component (NAME_PATTERN), else LmarError naming ``where``."""
    if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name) or len(name) > 128:
        raise LmarError(
            f"{where} must be a name of letters, digits, '_', '-' and '.' that starts with a letter or digit "
            f"(it becomes a folder name), got {name!r}"
        )
    return name
