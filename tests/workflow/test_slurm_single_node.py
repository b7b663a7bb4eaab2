"""workflow/scripts/slurm_single_node.sh: the slurm.conf it writes (no SLURM needed) and, where a
cluster answers (sinfo), that a job reaches a final state the Snakemake plugin's squeue query sees."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from helpers import ROOT

SCRIPT = ROOT / "workflow" / "scripts" / "slurm_single_node.sh"
FINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL"}


def run_script(*args: str) -> subprocess.CompletedProcess:
    """The script with these arguments, its output captured."""
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=60)


def conf_lines(path: Path) -> list[dict[str, str]]:
    """slurm.conf's settings: one dict per non-comment line (NodeName and PartitionName lines hold several)."""
    lines = []
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            lines.append(dict(field.split("=", 1) for field in line.split()))
    return lines


def rendered(tmp_path: Path) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """(the single-key settings, the node line, the partition line) of a freshly rendered slurm.conf."""
    out = tmp_path / "slurm.conf"
    proc = run_script("render-conf", str(out))
    assert proc.returncode == 0, proc.stderr
    lines = conf_lines(out)
    node = [line for line in lines if "NodeName" in line]
    part = [line for line in lines if "PartitionName" in line]
    assert len(node) == 1 and len(part) == 1
    single = {k: v for line in lines if len(line) == 1 for k, v in line.items()}
    return single, node[0], part[0]


def test_script_is_valid_bash():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


def test_the_node_has_this_machines_cpus_and_its_memory_less_a_headroom(tmp_path):
    _, node, _ = rendered(tmp_path)
    host = socket.gethostname().split(".")[0]
    assert node["NodeName"] == host
    assert int(node["CPUs"]) == len(os.sched_getaffinity(0))
    mem_total_kb = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal:"))
    total_mb = mem_total_kb // 1024
    assert int(node["RealMemory"]) == total_mb - max(512, total_mb // 10)


def test_the_conf_avoids_cgroups_enforces_memory_and_keeps_finished_jobs_visible(tmp_path):
    single, node, part = rendered(tmp_path)
    assert single["SlurmctldHost"].startswith(node["NodeName"] + "(")
    assert single["ProctrackType"] == "proctrack/linuxproc"
    assert single["TaskPlugin"] == "task/none"
    assert single["SelectType"] == "select/cons_tres"
    assert single["SelectTypeParameters"] == "CR_Core_Memory"
    assert single["EnforcePartLimits"] == "ALL"
    # no slurmdbd: the final states come from squeue (for MinJobAge s) and the jobcomp file
    assert single["AccountingStorageType"] == "accounting_storage/none"
    assert single["JobCompType"] == "jobcomp/filetxt" and single["JobCompLoc"].startswith("/")
    # the plugin trusts squeue only when MinJobAge >= 3 x its first status wait (40 s)
    assert int(single["MinJobAge"]) >= 3600
    # a job without --mem gets its CPUs' share of the node's memory, not all of it
    assert int(single["DefMemPerCPU"]) * int(node["CPUs"]) <= int(node["RealMemory"])
    assert part["Default"] == "YES" and part["MaxTime"] and part["Nodes"] == node["NodeName"]
    assert not re.search(r"@[A-Z_]+@", (tmp_path / "slurm.conf").read_text())


def test_render_conf_replaces_a_file_whole_and_leaves_no_temporary(tmp_path):
    out = tmp_path / "slurm.conf"
    out.write_text("stale\n" * 1000)
    assert run_script("render-conf", str(out)).returncode == 0
    assert "stale" not in out.read_text() and out.read_text().startswith("# slurm.conf")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["slurm.conf"]


def test_bad_input_gives_one_error_line_and_writes_nothing(tmp_path):
    missing = tmp_path / "no_such_folder" / "slurm.conf"
    proc = run_script("render-conf", str(missing))
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith("error:") and str(missing.parent) in proc.stderr
    assert list(tmp_path.iterdir()) == []
    for args in ((), ("restart",), ("render-conf",)):
        proc = run_script(*args)
        assert proc.returncode != 0 and proc.stderr.startswith("error:") and "render-conf OUTFILE" in proc.stderr


def cluster_answers() -> bool:
    """Whether a SLURM cluster answers here (sinfo installed and its controller up)."""
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return False
    return subprocess.run(["sinfo", "-h"], capture_output=True, timeout=30).returncode == 0


@pytest.fixture
def needs_cluster():
    """Skips the test where no cluster answers (asked when the test runs: under conftest's SLURM_CONF)."""
    if not cluster_answers():
        pytest.skip("no SLURM cluster answers (bash workflow/scripts/slurm_single_node.sh start)")


def plugin_status(name: str) -> dict[str, str]:
    """{job id: state} exactly as the Snakemake SLURM plugin asks squeue (--slurm-status-command squeue)."""
    proc = subprocess.run(["squeue", "--format=%i|%T", "--states=all", "--noheader", "--name", name],
                          capture_output=True, text=True, timeout=30, check=True)
    return dict(line.split("|", 1) for line in proc.stdout.split())


def test_a_job_reaches_completed_in_squeue_and_the_jobcomp_file(tmp_path, needs_cluster):
    name = f"lmar-test-{uuid.uuid4().hex[:8]}"
    proc = subprocess.run(["sbatch", "--parsable", "--job-name", name, "--cpus-per-task=1", "--mem=100",
                           "--time=2", "-o", str(tmp_path / "%j.out"), "--wrap", "true"],
                          capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    job = proc.stdout.strip().split(";")[0]
    deadline, state = time.monotonic() + 60, None
    while time.monotonic() < deadline:
        state = plugin_status(name).get(job)
        if state in FINAL_STATES:
            break
        time.sleep(1)
    assert state == "COMPLETED"
    config = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, check=True).stdout
    loc = next(line.split("=", 1)[1].strip() for line in config.splitlines() if line.startswith("JobCompLoc"))
    records = Path(loc).read_text().splitlines()
    assert any(f"JobId={job} " in r and "JobState=COMPLETED" in r for r in records)


def test_a_job_asking_more_cpus_than_the_node_has_is_refused_by_sbatch(needs_cluster):
    total = subprocess.run(["sinfo", "-h", "-o", "%C"], capture_output=True, text=True, check=True)
    cpus = int(total.stdout.split("/")[-1])  # allocated/idle/other/total
    proc = subprocess.run(["sbatch", "--cpus-per-task", str(cpus + 1), "--wrap", "true"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0 and "error" in proc.stderr
