#!/usr/bin/env bash
# The default experiment (config.yaml) through the SLURM profile, end to end, on a running cluster
# (workflow/scripts/slurm_single_node.sh start), from the project's root with its .venv; then a record
# under OUT (default docs/measured/slurm-<date>): the command, Snakemake's log, every job's final state as
# SLURM tells it (squeue --states=all, filtered to this run's ID; the jobcomp file where it exists), the
# tables, and the run's exit status.
#   bash workflow/scripts/slurm_record_run.sh [OUT]
# The one-node cluster has no accounting database, so the plugin is told to ask squeue; its 2 CPUs and
# memory cap what a job may ask (max-threads, max_mem_mb; max_runtime stays the profile's).
set -uo pipefail
out=${1:-docs/measured/slurm-$(date -u +%Y-%m-%d)}
if ! sinfo -h >/dev/null 2>&1; then
    echo "error: no SLURM cluster answers (sinfo); start one: bash workflow/scripts/slurm_single_node.sh start" >&2
    exit 2
fi
[ -x .venv/bin/snakemake ] || { echo "error: no .venv/bin/snakemake here: run make setup first" >&2; exit 2; }
export PATH="$PWD/.venv/bin:$PATH"
mkdir -p "$out"
cpus=$(sinfo -h -o %c | head -n1)
mem=$(sinfo -h -o %m | head -n1)
cmd=(snakemake all --profile workflow/profiles/slurm --slurm-status-command squeue
     --slurm-init-seconds-before-status-checks 10 --max-threads "$cpus"
     --config max_runtime=2880 "max_mem_mb=$mem")
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
{
    echo "# command (from the project's root, $(git rev-parse --short HEAD 2>/dev/null || echo 'no git'))"
    echo "${cmd[*]}"
    echo "# started $started on $(hostname -s): $(nproc) CPUs, sinfo: $cpus CPUs, $mem MB"
} > "$out/command.txt"
start_s=$(date +%s)
"${cmd[@]}" > "$out/snakemake.log" 2>&1
rc=$?
echo "# exit $rc after $(( $(date +%s) - start_s )) s" >> "$out/command.txt"
run_id=$(sed -n 's/.*SLURM run ID: \(\S*\).*/\1/p' "$out/snakemake.log" | head -n1)
{
    echo "jobid|rule|state|elapsed|cpus|min_memory"
    squeue --states=all -h --name "$run_id" -o '%i|%k|%T|%M|%C|%m' 2>/dev/null | sort -n
} > "$out/jobs.psv"
# each job's exit code and times: the jobcomp file, where the cluster keeps one
comp=$(scontrol show config 2>/dev/null | sed -n 's/^JobCompLoc *= *//p')
if [ -n "$comp" ] && [ -f "$comp" ]; then
    ids=$(cut -d'|' -f1 "$out/jobs.psv" | tail -n +2 | tr '\n' ' ')
    for id in $ids; do grep -E "^JobId=$id " "$comp"; done > "$out/jobcomp.txt"
fi
for f in table.md left_out.md job_costs.md; do
    [ -f "results/mini-default/$f" ] && cp "results/mini-default/$f" "$out/$f"
done
echo "run ID $run_id, exit $rc; record in $out"
exit "$rc"
