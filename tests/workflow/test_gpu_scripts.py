"""The device-call scripts run here too (on a small CPU frame), so that a GPU call is not spent on a broken one."""

from __future__ import annotations

import json
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT, lock_pins

SCRIPTS = ROOT / "workflow" / "scripts"


def _script(name: str, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(SCRIPTS / name), *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_gpu_check_is_valid_bash():
    for script in ("gpu_check.sh", "gpu_prepare.sh", "gpu_dag.sh", "gpu_env.sh", "gpu_rehearse.sh"):
        subprocess.run(["bash", "-n", str(SCRIPTS / script)], check=True)


def _names(text: str) -> set[str]:
    return {re.sub(r"[-_.]+", "-", name).lower() for name in text.split()}


def _shell_list(script: str, variable: str) -> set[str]:
    return _names(re.search(rf'^{variable}="([^"]*)"', (SCRIPTS / script).read_text(), re.M).group(1))


def test_the_image_the_carried_wheels_and_the_named_rest_are_the_lock_exactly():
    """Every package of requirements.lock is in the GPU image, carried as a wheel by gpu_prepare.sh, a
    dependency the image brings its own version of (IMAGE_DEPS), or named as not needed there (NOT_NEEDED):
    a lock that gains a package fails here until it is placed, instead of failing a device call."""
    lock = _names(" ".join(lock_pins()))
    image = _names(" ".join(line for line in (SCRIPTS / "gpu_image_packages.txt").read_text().splitlines()
                            if not line.startswith("#")))
    carried = _shell_list("gpu_prepare.sh", "DAG_WHEELS")
    image_deps, not_needed = _shell_list("gpu_prepare.sh", "IMAGE_DEPS"), _shell_list("gpu_prepare.sh", "NOT_NEEDED")
    assert {"torch", "triton", "numpy", "pandas"} <= image and {"snakemake", "pyiqa"} <= carried  # read right
    assert {"tzdata"} <= image_deps and {"pulp"} <= not_needed
    lists = [image & lock, carried, image_deps, not_needed]
    assert sum(map(len, lists)) == len(set().union(*lists)), "a package in two of the lists"
    assert carried | image_deps | not_needed <= lock, "named in gpu_prepare.sh but not in requirements.lock"
    assert lock - set().union(*lists) == set(), "in requirements.lock, neither in the image nor placed"


def test_the_rehearsal_installs_the_images_packages_and_their_lock_dependencies_and_nothing_carried(tmp_path):
    env = {**os.environ, "REHEARSE_REQUIREMENTS_ONLY": "1"}
    subprocess.run(["bash", str(SCRIPTS / "gpu_rehearse.sh"), str(tmp_path)], check=True, cwd=ROOT, env=env,
                   capture_output=True, timeout=60)
    pins = dict(line.split("==") for line in (tmp_path / "image-reqs.txt").read_text().splitlines()
                if not line.startswith("#"))
    lock = lock_pins()
    assert pins["torch"] == lock["torch"] and pins["numpy"] == lock["numpy"]  # the image's, at the lock's versions
    assert _names(" ".join(pins)) >= _shell_list("gpu_prepare.sh", "IMAGE_DEPS")  # ... and what those need there
    assert not _names(" ".join(pins)) & (_shell_list("gpu_prepare.sh", "DAG_WHEELS")
                                         | _shell_list("gpu_prepare.sh", "NOT_NEEDED"))
    assert not (tmp_path / "venv").exists() and not (tmp_path / "clone").exists()


def test_the_deu_settings_script_times_every_backbone_case_and_setting():
    out = _script("deu_cudnn_4k.py", "cpu", "1", "54", "96")
    assert out["hw"] == [54, 96] and out["precision"] and out["upsampler"]
    # the paper grid's two backbones x (x1.8, full resolution) x (the evaluation's settings, benchmark on)
    assert len(out["cases"]) == 8 and all(c["seconds"] > 0 for c in out["cases"].values())
    assert {k.split(" ")[0] for k in out["cases"]} == {"unet", "nafnet"}


def test_the_ceilings_script_reports_a_rate_and_a_bandwidth():
    out = _script("gpu_ceilings.py", "cpu", "64", "4")
    assert out["bf16_matmul_n"] == 64 and out["copy_mib"] == 4
    assert out["bf16_matmul_tflops"] > 0 and out["copy_tb_per_s"] > 0


def test_the_profiled_program_runs_the_resampler_once_with_the_launch_given():
    """What ncu profiles: the resampler at x1.8 (here on CPU, where LMAR takes its PyTorch path; a launch
    reaches the library through LMAR_FUSED_LAUNCH, checked by the resampler script's test)."""
    assert _script("kernel_ncu.py", "cpu", "36", "64") == {"launch": "built-in", "out": [1, 3, 20, 36]}
    out = _script("kernel_ncu.py", "cpu", "36", "64", "[64, 4, 2, false, 1]")
    assert out == {"launch": "[64, 4, 2, false, 1]", "out": [1, 3, 20, 36]}


def test_the_resampler_script_finds_the_benchmark_it_times():
    script = runpy.run_path(str(SCRIPTS / "resampler_4k.py"))  # not run as __main__: nothing is timed
    assert script["measure"].__module__ == "lmar.bench.benchmarks"


def test_the_resampler_script_times_the_persistent_launches_last_and_records_a_failing_one(capsys):
    """Each persistent launch reaches the library through LMAR_FUSED_LAUNCH for its own case only; a case
    that raises is recorded and the next still runs (measure stands in for the GPU timing here)."""
    pytest.importorskip("triton")
    from lmar.parts.lmar.fused.launch import launch_for

    main = runpy.run_path(str(SCRIPTS / "resampler_4k.py"))["main"]
    seen = []

    def measure(kind, resampler, **kwargs):
        launch = launch_for("bf16")
        seen.append((resampler["type"], resampler.get("params"), launch.persistent, launch.block))
        if launch.block == 128 and launch.persistent:
            raise RuntimeError("CUDA error: an illegal memory access was encountered\nmore")
        return {"device": "cpu", "seconds": 0.004, "peak_extra_mib": 1.0}

    main.__globals__["measure"] = measure
    main("cpu", 1)
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    built_in = launch_for("bf16")
    assert seen == [("bicubic", None, 0, built_in.block), ("lmar", {"interpolation": "bicubic"}, 0, built_in.block),
                    ("lmar", {"interpolation": "lanczos3"}, 0, built_in.block),
                    ("lmar", {"interpolation": "bicubic"}, 1, 64), ("lmar", {"interpolation": "bicubic"}, 1, 128)]
    assert out["cases"]["lmar R=bicubic, launch [128, 8, 2, False, 1]"] == {
        "error": "RuntimeError: CUDA error: an illegal memory access was encountered"}
    assert out["cases"]["lmar R=bicubic, launch [64, 4, 2, False, 1]"]["seconds"] == 0.004
    assert "LMAR_FUSED_LAUNCH" not in os.environ


def test_the_fused_kernel_tests_import_without_what_the_gpu_machine_lacks():
    """gpu_check.sh runs tests/parts/test_lmar_triton.py on a machine with PyTorch and Triton but not
    pyiqa, Snakemake, pandas, OpenCV or PyYAML: the test module, conftest and the helpers import
    without them."""
    code = ("import sys\n"
            "for m in ('cv2', 'yaml', 'pyiqa', 'snakemake', 'pandas', 'seaborn', 'matplotlib'):\n"
            "    sys.modules[m] = None  # import m now fails\n"
            "sys.path[:0] = ['tests', 'tests/parts']\n"
            "import conftest, helpers, test_lmar_triton\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


def _gpu_setup(tmp_path, python: str, then: str = "") -> subprocess.CompletedProcess:
    script = (f'LOG={tmp_path}/log; GPU_BIN={tmp_path}/bin; GPU_SITE={tmp_path}/site; PYTHON={python}\n'
              f'. {SCRIPTS / "gpu_env.sh"}\ngpu_setup\n{then}')
    return subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300)


def test_gpu_setup_puts_a_python_on_path_that_is_the_machines_own_with_this_tree_importable(tmp_path):
    """The wrapper execs the interpreter it was given (its sys.prefix, not a symbolic link's), and the
    tree is on PYTHONPATH for the jobs it starts; step 0's versions go to the log."""
    proc = _gpu_setup(tmp_path, sys.executable, 'python -c "import sys, lmar; print(sys.prefix)"')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == sys.prefix
    assert (tmp_path / "log").read_text().startswith("torch ")


def test_gpu_setup_stops_the_call_when_the_first_import_fails(tmp_path):
    proc = _gpu_setup(tmp_path, "false", "echo reached")
    assert proc.returncode == 1 and "reached" not in proc.stdout
    assert "step 0 failed" in (tmp_path / "log").read_text()


def test_a_step_gets_what_is_left_of_the_call_and_is_skipped_below_its_minimum(tmp_path):
    """`step LIMIT LEAST CMD`: LIMIT where the call has that much left, else what it has left; not run
    (status 124, a line in the log) where less than LEAST is left. The clock is bash's SECONDS, set here
    (it may tick over by one between the setting and the step, hence the ranges)."""
    script = (f'LOG={tmp_path}/log; GPU_CALL_SECONDS=100\n. {SCRIPTS / "gpu_env.sh"}\n'
              'SECONDS=0; step 60 20 echo a\nSECONDS=70; step 60 20 echo b\n'
              'SECONDS=90; step 60 20 echo c; echo "status $?"\n')
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.stdout.splitlines() == ["a", "b", "status 124"], proc.stderr
    first, second, third = (tmp_path / "log").read_text().splitlines()
    assert first in ("step, limit 60 s: echo a",)
    assert second in (f"step, limit {n} s: echo b" for n in (28, 29, 30))
    assert third in (f"skipped, {n} s of the call left (needs 20): echo c" for n in (8, 9, 10))


FAKE_PYTHON = """#!/bin/sh
{ printf '%s|' "${PYTHONPATH:-}"; printf '%s ' "$@" | tr '\\n' ' '; echo; } >> "$CALLS"
[ "$1" = -c ] && echo "torch 0 triton 0 no CUDA device"
exit 0
"""


def _gpu_check_on_a_stand_in(tmp_path, call_seconds: int) -> tuple[list[str], str, str]:
    """gpu_check.sh on a stand-in python that records each call (PYTHONPATH|arguments) and does nothing,
    in a folder holding a carried wheel and a baseline library: (calls, gpu_check.log, dag/gpu_dag.log)."""
    work = tmp_path / f"call{call_seconds}"
    (work / ".whl").mkdir(parents=True)
    (work / ".whl" / "snakemake-0-py3-none-any.whl").write_text("")
    (work / ".prev" / "lmar").mkdir(parents=True)
    fake = work / "fakepython"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    env = {**os.environ, "PYTHON": str(fake), "CALLS": str(work / "calls"), "GPU_CALL_SECONDS": str(call_seconds),
           "GPU_SITE": str(work / "site"), "GPU_BIN": str(work / "bin"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(["bash", str(SCRIPTS / "gpu_check.sh"), str(work / "out")], cwd=work, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    dag_log = work / "out" / "dag" / "gpu_dag.log"
    return ([c.rstrip() for c in (work / "calls").read_text().splitlines()], (work / "out" / "gpu_check.log").read_text(),
            dag_log.read_text() if dag_log.exists() else "")


def _what(call: str) -> str:
    """A recorded call, named by what it runs."""
    args = call.split("|", 1)[1].split()
    if args[0] == "-c":
        return "import"
    if args[0] == "-m":
        return " ".join(args[1:3]) if args[1] == "lmar" else args[1]
    return Path(args[0]).name


def test_the_gpu_check_runs_its_steps_in_priority_order_and_the_dag_with_what_is_left(tmp_path):
    """The issue's order: the GPU tests, the 4K resampler (the baseline's library first, alone on the path),
    its profile, bench-eval, then the default DAG with the rest of the call (the wheels installed once for
    both scripts), then the cuDNN settings' check."""
    calls, log, dag_log = _gpu_check_on_a_stand_in(tmp_path, 400)
    assert [_what(c) for c in calls] == ["import", "pip", "gpu_ceilings.py", "pytest", "resampler_4k.py",
                                         "resampler_4k.py", "lmar bench", "lmar bench-eval", "import", "snakemake",
                                         "deu_cudnn_4k.py"]
    baseline, current = (c.split("|")[0] for c in calls if c.endswith("resampler_4k.py"))
    assert baseline.endswith("/.prev") and ".prev" not in current
    assert "--config device=cuda" in next(c for c in calls if _what(c) == "snakemake")
    assert re.search(r"step, limit \d+ s: env GPU_CALL_SECONDS=\d+ bash \S+/gpu_dag\.sh \S+/out/dag\n", log)
    limit = int(re.search(r"step, limit (\d+) s: python -m snakemake", dag_log).group(1))
    assert 380 <= limit <= 400  # what the call had left, under gpu_dag.sh's own 480


def test_the_gpu_check_drops_the_dag_where_too_little_of_the_call_is_left(tmp_path):
    calls, log, dag_log = _gpu_check_on_a_stand_in(tmp_path, 200)
    assert "snakemake" not in [_what(c) for c in calls] and not dag_log
    assert re.search(r"skipped, \d+ s of the call left \(needs 240\): env GPU_CALL_SECONDS=\d+ bash \S+/gpu_dag\.sh", log)
    assert [_what(c) for c in calls][-1] == "deu_cudnn_4k.py"  # a short step after it still runs
    calls, log, _ = _gpu_check_on_a_stand_in(tmp_path, 50)  # the tests (at least 60 s) and bench-eval too
    assert "pytest" not in [_what(c) for c in calls] and "lmar bench-eval" not in [_what(c) for c in calls]
    assert re.search(r"skipped, \d+ s of the call left \(needs 60\): .* -m pytest", log)


def test_ncu_reports_runs_one_ncu_call_per_launch_with_the_launch_as_one_argument(tmp_path):
    """A stand-in ncu on PATH prints the arguments it gets: each launch's JSON reaches the profiled
    program as one argument (none for the built-in launch), after ncu's options (clocks left alone)."""
    bin_dir = tmp_path / "ncu_bin"
    bin_dir.mkdir()
    (bin_dir / "ncu").write_text("#!/bin/sh\nfor a in \"$@\"; do echo \"arg:$a\"; done\n")
    (bin_dir / "ncu").chmod(0o755)
    script = (f'LOG={tmp_path}/log; PYTHON=python3\n. {SCRIPTS / "gpu_env.sh"}\nPATH={bin_dir}:$PATH\n'
              f'ncu_reports {tmp_path} "" "[64, 4, 2, false, 1]"\n')
    proc = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    reports = (tmp_path / "kernel_ncu.txt").read_text().split("== launch ")[1:]
    assert [r.splitlines()[0] for r in reports] == ["built-in", "[64, 4, 2, false, 1]"]
    calls = [[line[4:] for line in r.splitlines() if line.startswith("arg:")] for r in reports]
    for args in calls:
        assert args[:4] == ["--clock-control", "none", "-k", "regex:_compensation_kernel"]
    program = [args[args.index("python3"):] for args in calls]
    assert program == [["python3", "workflow/scripts/kernel_ncu.py", "cuda", "2160", "3840"],
                       ["python3", "workflow/scripts/kernel_ncu.py", "cuda", "2160", "3840", "[64, 4, 2, false, 1]"]]
    assert [line for line in (tmp_path / "log").read_text().splitlines() if line.startswith("ncu")] == [
        "ncu, launch built-in: exit 0", "ncu, launch [64, 4, 2, false, 1]: exit 0"]


def test_the_gpu_check_profiles_the_built_in_launch_and_the_persistent_ones_it_times():
    """gpu_check.sh names its launches for ncu_reports itself: the same as resampler_4k.py times."""
    from lmar.bench.tuning import PERSISTENT_LAUNCHES

    line = next(line for line in (SCRIPTS / "gpu_check.sh").read_text().splitlines() if line.startswith("ncu_reports "))
    persistent = [json.dumps(list(launch)) for launch in PERSISTENT_LAUNCHES[:2]]
    assert line.split("#")[0].split('"')[1::2] == ["$OUT", "", *persistent]


def test_ncu_reports_says_so_where_ncu_is_missing(tmp_path):
    script = f'LOG={tmp_path}/log\n. {SCRIPTS / "gpu_env.sh"}\nPATH=/usr/bin:/bin\nncu_reports {tmp_path} ""\n'
    proc = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "log").read_text() == "ncu: not found\n" and not (tmp_path / "kernel_ncu.txt").exists()

