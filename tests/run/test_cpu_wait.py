"""The share of a timed pass's runnable time its threads spent waiting for a CPU (lmar.run.cpu_wait):
summed over the process's threads from their scheduler statistics, and large when another process
competes for the same CPU."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time

import pytest

from lmar.run import cpu_wait


def test_the_share_by_hand_over_threads_that_ran_started_or_reused_their_id():
    before = {"1": (100, 0), "2": (50, 10), "4": (900, 900)}
    # thread 1 ran 200 ns more and waited 100; 2 did nothing; 3 started (40 run, 60 waiting); 4 ended
    after = {"1": (300, 100), "2": (50, 10), "3": (40, 60)}
    assert cpu_wait.wait_share(before, after) == pytest.approx((100 + 60) / (200 + 40 + 100 + 60))
    # an id reused by another thread (its counters below the old ones): counted from 0
    assert cpu_wait.wait_share({"1": (100, 50)}, {"1": (20, 5)}) == pytest.approx(5 / 25)
    assert math.isnan(cpu_wait.wait_share(None, after)) and math.isnan(cpu_wait.wait_share(before, None))
    assert math.isnan(cpu_wait.wait_share(after, after))  # nothing ran


def test_a_snapshot_reads_each_threads_first_two_fields(tmp_path):
    (tmp_path / "11").mkdir()
    (tmp_path / "11" / "schedstat").write_text("5000 700 3\n")
    (tmp_path / "12").mkdir()  # a thread gone before its file was read
    (tmp_path / "13").mkdir()
    (tmp_path / "13" / "schedstat").write_text("garbled\n")
    assert cpu_wait.snapshot(tmp_path) == {"11": (5000, 700)}
    assert cpu_wait.snapshot(tmp_path / "absent") is None
    assert cpu_wait.snapshot(tmp_path / "12") is None  # no thread readable


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or cpu_wait.snapshot() is None,
                    reason="needs Linux scheduler statistics (/proc/self/task/*/schedstat) and CPU affinity")
def test_two_processes_competing_for_the_same_cpu_make_the_thread_wait_two_thirds():
    """This thread and two spinning children pinned to one CPU share it: the scheduler gives each about a
    third, so about two thirds of this thread's runnable time is spent waiting (more if anything else
    runs there; a share counting the running instead would be about a third)."""
    cpu = min(os.sched_getaffinity(0))
    kept = os.sched_getaffinity(0)
    spin = f"import os\nos.sched_setaffinity(0, {{{cpu}}})\nwhile True: pass"
    children = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(2)]
    try:
        os.sched_setaffinity(0, {cpu})
        time.sleep(0.5)  # the children started and spin
        before = cpu_wait.snapshot()
        _spin(0.9)
        share = cpu_wait.wait_share(before, cpu_wait.snapshot())
    finally:
        os.sched_setaffinity(0, kept)
        for child in children:
            child.kill()
            child.wait()
    assert 0.55 < share <= 1.0, share
