"""Trust boundaries: checkpoints are data (the code they name is not imported unless the user
trusts its module), config parts must be parts, and config strings never reach a shell or a path
unchecked. Every crafted input stays inside the test's temporary folder."""

from __future__ import annotations

import json
import re
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from helpers import BACKBONE_SPEC, LMAR_PARAMS, ROOT, entries, one_error, planted_checkpoint, run_cli, write_rgb

from lmar.core.errors import LmarError
from lmar.core.registry import DATASETS, RESAMPLERS
from lmar.run.config import check_parts, trusted_modules

LABELS = json.dumps({"dataset": "mini", "backbone": "unet", "resampler": "bicubic", "config_hash": "x"})


@pytest.fixture
def evil_module(tmp_path, monkeypatch):
    """An importable module that leaves a marker file when imported, and a real backbone class."""
    name = "lmar_test_evil_mod"
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    marker = tmp_path / "imported"
    (pkg / f"{name}.py").write_text(textwrap.dedent(f'''
        from pathlib import Path
        Path({str(marker)!r}).touch()
        from lmar.parts.backbones.unet_lite import UNetLite

        class Net(UNetLite):
            pass
    '''))
    monkeypatch.syspath_prepend(str(pkg))
    monkeypatch.delitem(sys.modules, name, raising=False)
    yield name, marker
    sys.modules.pop(name, None)


# ------------------------------------------------------------ 1. a checkpoint runs no code

def os_system_spec(marker: Path) -> dict:
    return {"type": "os:system", "params": {"command": f"touch {marker}"}}


def test_backbone_checkpoint_naming_os_system_is_refused_everywhere(capsys, backbone_ckpt, lmar_ckpt, mini_data,
                                                                     tmp_path):
    marker = tmp_path / "pwned"
    evil = planted_checkpoint(backbone_ckpt, tmp_path / "evil.pt", os_system_spec(marker))
    image = write_rgb(tmp_path / "in.png", 24, 36)
    out = tmp_path / "out"
    calls = {
        "enhance": ["enhance", image, out / "y.png", "--backbone", evil, "--scale", 2, "--device", "cpu"],
        "evaluate": ["evaluate", "--data", mini_data, "--backbone", evil, "--resampler-spec", '{"type": "bicubic"}',
                     "--evaluation", '{"scales": [2]}', "--labels", LABELS, "--out", out / "m.csv",
                     "--images", out / "img", "--device", "cpu"],
        "train-resampler": ["train-resampler", "--data", mini_data, "--backbone", evil, "--spec",
                            json.dumps({"type": "lmar", "params": LMAR_PARAMS, "train": {"epochs": 1}}),
                            "--out", out / "r.pt", "--device", "cpu"],
    }
    for verb, argv in calls.items():
        line = one_error(*run_cli(capsys, *argv))
        assert "'os:system'" in line and "not trusted" in line and str(evil) in line, (verb, line)
        assert "--allow-module os" in line
        assert not marker.exists(), verb
        assert not out.exists() or entries(out) == [], verb


def test_resampler_checkpoint_naming_os_system_is_refused_by_enhance(capsys, backbone_ckpt, lmar_ckpt, tmp_path):
    marker = tmp_path / "pwned"
    evil = planted_checkpoint(lmar_ckpt, tmp_path / "evil_lmar.pt", os_system_spec(marker))
    image = write_rgb(tmp_path / "in.png", 24, 36)
    line = one_error(*run_cli(capsys, "enhance", image, tmp_path / "y.png", "--backbone", backbone_ckpt,
                              "--resampler", evil, "--scale", 2, "--device", "cpu"))
    assert "not trusted" in line and "evil_lmar.pt" in line
    assert not marker.exists() and not (tmp_path / "y.png").exists()


def test_untrusted_module_is_not_even_imported(capsys, backbone_ckpt, evil_module, tmp_path):
    name, marker = evil_module
    ckpt = planted_checkpoint(backbone_ckpt, tmp_path / "b.pt", {"type": f"{name}:Net", "params": {"width": 8}})
    image = write_rgb(tmp_path / "in.png", 24, 36)
    argv = ["enhance", image, tmp_path / "y.png", "--backbone", ckpt, "--scale", 2, "--device", "cpu"]
    line = one_error(*run_cli(capsys, *argv))
    assert f"--allow-module {name}" in line
    assert not marker.exists() and name not in sys.modules
    # the user names the module: now it is trusted, imported, and the checkpoint loads into it
    rc, err = run_cli(capsys, *argv, "--allow-module", name)
    assert rc == 0, err
    assert marker.exists() and (tmp_path / "y.png").is_file()


def test_registered_specs_and_own_packages_need_no_permission(backbone_ckpt, tmp_path):
    from lmar.run.checkpoint import load_backbone

    net, _ = load_backbone(backbone_ckpt, torch.device("cpu"))  # registered name
    assert type(net).__name__ == "UNetLite"
    own = planted_checkpoint(backbone_ckpt, tmp_path / "own.pt",
                             {"type": "lmar.parts.backbones.unet_lite:UNetLite", "params": BACKBONE_SPEC["params"]})
    assert type(load_backbone(own, torch.device("cpu"))[0]).__name__ == "UNetLite"
    # a prefix is not a package: "lmarx" is not inside "lmar"
    bad = planted_checkpoint(backbone_ckpt, tmp_path / "bad.pt", {"type": "lmarx.evil:Net", "params": {}})
    with pytest.raises(LmarError, match="not trusted"):
        load_backbone(bad, torch.device("cpu"))


def test_checkpoint_params_are_checked_like_a_config(backbone_ckpt, tmp_path):
    from lmar.run.checkpoint import load_backbone

    bad = planted_checkpoint(backbone_ckpt, tmp_path / "b.pt", {"type": "unet_lite", "params": {"width": -8}})
    with pytest.raises(LmarError, match=r"b.pt: spec.params.width must be an integer >= 2"):
        load_backbone(bad, torch.device("cpu"))


PLUGIN = textwrap.dedent('''
    from lmar.core.params import ImportName
    from lmar.parts.resampler_base import Resampler


    class Wrap(Resampler):
        """A part that keeps an import target in its params (e.g. a wrapped network's class)."""

        def __init__(self, network: ImportName = "torch.nn:Identity"):
            super().__init__()
            self.network = network
''')


@pytest.fixture
def plugin(make_module):
    return make_module("lmar_test_wrap_plugin", PLUGIN)


def test_import_targets_in_params_follow_the_trust_rule(plugin):
    spec = {"type": f"{plugin}:Wrap", "params": {"network": "os:system"}}
    RESAMPLERS.resolve(spec, "config key resamplers.w")  # a config is trusted
    with pytest.raises(LmarError, match=r"ckpt: spec.params.network names code 'os:system'.*not trusted"):
        RESAMPLERS.resolve(spec, "ckpt: spec", allow=[plugin])
    RESAMPLERS.resolve({**spec, "params": {"network": "torch.nn:Identity"}}, "ckpt: spec", allow=[plugin, "torch"])
    with pytest.raises(LmarError, match="network must be a string of the form 'module:Class'"):
        RESAMPLERS.resolve({**spec, "params": {"network": "os.system"}}, "config key resamplers.w")
    config = {"datasets": {"d": {"type": "mini"}}, "backbones": {"b": {"type": "unet_lite"}},
              "resamplers": {"w": spec, "bicubic": {"type": "bicubic"}}}
    assert trusted_modules(config) == sorted(["os:system", f"{plugin}:Wrap"])  # each class exactly


# ------------------------------------------------------------ 2. a config part must be a part

@pytest.mark.parametrize("section, type_name", [
    ("resamplers", "os:getcwd"), ("resamplers", "os:system"), ("resamplers", "builtins:eval"),
    ("backbones", "torch.nn:Conv2d"), ("backbones", "lmar.parts.lmar.resampler:LMAR"), ("datasets", "lmar.data.mini:fit"),
    ("datasets", "pathlib:Path"),
])
def test_config_types_must_be_classes_of_the_right_base(section, type_name):
    config = {"datasets": {"d": {"type": "mini"}}, "backbones": {"b": {"type": "unet_lite"}},
              "resamplers": {"r": {"type": "bicubic"}}}
    name = {"datasets": "d", "backbones": "b", "resamplers": "r"}[section]
    config[section][name] = {"type": type_name}
    with pytest.raises(LmarError, match=rf"config key {section}.{name}.type: '{re.escape(type_name)}' is not a"):
        check_parts(config)


def test_registered_datasets_derive_from_the_dataset_base():
    from lmar.data.base import Dataset

    assert all(issubclass(DATASETS.get(n), Dataset) for n in DATASETS.names())


# ------------------------------------------------------------ 3. nothing reaches a shell unquoted

def shell_commands() -> list[tuple[str, str]]:
    """(rule file, shell string) for every rule's shell command."""
    found = []
    for smk in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        for m in re.finditer(r"shell:\n((?:\s+\".*\"\n?)+)", smk.read_text()):
            found.append((smk.name, "".join(re.findall(r"\"(.*)\"", m.group(1)))))
    return found


def test_every_value_in_a_shell_command_is_quoted():
    commands = shell_commands()
    assert len(commands) >= 9  # every rule with a shell command was found
    for rule_file, cmd in commands:
        for field in re.findall(r"(?<!\{)\{([^{}]+)\}(?!\})", cmd):
            assert field == "threads" or field.endswith(":q"), (rule_file, field, cmd)


# ------------------------------------------------------------ 4. no config name escapes the project

def test_a_target_name_cannot_become_a_path_outside(tmp_path, mini_data, backbone_ckpt, monkeypatch):
    from lmar.run.evaluate import evaluate
    from lmar.run.targets import Target, parse_targets

    with pytest.raises(LmarError, match=r"evaluation.sizes\[0\].name must be a name"):
        parse_targets({"sizes": [{"name": "../../../../tmp/x", "size": [8, 8]}]})
    with pytest.raises(LmarError, match="must be a name"):
        parse_targets({"sizes": [{"name": "..", "size": [8, 8]}]})
    # the library checks again where the folder is made, whatever built the target
    out = tmp_path / "work" / "out"
    monkeypatch.setattr("lmar.run.evaluate.parse_targets", lambda _: [Target("../../escaped", size=(16, 24))])
    with pytest.raises(LmarError, match="target name must be a name"):
        evaluate(mini_data, backbone_ckpt, {"type": "bicubic"}, None, {"scales": [2]},
                 out / "m.csv", out / "img", torch.device("cpu"), json.loads(LABELS))
    assert not (tmp_path / "work" / "escaped").exists() and not (tmp_path / "escaped").exists()
    assert not out.exists() or entries(out) == []
