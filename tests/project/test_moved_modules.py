"""The deprecation list (``lmar.MOVED``): a part written against the library before it moved into
rooms still imports, as the very same modules, with a FutureWarning naming the new place; no other old
name resolves. Each case runs in a fresh interpreter, so that no earlier import hides a warning."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers import ROOT

# the README's own example of a resampler written outside the project, as the README printed it
# before the move (commit 73d02ec, "Add a method with one config entry")
OLD_README_PART = '''
import torch.nn.functional as F

from lmar.params import NonNegativeFloat
from lmar.registry import RESAMPLERS
from lmar.resampler_base import Resampler


@RESAMPLERS.register("my_resizer")  # the registered name (way b); way a needs no name
class MyResizer(Resampler):
    def __init__(self, amount: NonNegativeFloat = 0.5):
        super().__init__()
        self.amount = amount

    def forward(self, x, size):
        y = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
        blur = F.avg_pool2d(F.pad(y, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
        return (y + self.amount * (y - blur)).clamp(0, 1)
'''


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-W", "always::FutureWarning", "-c", code], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


def test_a_part_written_against_the_old_names_registers_in_the_same_registry_with_warnings():
    code = OLD_README_PART + '''
import json
import torch
from lmar.core.registry import RESAMPLERS as NEW
from lmar.parts.resampler_base import Resampler as NewBase
part = NEW.build({"type": "my_resizer", "params": {"amount": 0.5}})
print(json.dumps([isinstance(part, NewBase), list(part(torch.rand(1, 3, 8, 8), (4, 4)).shape)]))
'''
    proc = run(code)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1]) == [True, [1, 3, 4, 4]]
    for old, new in [("lmar.params", "lmar.core.params"), ("lmar.registry", "lmar.core.registry"),
                     ("lmar.resampler_base", "lmar.parts.resampler_base")]:
        assert f"FutureWarning: {old} moved to {new}" in proc.stderr, proc.stderr


@pytest.mark.parametrize("old, new", [
    ("lmar.errors", "lmar.core.errors"), ("lmar.params", "lmar.core.params"),
    ("lmar.registry", "lmar.core.registry"), ("lmar.resampler_base", "lmar.parts.resampler_base"),
    ("lmar.backbones", "lmar.parts.backbones"), ("lmar.backbones.base", "lmar.parts.backbones.base"),
    ("lmar.interpolation", "lmar.parts.resize"),
])
def test_each_old_name_is_the_new_module_itself(old, new):
    proc = run(f"import sys, importlib; a = importlib.import_module({old!r}); "
               f"print(a is sys.modules[{new!r}] is sys.modules[{old!r}])")
    assert proc.returncode == 0 and proc.stdout.strip() == "True", proc.stderr
    assert f"{old} moved to {new}" in proc.stderr


def test_the_list_is_exactly_the_names_above_and_nothing_else_old_resolves():
    import lmar

    assert lmar.MOVED == {
        "lmar.errors": "lmar.core.errors", "lmar.params": "lmar.core.params", "lmar.registry": "lmar.core.registry",
        "lmar.resampler_base": "lmar.parts.resampler_base", "lmar.backbones": "lmar.parts.backbones",
        "lmar.backbones.base": "lmar.parts.backbones.base", "lmar.interpolation": "lmar.parts.resize"}
    proc = run("import lmar.store")  # moved too (lmar.report.store), not on the list
    assert proc.returncode != 0 and "No module named 'lmar.store'" in proc.stderr
    for old in lmar.MOVED:  # no file of the new layout has an old name (it would be loaded twice)
        assert not (ROOT / (old.replace(".", "/") + ".py")).exists() and not (ROOT / old.replace(".", "/")).is_dir()
