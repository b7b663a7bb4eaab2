"""A part's file registers itself: every module of a registry's home package is imported (a file
dropped into baselines/ or lmar/parts/backbones/ needs no other edit), and installed plugins are found
through the entry point group ``lmar.parts``."""

from __future__ import annotations

import sys
import textwrap

import pytest

from lmar.core.errors import LmarError
from lmar.core.registry import BACKBONES, ENTRY_POINTS, RESAMPLERS, Registry


@pytest.fixture
def on_path(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith("lmar_test_"):
            del sys.modules[name]


def test_every_module_in_the_home_package_registers_itself(on_path):
    pkg = on_path / "lmar_test_home"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        'from lmar.core.registry import Registry\nREG = Registry("widget", "lmar_test_home", "builtins:object")\n')
    for name in ("first", "second"):  # the package's __init__ imports neither
        (pkg / f"{name}.py").write_text(textwrap.dedent(f'''
            from lmar_test_home import REG

            @REG.register("{name}")
            class Part:
                pass
        '''))
    from lmar_test_home import REG

    assert REG.names() == ["first", "second"]


def test_the_builtin_parts_are_found_without_a_package_import_list():
    from pathlib import Path

    import baselines
    import lmar.parts.backbones

    for pkg, parts in ((baselines, ("interpolation", "full_resolution")), (lmar.parts.backbones, ("lmar_unet", "unet_lite"))):
        init = Path(pkg.__file__).read_text()
        assert not any(p in init for p in parts), init  # the __init__ files import no part module
    assert {"bicubic", "lanczos3", "full_resolution"} <= set(RESAMPLERS.names())
    assert {"lmar_unet", "unet_lite"} <= set(BACKBONES.names())


def write_plugin(root, value: str) -> None:
    """A fake installed distribution whose entry point (group lmar.parts) names ``value``."""
    info = root / "lmar_test_dist-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lmar-test-dist\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINTS}]\nmine = {value}\n")


def test_installed_plugins_register_through_their_entry_point(on_path):
    (on_path / "lmar_test_plugin.py").write_text(textwrap.dedent('''
        from lmar.core.registry import Registry
        REG = Registry("widget", "lmar_test_plugin", "builtins:object")

        @REG.register("from_plugin")
        class Part:
            pass
    '''))
    write_plugin(on_path, "lmar_test_plugin")
    reg = Registry("widget", "lmar.core.errors", "builtins:object")
    reg.names()  # loading the plugins imports lmar_test_plugin
    assert sys.modules["lmar_test_plugin"].REG.names() == ["from_plugin"]


def test_a_broken_plugin_names_itself(on_path):
    write_plugin(on_path, "lmar_test_missing_module")
    with pytest.raises(LmarError, match=r"plugin 'mine' \(lmar_test_missing_module, entry point group lmar.parts\)"):
        Registry("widget", "lmar.core.errors", "builtins:object").names()
