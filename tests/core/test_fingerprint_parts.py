"""The code a part runs includes the code its params name: a wrapped backbone's network module is
fingerprinted beside the wrapped class's, so editing that network changes its jobs' fingerprint
(the workflow reruns them) and a resume state's identity (the job does not resume)."""

from __future__ import annotations

from lmar.core.fingerprint import fingerprint, part_modules
from lmar.core.registry import RESAMPLERS
from lmar.parts.backbones.wrapped import Wrapped


def test_a_wrapped_backbone_runs_its_network_module(make_module, tmp_path):
    name = make_module("lmar_test_fp_net", "import torch\nclass Net(torch.nn.Identity):\n    pass\n")
    modules = part_modules(Wrapped, {"network": f"{name}:Net", "tap": "x"})
    assert modules == ["lmar.parts.backbones.wrapped", name]
    before = fingerprint(modules)
    source = tmp_path / f"{name}.py"  # where make_module wrote it
    source.write_text(source.read_text() + "EDITED = 1\n")
    assert fingerprint(modules) != before


def test_a_part_whose_params_name_no_code_runs_its_class_module_only():
    cls = RESAMPLERS.get("bicubic")
    assert part_modules(cls, {"antialias": True}) == [cls.__module__]
    assert part_modules(cls, None) == [cls.__module__]
