"""The rooms of lmar/ (lmar.ROOMS, lowest first): every import of every module, inside functions
too, goes to the module's own room or a lower one, and no modules import each other in a circle.
``baselines/`` is a part: it imports from ``lmar.core`` and ``lmar.parts`` only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from helpers import ROOT

import lmar

PACKAGES = ("lmar", "baselines")
BASELINES_ROOM = "parts"


def modules(root: Path) -> dict[str, Path]:
    """Every module of PACKAGES under ``root``, by dotted name (a package by its ``__init__.py``)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> list[tuple[str, int]]:
    """(module imported, line) for every import statement of module ``name``, anywhere in its body, into
    PACKAGES: ``from a import b`` counts as module ``a.b`` where that is a module, else as ``a``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in known else module for a in node.names]
        else:
            continue
        for target in targets:
            if target.split(".")[0] in PACKAGES:
                while target not in known and "." in target:  # `import a.b.c` of an attribute: its module
                    target = target.rpartition(".")[0]
                out.append((target, node.lineno))
    return out


def room(name: str, rooms=lmar.ROOMS) -> str | None:
    """The room of module ``name``; None for the package ``lmar`` itself (its version and ROOMS: below
    every room). A module of lmar/ outside every room is an error."""
    parts = name.split(".")
    if parts[0] == "baselines":
        return BASELINES_ROOM
    if name == "lmar":
        return None
    top = {"__main__": "cli"}.get(parts[1], parts[1])
    if top not in rooms:
        raise AssertionError(f"module {name} is in no room of lmar.ROOMS {rooms}: move it into one")
    return top


def upward(root: Path, rooms=lmar.ROOMS) -> list[str]:
    """Every import from a room to one above it, as 'module:line imports module (room < room)'."""
    known = modules(root)
    rank = {r: i for i, r in enumerate(rooms)}
    found = []
    for name, path in known.items():
        here = room(name, rooms)
        for target, line in imports(name, path, known):
            there = room(target, rooms)
            if there is not None and (here is None or rank[there] > rank[here]):
                found.append(f"{name}:{line} imports {target} (room {there} is above room {here})")
    return found


def circles(root: Path) -> list[list[str]]:
    """The import circles among the modules under ``root``: each strongly connected set of more than
    one module, or a module importing itself (Tarjan's algorithm)."""
    known = modules(root)
    graph = {name: sorted({t for t, _ in imports(name, path, known) if t in known}) for name, path in known.items()}
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1 or v in graph[v]:
                found.append(sorted(group))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_goes_up_a_room():
    assert upward(ROOT) == []


def test_no_import_circle():
    assert circles(ROOT) == []


def test_every_room_is_a_package():
    for name in lmar.ROOMS:
        assert (ROOT / "lmar" / name / "__init__.py").is_file() or (ROOT / "lmar" / f"{name}.py").is_file(), name


def test_readme_layout_lists_the_rooms_in_order():
    layout = (ROOT / "README.md").read_text().split("## Layout", 1)[1].split("\n## ", 1)[0]
    shown = [r for r in lmar.ROOMS if f"`{r}" in layout]
    assert shown == list(lmar.ROOMS), "the README's Layout section names the rooms of lmar.ROOMS"
    positions = [layout.index(f"`{r}") for r in lmar.ROOMS]
    assert positions == sorted(positions), "the README's Layout section lists the rooms lowest first"


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


ROOMY = {"lmar/__init__.py": "", "lmar/core/__init__.py": "", "lmar/run/__init__.py": "",
         "baselines/__init__.py": "", "lmar/parts/__init__.py": ""}


def test_checker_finds_an_upward_import_inside_a_function(tmp_path):
    root = _tree(tmp_path, {**ROOMY, "lmar/run/train.py": "X = 1\n",
                            "lmar/core/atomic.py": "def f():\n    from lmar.run.train import X\n"})
    assert upward(root) == ["lmar.core.atomic:2 imports lmar.run.train (room run is above room core)"]


def test_checker_finds_a_baseline_importing_above_parts(tmp_path):
    root = _tree(tmp_path, {**ROOMY, "lmar/run/train.py": "", "baselines/b.py": "from lmar.run import train\n"})
    assert upward(root) == ["baselines.b:1 imports lmar.run.train (room run is above room parts)"]


def test_checker_finds_a_circle_through_relative_and_lazy_imports(tmp_path):
    root = _tree(tmp_path, {**ROOMY, "lmar/run/a.py": "from . import b\n",
                            "lmar/run/b.py": "def f():\n    import lmar.run.c\n",
                            "lmar/run/c.py": "from lmar.run.a import thing\n"})
    assert circles(root) == [["lmar.run.a", "lmar.run.b", "lmar.run.c"]]
    assert upward(root) == []


def test_checker_refuses_a_module_outside_the_rooms(tmp_path):
    root = _tree(tmp_path, {**ROOMY, "lmar/loose.py": ""})
    with pytest.raises(AssertionError, match="lmar.loose is in no room"):
        upward(root)
