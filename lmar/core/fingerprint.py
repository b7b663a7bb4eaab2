"""The code a job runs, as a short hash: the source files of the modules it starts from and of every
project module they import, followed transitively.

A Snakemake job is a ``shell:`` call, so Snakemake's own code trigger sees only the command line;
the workflow puts :func:`fingerprint` of each job's modules among its params instead. Editing a
method's file then reruns exactly the jobs whose modules import it (directly or through other
project modules), and nothing else; a comment or a docstring is no edit (below).

What is followed: every ``import`` and ``from ... import`` statement of a module, at its top level
or inside a function (not under ``if TYPE_CHECKING``), into the project's own packages
(:data:`PACKAGES`), starting from the modules named, which may include a user's module named by a
config's ``module:Class``. Importing ``a.b`` also counts ``a/__init__.py``. Parts found by the
registries' discovery (every module of ``baselines/`` and ``lmar/parts/backbones/``) are not followed
from there: a job counts the parts it uses, named by their config entries. So the harness code
names no part module (a part declares what the harness needs of it, e.g. its resizes for the cost
table, as a method), and editing one baseline reruns its jobs alone.

What is hashed of a file (:func:`code_text`): its text without comments and docstrings (a module's,
a class's, a function's: the string that opens its body), without blank lines and trailing spaces.
So a change to what a module says of itself reruns nothing, and any other edit reruns its jobs, a
change of spacing within a line or of indentation too. The text is cut from the file as written
(where the comments and docstrings are comes from Python's tokenizer and parser, which place them
alike in CPython 3.11 to 3.13), so a project moved to another Python keeps its fingerprints.
No job reads a docstring: ``lmar list`` prints them, and it is no job.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import io
import tokenize
from functools import lru_cache
from pathlib import Path

from lmar.core.errors import LmarError
from lmar.core.params import import_names

ROOT = Path(__file__).resolve().parents[2]  # the project: lmar/core/fingerprint.py -> .
PACKAGES = ("lmar", "baselines")


def _project_file(name: str) -> Path | None:
    """The source file of project module ``name`` (a package's ``__init__.py``), else None."""
    if name.split(".")[0] not in PACKAGES:
        return None
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_file(name: str) -> Path | None:
    """A project module's file, or an importable user module's (found without importing it)."""
    found = _project_file(name)
    if found or name.split(".")[0] in PACKAGES:
        return found
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None  # a builtin, an extension module or a namespace: not source we can follow
    return Path(spec.origin)


def _import_statements(node: ast.AST):
    """The import statements among ``node``'s statements, at any depth of statements (function and class
    bodies, branches, handlers), except under ``if TYPE_CHECKING``. Only statements are followed: an
    import statement never sits inside an expression."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child
        elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
            continue
        elif isinstance(child, (ast.stmt, ast.excepthandler, ast.match_case)):
            yield from _import_statements(child)


def _imports(tree: ast.Module, package: str) -> set[str]:
    """Dotted names a module of ``package`` imports anywhere in its body (functions included),
    except under ``if TYPE_CHECKING``."""
    names: set[str] = set()
    for node in _import_statements(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        else:
            if node.level:  # relative: from the module's package, up level - 1
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)  # `from pkg import module`
    return names


@lru_cache(maxsize=None)
def _imports_of(path: Path, name: str) -> frozenset[str]:
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except (OSError, SyntaxError) as exc:
        raise LmarError(f"cannot read the source of module {name} ({path}): {exc}") from None
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    return frozenset(_imports(tree, package))


def module_files(modules) -> list[Path]:
    """Every source file the modules ``modules`` (dotted names) run at import, sorted."""
    seen: dict[str, Path] = {}
    todo = list(modules)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = _module_file(name)
        if path is None:
            if name in modules:
                raise LmarError(f"module {name!r} has no Python source to fingerprint")
            continue
        seen[name] = path
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # parent packages' __init__
        todo += [m for m in _imports_of(path, name) if m.split(".")[0] in PACKAGES]
    return sorted(set(seen.values()))


def _docstrings(tree: ast.Module):
    """The docstring expressions of a module: the string statement opening the module's, each class's
    and each function's body."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                yield first


def _char_col(line: str, byte_col: int) -> int:
    """The parser counts columns in UTF-8 bytes, the tokenizer in characters."""
    return len(line.encode()[:byte_col].decode())


def code_text(source: str, name: str = "<source>") -> str:
    """``source`` without its comments and docstrings, then without trailing spaces and blank lines
    (those inside a string literal kept: they are the string's). LmarError naming ``name`` where the
    source does not parse."""
    source = source.replace("\r\n", "\n").replace("\r", "\n")  # as Python reads a file
    try:
        tree = ast.parse(source, filename=name)
        comments = [(t.start, t.end) for t in tokenize.generate_tokens(io.StringIO(source).readline)
                    if t.type == tokenize.COMMENT]
    except (SyntaxError, tokenize.TokenError) as exc:
        raise LmarError(f"cannot read the source of module {name}: {exc}") from None
    lines = source.split("\n")  # Python's line breaks, no others (str.splitlines knows more)
    cut: dict[int, list[tuple[int, int]]] = {}  # line (1-based) -> [start, end) character ranges to drop
    for (r0, c0), (_, c1) in comments:  # a comment ends on its own line
        cut.setdefault(r0, []).append((c0, c1))
    docstrings = list(_docstrings(tree))
    for doc in docstrings:
        r0, r1 = doc.lineno, doc.end_lineno
        c0, c1 = _char_col(lines[r0 - 1], doc.col_offset), _char_col(lines[r1 - 1], doc.end_col_offset)
        for r in range(r0, r1 + 1):
            cut.setdefault(r, []).append((c0 if r == r0 else 0, c1 if r == r1 else len(lines[r - 1])))
    inside_strings = set()  # lines whose end lies inside a kept string literal: their spaces are its text
    docs = {id(d.value) for d in docstrings}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Constant, ast.JoinedStr)) and id(node) not in docs and node.end_lineno > node.lineno:
            inside_strings.update(range(node.lineno, node.end_lineno))
    kept = []
    for r, line in enumerate(lines, start=1):
        for c0, c1 in sorted(cut.get(r, ()), reverse=True):
            line = line[:c0] + line[c1:]
        if r not in inside_strings:
            line = line.rstrip()
            if not line:
                continue
        kept.append(line)
    return "\n".join(kept)


_code_text_cached = lru_cache(maxsize=4096)(code_text)  # by the source itself: an edited file is read anew


def _code_text_of(path: Path) -> str:
    try:
        with tokenize.open(path) as f:  # in the encoding its coding line declares, as Python reads it
            source = f.read()
    except (OSError, SyntaxError, UnicodeDecodeError) as exc:
        raise LmarError(f"cannot read the source of {path}: {exc}") from None
    return _code_text_cached(source, str(path))


def fingerprint(modules) -> str:
    """12 hex digits of sha256 over the files of :func:`module_files`: each one's path relative to the
    project (so that a copied project keeps its fingerprints) and its :func:`code_text`."""
    h = hashlib.sha256()
    for path in module_files(modules):
        rel = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name
        h.update(rel.encode() + b"\0" + _code_text_of(path).encode() + b"\0")
    return h.hexdigest()[:12]


def part_modules(cls: type, params: dict | None) -> list[str]:
    """The modules a part of class ``cls`` built with ``params`` runs: its class's, and those its
    params name as code (``ImportName``, e.g. the network a ``wrapped`` backbone wraps), which the
    class's own imports do not reach. The workflow's job params and a resume state's identity both
    fingerprint these, so an edit to a wrapped network reruns (and does not resume) its jobs."""
    named = import_names(cls, params or {}).values()
    return [cls.__module__, *(str(n).partition(":")[0] for n in named)]
