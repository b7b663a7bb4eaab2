"""What of a source file the code fingerprint hashes: its code, without comments, docstrings, blank
lines and trailing spaces; a string literal's own text (its spaces and blank lines too) is code."""

from __future__ import annotations

import io
import tokenize

import pytest

from lmar.core import fingerprint as fp
from lmar.core.errors import LmarError

SOURCE = '''#!/usr/bin/env python
"""A module docstring,
on two lines."""

import os  # a trailing comment


class C:
    """A class docstring with a non-ASCII character: \u00d7 2."""  # and a comment after it

    x = "#not a comment"

    def f(self):
        """Function docstring."""
        return """a string   \n
with a blank line and trailing spaces, kept"""


async def g():
    \'\'\'Async docstring.\'\'\'
    # a comment line, indented

    "a second string statement: no docstring"
    return 1
'''

# worked out by hand from SOURCE: each comment, docstring, blank line and trailing space gone, except
# within the string literal that f returns (its first line ends with three spaces, then a blank line)
EXPECTED = '''import os
class C:
    x = "#not a comment"
    def f(self):
        return """a string   \n
with a blank line and trailing spaces, kept"""
async def g():
    "a second string statement: no docstring"
    return 1'''


def test_comments_docstrings_blank_lines_and_trailing_spaces_are_cut():
    assert fp.code_text(SOURCE) == EXPECTED


@pytest.mark.parametrize("edit", [
    lambda s: s.replace("Function docstring.", "Function docstring, reworded\n        over two lines."),
    lambda s: s.replace("# a trailing comment", "# another comment"),
    lambda s: s.replace("import os", "import os  # now commented"),
    lambda s: s.replace("class C:\n", "class C:\n\n\n    # a new comment block\n\n"),
    lambda s: s.replace("\u00d7 2", "\u00d7 3, \u2212 4"),
    lambda s: s.replace('return 1\n', 'return 1   \n\n'),
], ids=["docstring", "comment", "new-trailing-comment", "comment-and-blank-lines", "non-ascii-docstring",
        "trailing-spaces"])
def test_what_a_module_says_of_itself_leaves_its_text_unchanged(edit):
    assert fp.code_text(edit(SOURCE)) == EXPECTED


@pytest.mark.parametrize("edit", [
    lambda s: s.replace("return 1", "return 2"),
    lambda s: s.replace('"#not a comment"', '"#not a comment either"'),
    lambda s: s.replace("a string   \n", "a string\n"),  # trailing spaces inside a string literal
    lambda s: s.replace("a string   \n\n", "a string   \n"),  # a blank line inside a string literal
    lambda s: s.replace("no docstring", "no docstring, edited"),  # a string statement that is no docstring
    lambda s: s.replace("    return 1", "    return  1"),  # spacing within a line
])
def test_a_code_edit_changes_the_text(edit):
    assert fp.code_text(edit(SOURCE)) != EXPECTED


def test_lines_are_python_lines():
    """A line separator or form feed inside a string or comment does not break a line for Python, nor
    for the cut (str.splitlines would: the comment's line would then be the string's); \\r\\n is one break."""
    source = 'x = "a\u2028b\x0cc"  # d\u2028e\r\n# f\r\ny = 1\r\n'
    assert fp.code_text(source) == 'x = "a\u2028b\x0cc"\ny = 1'


def test_a_file_is_read_in_the_encoding_it_declares(tmp_path):
    """A user's module (named by a config's ``module:Class``) in Latin-1 with a coding line is read as
    Python reads it; its docstring is cut like any other, and a file that is not text is named."""
    latin = tmp_path / "latin.py"
    latin.write_bytes('# -*- coding: latin-1 -*-\n"""Caf\u00e9."""\nX = "\u00e9"\n'.encode("latin-1"))
    assert fp._code_text_of(latin) == 'X = "\u00e9"'
    broken = tmp_path / "broken.py"
    broken.write_bytes(b"X = '\xff'\n")  # no coding line: UTF-8, which this is not
    with pytest.raises(LmarError, match="cannot read the source of .*broken.py"):
        fp._code_text_of(broken)


def test_a_source_that_does_not_parse_is_named():
    with pytest.raises(LmarError, match="cannot read the source of module lmar/broken.py"):
        fp.code_text("def f(:\n", "lmar/broken.py")


def _tokens_without_docstrings(source: str) -> list[str]:
    """An independent reading, by the tokenizer alone: the significant tokens of ``source`` (no
    comments, no line or indentation tokens), less each docstring, i.e. a string token that is a whole
    logical line at the start of the file or directly after a ``def``/``class`` header."""
    out: list[str] = []
    line: list[tokenize.TokenInfo] = []  # the current logical line's significant tokens
    after_header = True  # the file's start counts as a header
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in (tokenize.COMMENT, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
            continue
        if tok.type != tokenize.NEWLINE:
            line.append(tok)
            continue
        strings_only = all(t.type == tokenize.STRING for t in line)
        if not (after_header and strings_only and line):
            out += [t.string for t in line]
        first = next((t.string for t in line if t.string not in ("async", "@")), "")
        after_header = first in ("def", "class") and line[-1].string == ":"
        line = []
    return out + [t.string for t in line]


def test_the_projects_files_keep_their_code_by_an_independent_reading():
    """Every module of lmar/ and baselines/: its text's tokens are the source's tokens less comments and
    docstrings, as the tokenizer alone finds them (decorated and one-line defs included)."""
    files = sorted(fp.ROOT.glob("lmar/**/*.py")) + sorted(fp.ROOT.glob("baselines/*.py"))
    assert len(files) > 50
    for path in files:
        source = path.read_text(encoding="utf-8")
        text = fp.code_text(source, str(path))
        got = [t.string for t in tokenize.generate_tokens(io.StringIO(text + "\n").readline)
               if t.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                                 tokenize.ENDMARKER)]
        assert got == _tokens_without_docstrings(source), path


_DIGEST = """
import hashlib, sys
sys.path.insert(0, sys.argv[1])
from lmar.core.fingerprint import ROOT, code_text
for path in sorted(ROOT.glob("lmar/**/*.py")) + sorted(ROOT.glob("baselines/*.py")):
    text = code_text(path.read_text(encoding="utf-8"), str(path))
    print(path.relative_to(ROOT).as_posix(), hashlib.sha256(text.encode()).hexdigest())
"""


def test_another_python_cuts_the_same_text():
    """A project moved to a machine with another Python keeps its fingerprints: each other CPython 3.11
    to 3.13 found on PATH or under pyenv cuts the same text from every module (f-strings, which Python 3.12 tokenizes
    anew, included)."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    here = subprocess.run([sys.executable, "-c", _DIGEST, str(fp.ROOT)], capture_output=True, text=True,
                          timeout=300, check=True).stdout
    others = []
    pyenv = Path(os.environ.get("PYENV_ROOT", "~/.pyenv")).expanduser() / "versions"
    for minor in (11, 12, 13):
        if minor == sys.version_info.minor:
            continue
        found = [shutil.which(f"python3.{minor}"), *sorted(map(str, pyenv.glob(f"3.{minor}.*/bin/python3.{minor}")))]
        for exe in filter(None, found):
            run = subprocess.run([exe, "-c", _DIGEST, str(fp.ROOT)], check=False, capture_output=True, text=True, timeout=300)
            if run.returncode == 0:  # (a pyenv shim of a version not selected fails: not a Python)
                others.append(minor)
                assert run.stdout == here, f"python3.{minor} ({exe})"
                break
    if not others:
        pytest.skip("no other CPython 3.11 to 3.13 on PATH or under pyenv to compare with")
