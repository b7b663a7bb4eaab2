"""Concurrent GPU jobs on one machine each get a distinct device (lmar.core.gpus), with fake devices."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from lmar.core import gpus, runtime

# A job as the CLI starts one: resolve_device("cuda") on a machine with 4 (fake) GPUs; it prints
# the device it got and holds it for a while, as a job holds its device while it runs.
JOB = textwrap.dedent("""
    import sys, time, torch
    torch.cuda.is_available = lambda: True
    torch.cuda.device_count = lambda: 4
    torch.cuda.set_device = lambda index: None
    from lmar.core.runtime import resolve_device
    print(resolve_device(sys.argv[1]), flush=True)
    time.sleep(float(sys.argv[2]))
""")


@pytest.fixture
def start(tmp_path):
    """Starts a job (``start(device, hold)``) with its locks under ``tmp_path``; each is killed at the end."""
    env = {**os.environ, gpus.LOCK_DIR_ENV: str(tmp_path / "locks")}
    started = []

    def job(device="cuda", hold=0.0) -> subprocess.Popen:
        started.append(subprocess.Popen([sys.executable, "-c", JOB, device, str(hold)], stdout=subprocess.PIPE,
                                        text=True, env=env))
        return started[-1]

    yield job
    for proc in started:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def test_concurrent_jobs_get_distinct_devices_and_a_finished_jobs_device_is_reused(start):
    jobs = [start(hold=600) for _ in range(3)]  # held until killed below
    got = [j.stdout.readline().strip() for j in jobs]
    assert sorted(got) == ["cuda:0", "cuda:1", "cuda:2"]
    auto = start("auto", hold=0)
    assert auto.stdout.readline().strip() == "cuda:3" and auto.wait() == 0
    for j in jobs:
        j.kill()  # killed: the OS releases its lock
        j.wait()
    again = start(hold=0)
    assert again.stdout.readline().strip() == "cuda:0" and again.wait() == 0


def test_an_explicit_index_is_used_as_given(start):
    jobs = [start("cuda:2", hold=0) for _ in range(2)]
    assert [j.stdout.readline().strip() for j in jobs] == ["cuda:2", "cuda:2"]
    assert [j.wait() for j in jobs] == [0, 0]


@pytest.fixture
def own_claims():
    """Releases the devices this test process claims (a job holds its claim until it ends; pytest
    runs on)."""
    yield
    while gpus._held:
        gpus._held.pop().close()


def test_a_job_waits_while_every_device_is_held(tmp_path, monkeypatch, start, own_claims):
    monkeypatch.setenv(gpus.LOCK_DIR_ENV, str(tmp_path / "locks"))
    holders = [start(hold=600) for _ in range(4)]
    assert sorted(h.stdout.readline().strip() for h in holders) == [f"cuda:{i}" for i in range(4)]
    with pytest.raises(TimeoutError, match="all 4 GPUs stayed held"):
        gpus.claim(4, wait_s=0.05, timeout_s=0.3)
    holders[2].kill()
    holders[2].wait()
    t0 = time.monotonic()
    assert gpus.claim(4, wait_s=0.05, timeout_s=10) in range(4) and time.monotonic() - t0 < 10
    for h in holders:
        h.kill()
        h.wait()


def test_one_visible_device_needs_no_choice(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert runtime.resolve_device("cuda") == torch.device("cuda:0")


def test_ops_without_a_deterministic_kernel_are_named_on_cuda_only():
    import warnings

    message = ("upsample_bilinear2d_backward_out_cuda does not have a deterministic implementation, but you set "
               "'torch.use_deterministic_algorithms(True, warn_only=True)'. You can file an issue at ...")
    found: set = set()
    with runtime.noting_nondeterminism(torch.device("cuda"), found):
        assert torch.are_deterministic_algorithms_enabled()  # asked of PyTorch while the body runs
        warnings.warn(message, UserWarning, stacklevel=1)
        with pytest.warns(RuntimeWarning, match="something else"):  # not swallowed
            with runtime.noting_nondeterminism(torch.device("cuda"), found):
                warnings.warn("something else", RuntimeWarning, stacklevel=1)
    assert found == {"upsample_bilinear2d_backward_out_cuda"} and not torch.are_deterministic_algorithms_enabled()
    on_cpu: set = set()
    with runtime.noting_nondeterminism(torch.device("cpu"), on_cpu):
        assert not torch.are_deterministic_algorithms_enabled()
    assert on_cpu == set()


def test_cuda_without_a_gpu_names_both_places_to_change_it(monkeypatch):
    """The device comes from a config key or from --device: the error must not send a CLI user to the config."""
    from lmar.core.errors import LmarError
    from lmar.core.runtime import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(LmarError, match=r"device 'cuda:1' requested but CUDA is not available here; use cpu or auto "
                                        r"instead \(the config's device: key, or --device on the command line\)"):
        resolve_device("cuda:1")
