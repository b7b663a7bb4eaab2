"""What the docs state as fact, checked against the thing itself: the job counts the README gives
(dry runs), every ``snakemake ...`` command in the paper configs' comments and the README's code
blocks (each planned as written, with ``-n``), and what ``lmar list`` shows of each part."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from helpers import ROOT, SNAKEMAKE

from lmar.cli import main
from lmar.core.registry import BACKBONES, DATASETS, RESAMPLERS

README = ROOT / "README.md"
CONFIGS = ROOT / "workflow" / "configs"
# files a command names that the docs have the user write: stand-ins with what the docs say they hold
USER_FILES = {
    "my.yaml": (ROOT / "config.yaml").read_text(),  # "config files named here replace config.yaml": any config
}


def readme_code_lines() -> list[str]:
    """Every line inside a fenced ```bash block of the README."""
    blocks = re.findall(r"^```bash\n(.*?)^```", README.read_text(), flags=re.MULTILINE | re.DOTALL)
    return [line for block in blocks for line in block.splitlines()]


def readme_commands() -> list[str]:
    """The ``snakemake ...`` commands of the README's bash blocks."""
    return [line for line in readme_code_lines() if line.startswith("snakemake ")]


def config_commands() -> list[tuple[str, str]]:
    """``(file:line, command)`` of every ``snakemake ...`` command in a paper config's comments."""
    found = []
    for path in sorted(CONFIGS.glob("*.yaml")):
        for i, line in enumerate(path.read_text().splitlines(), 1):
            m = re.match(r"#\s+(snakemake\s.*)$", line)
            if m:
                found.append((f"{path.name}:{i}", m.group(1)))
    return found


def user_files() -> dict[str, str]:
    """The stand-ins, and the files the README's bash blocks write with ``echo "..." > FILE``."""
    written = {}
    for line in readme_code_lines():
        m = re.match(r'echo "(.*)" > (\S+)$', line)
        if m:
            written[m.group(2)] = m.group(1) + "\n"
    return {**USER_FILES, **written}


def dry_run(command: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """``command`` (as a user types it in the project's folder) as a dry run: ``-n`` added, and
    ``--directory`` a fresh folder under ``tmp_path`` holding the default config.yaml, as the
    checkout does, so that nothing is written in the checkout. Files the docs have the user write
    are given as stand-ins under ``tmp_path``."""
    argv = shlex.split(command, comments=True)
    assert argv[0] == "snakemake", command
    work = tmp_path / f"work{len(list(tmp_path.glob('work*')))}"
    work.mkdir()
    shutil.copy(ROOT / "config.yaml", work / "config.yaml")
    args = []
    for arg in argv[1:]:
        if arg in user_files():
            (tmp_path / arg).write_text(user_files()[arg])
            arg = str(tmp_path / arg)
        args.append(arg)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("SNAKEMAKE_PROFILE", None)  # a user's global profile must not decide the outcome
    return subprocess.run([SNAKEMAKE, "-n", "--directory", str(work), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600, check=False)


def job_counts(res: subprocess.CompletedProcess) -> Counter:
    """Jobs per rule from a dry run's "Job stats" table (its ``total`` row checked against the sum)."""
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    table = res.stdout.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    counts = Counter({m[0]: int(m[1]) for m in re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.MULTILINE)})
    total = counts.pop("total")
    assert sum(counts.values()) == total
    return counts


def rule_counts(text: str) -> Counter:
    """``1 `prepare_data`, 2 `pretrain_backbone` ...`` -> jobs per rule."""
    return Counter({rule: int(n) for n, rule in re.findall(r"(\d+) `(\w+)`", text)})


# the README's sentence on the default experiment's jobs: its command, its total and its jobs per rule
DEFAULT_SENTENCE = r"A fresh run is (\d+) jobs \((`snakemake [^`]*`) lists them\): (.*?)\.(?:\s|$)"


def readme_default() -> tuple[str, int, Counter]:
    m = re.search(DEFAULT_SENTENCE, " ".join(README.read_text().split()))  # lines joined
    assert m, "README.md no longer says how many jobs a fresh run of the default experiment is"
    return m.group(2).strip("`"), int(m.group(1)), rule_counts(m.group(3))


def test_the_default_experiments_jobs_are_the_ones_the_readme_counts(tmp_path):
    command, total, per_rule = readme_default()
    assert sum(per_rule.values()) == total, "the README's jobs per rule do not add up to its total"
    assert job_counts(dry_run(command, tmp_path)) == per_rule


def test_the_paper_configs_plan_the_jobs_the_readme_counts(tmp_path):
    """``# plan: N jobs, the default's M and 1 rule, ...`` beside a paper config's command."""
    claims = [(line, re.search(r"# plan: (\d+) jobs, the default's (\d+) and (.*)$", line))
              for line in readme_commands() if "# plan:" in line and "--configfile" in line]
    assert claims and all(m for _, m in claims), claims
    default = job_counts(dry_run(readme_default()[0], tmp_path))
    for line, m in claims:
        counts = job_counts(dry_run(line, tmp_path))
        assert sum(counts.values()) == int(m.group(1)), line
        assert sum(default.values()) == int(m.group(2)), line
        extra = Counter({rule: int(n) for n, rule in re.findall(r"(\d+) (\w+)", m.group(3))})
        assert counts == default + extra, line


def plannable(command: str) -> bool:
    """A command that plans jobs (``--report`` makes the report of a finished run: nothing to plan)."""
    return "--report" not in command


@pytest.mark.parametrize("where,command", config_commands(), ids=[w for w, _ in config_commands()])
def test_every_command_in_a_paper_configs_comments_plans(tmp_path, where, command):
    res = dry_run(command, tmp_path)
    assert res.returncode == 0, f"{where}: {command}\n{res.stdout[-2000:]}{res.stderr[-2000:]}"
    assert "Job stats:" in res.stdout, f"{where}: {command} planned nothing"


def test_the_paper_configs_each_give_their_command():
    assert {w.split(":")[0] for w, _ in config_commands()} == {p.name for p in CONFIGS.glob("*.yaml")} - {"paper.yaml"}


def test_the_readme_gives_the_paper_configs_commands():
    """So that the README's command test below cannot pass by finding no command."""
    named = {Path(word).name for c in readme_commands() for word in c.split() if word.startswith("workflow/configs/")}
    assert {"uhd_ll.yaml", "uhd_lol4k.yaml", "authors_released.yaml"} <= named


@pytest.mark.parametrize("command", [c for c in readme_commands() if plannable(c)])
def test_every_snakemake_command_in_the_readmes_code_blocks_plans(tmp_path, command):
    res = dry_run(command, tmp_path)
    assert res.returncode == 0, f"{command}\n{res.stdout[-2000:]}{res.stderr[-2000:]}"
    assert "Job stats:" in res.stdout, f"{command} planned nothing"


def list_lines(capsys) -> dict[str, str]:
    """``lmar list``'s line per part, by name."""
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    return {m[0]: m[1] for m in re.findall(r"^  (\S+)\s+(.*)$", out, flags=re.MULTILINE)}


def test_lmar_list_shows_each_datasets_source_layout_and_pair_counts(capsys):
    lines = list_lines(capsys)
    declared = 0
    for name in DATASETS.names():
        cls, line = DATASETS.get(name), lines[name]
        expected = getattr(cls, "expected", None) or {}
        if expected:
            declared += 1
            assert f"pairs: {expected['train']} train / {expected['test']} test" in line, line
        for folder in (getattr(cls, "layout", None) or {}).values():
            assert all(part in line for part in folder.split("/")), (folder, line)
        source = getattr(cls, "source", None) or {}
        for key in ("url", "id", "file", "where"):
            if key in source:
                assert source[key] in line, (key, line)
        if not source:
            assert "source: built locally" in line or "source: your own data" in line, line
    assert declared >= 4  # the public UHD datasets


def test_lmar_list_names_each_parts_module(capsys):
    lines = list_lines(capsys)
    for reg in (BACKBONES, RESAMPLERS):
        for name in reg.names():
            cls = reg.get(name)
            assert lines[name].startswith(f"{cls.__module__}: "), lines[name]
            # a summary from the module's (or the class's) docstring, not the module name alone
            assert len(lines[name]) > len(cls.__module__) + 10, lines[name]


def test_the_readmes_dataset_table_gives_the_declared_pair_counts():
    rows = re.findall(r"^\| `(\w+)` \|.*\| ([\d,]+) / ([\d,]+) \|", README.read_text(), flags=re.MULTILINE)
    assert len(rows) >= 4, rows
    for name, train, test in rows:
        expected = DATASETS.get(name).expected
        assert (int(train.replace(",", "")), int(test.replace(",", ""))) == (expected["train"], expected["test"]), name
