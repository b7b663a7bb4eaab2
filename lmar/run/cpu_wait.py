"""How long a timed section's threads waited for a CPU: contention measured with the time itself.

Linux keeps, for every thread, the nanoseconds it has run on a CPU and the nanoseconds it has spent
runnable but waiting in a run queue (``/proc/self/task/<tid>/schedstat``, its first two fields).
Over a timed section, :func:`wait_share` is the waiting part of this process's threads' runnable
time: wait / (run + wait), summed over the threads. It is near 0 when every thread that wants a CPU
gets one (0.2% measured on an idle 2-core machine with 2 PyTorch threads) and large when other work
takes CPU time from the job (40% with one busy process beside them, 50% with two): unlike the load
average, it neither lags behind nor counts the job's own threads. The cost tables mark a time whose
passes together (weighted by their times) waited more than :data:`WAIT_LIMIT`
(:func:`lmar.report.cost_tables.load_under`).

Where the files are missing (not Linux, or a kernel without scheduler statistics) the share is NaN.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

TASKS = Path("/proc/self/task")
WAIT_LIMIT = 0.05  # a larger share of runnable time spent waiting for a CPU: the time overstates the machine's

Snapshot = dict[str, tuple[int, int]]


def snapshot(tasks: Path = TASKS) -> Snapshot | None:
    """{thread id: (ns run, ns waiting)} of every thread of this process now; None where unavailable."""
    try:
        names = os.listdir(tasks)
    except OSError:
        return None
    out = {}
    for name in names:
        try:
            fields = (tasks / name / "schedstat").read_text().split()
            out[name] = (int(fields[0]), int(fields[1]))
        except (OSError, ValueError, IndexError):  # a thread that ended meanwhile, or no statistics
            continue
    return out or None


def wait_share(before: Snapshot | None, after: Snapshot | None) -> float:
    """The share of the runnable time of the threads alive at ``after`` that was spent waiting for a
    CPU since ``before`` (a thread started since, or whose id was reused, counts from 0); NaN
    without both snapshots, or when no thread ran."""
    if before is None or after is None:
        return math.nan
    run = wait = 0
    for tid, (ran, waited) in after.items():
        ran0, waited0 = before.get(tid, (0, 0))
        if ran < ran0 or waited < waited0:  # another thread under a reused id
            ran0 = waited0 = 0
        run, wait = run + ran - ran0, wait + waited - waited0
    return wait / (run + wait) if run + wait > 0 else math.nan
