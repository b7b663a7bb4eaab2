#!/usr/bin/env bash
# A one-node SLURM cluster on this (Debian, root, no systemd) machine, for running the workflow
# through the Snakemake SLURM executor plugin (workflow/profiles/slurm):
#   bash workflow/scripts/slurm_single_node.sh start             install slurm-wlm and munge if absent,
#                                                                 start munged, slurmctld and slurmd, wait
#                                                                 until the node is idle; leave them running
#   bash workflow/scripts/slurm_single_node.sh status            sinfo and squeue (finished jobs too)
#   bash workflow/scripts/slurm_single_node.sh stop              stop slurmd, slurmctld and munged
#   bash workflow/scripts/slurm_single_node.sh render-conf FILE  write the slurm.conf that start would use
# One node with this machine's CPUs (nproc) and its memory less some headroom; one partition (main).
# No accounting database: sacct has nothing to read. A job's final state stays visible to
# `squeue --states=all` for an hour (MinJobAge), and is appended to /var/log/slurm/jobcomp.log.
# Snakemake needs: --executor slurm --slurm-status-command squeue --default-resources slurm_partition=main
# (with sacct present but no database, the plugin's default status command, sacct, fails and the run
# waits for ever); no slurm_account is needed: the plugin's guess fails and it submits without one.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TEMPLATE=$HERE/slurm/slurm.conf.in
CONF=${SLURM_CONF:-/etc/slurm/slurm.conf}
PARTITION=main
MAX_TIME=2-00:00:00            # the longest wall time a job may ask for (two days: the profile's max_runtime 2880)
MIN_JOB_AGE=3600               # seconds a finished job stays visible to squeue and scontrol
STATE_DIR=/var/spool/slurm
LOG_DIR=/var/log/slurm
RUN_DIR=/run/slurm
MUNGE_KEY=/etc/munge/munge.key
START_WAIT_S=${SLURM_START_WAIT_S:-60}

die() {
    # One clear error line on stderr and a non-zero exit.
    echo "error: $*" >&2
    exit 1
}

usage() {
    # The commands this script takes.
    echo "error: expected one of: start, status, stop, render-conf OUTFILE (usage: bash $0 COMMAND)" >&2
    exit 2
}

need_root() {
    # Installing packages and starting daemons need root.
    [ "$(id -u)" -eq 0 ] || die "$1 must run as root (sudo bash $0 $1)"
}

slurm_user() {
    # The user slurmctld runs as: slurm (made by the Debian package) when it exists, else root.
    if id slurm >/dev/null 2>&1; then echo slurm; else echo root; fi
}

node_cpus() {
    # The CPUs this process may use (what nproc says).
    nproc
}

real_memory_mb() {
    # MemTotal in MB less a headroom for the system and the daemons: 10%, at least 512 MB.
    local total_mb headroom
    total_mb=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
    [ -n "$total_mb" ] || die "/proc/meminfo has no MemTotal line: cannot size the node's memory"
    headroom=$((total_mb / 10))
    [ "$headroom" -ge 512 ] || headroom=512
    [ "$total_mb" -gt "$headroom" ] || die "only ${total_mb} MB of memory: a node needs more than 512 MB"
    echo $((total_mb - headroom))
}

render_conf() {
    # Fill the template's @NAME@ fields and write the result to $1 (whole, or not at all).
    local out=$1 dir host cpus mem tmp
    [ -r "$TEMPLATE" ] || die "template $TEMPLATE is missing: restore it from the repository"
    dir=$(dirname "$out")
    [ -d "$dir" ] || die "folder $dir (for $out) does not exist: create it or give another OUTFILE"
    host=$(hostname -s)
    cpus=$(node_cpus)
    mem=$(real_memory_mb)
    tmp=$(mktemp "$dir/.slurm.conf.XXXXXX" 2>/dev/null) || die "cannot write in $dir (for $out): check its permissions"
    if ! sed -e "s|@HOST@|$host|g" -e "s|@CPUS@|$cpus|g" -e "s|@REAL_MEMORY@|$mem|g" \
        -e "s|@DEF_MEM_PER_CPU@|$((mem / cpus))|g" -e "s|@PARTITION@|$PARTITION|g" \
        -e "s|@MAX_TIME@|$MAX_TIME|g" -e "s|@MIN_JOB_AGE@|$MIN_JOB_AGE|g" \
        -e "s|@SLURM_USER@|$(slurm_user)|g" -e "s|@STATE_DIR@|$STATE_DIR|g" \
        -e "s|@LOG_DIR@|$LOG_DIR|g" -e "s|@RUN_DIR@|$RUN_DIR|g" "$TEMPLATE" > "$tmp"; then
        rm -f "$tmp"
        die "could not write $out"
    fi
    chmod 644 "$tmp"
    mv -f "$tmp" "$out"
}

install_packages() {
    # slurm-wlm (slurmctld, slurmd, the client commands) and munge, from apt, once.
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
        return
    fi
    echo "installing slurm-wlm and munge with apt-get"
    apt-get update -q || die "apt-get update failed: check the network and /etc/apt/sources.list"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge \
        || die "apt-get install slurm-wlm munge failed (see above)"
}

running() {
    # Whether the process named $2 whose pid is in file $1 is alive (a zombie is not).
    local pid
    [ -s "$1" ] || return 1
    pid=$(cat "$1" 2>/dev/null)
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] \
        && ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null
}

start_munge() {
    # A munge key (made once) and munged, which slurm uses to authenticate its messages.
    if [ ! -s "$MUNGE_KEY" ]; then
        echo "creating the munge key $MUNGE_KEY"
        mkdir -p "$(dirname "$MUNGE_KEY")"
        dd if=/dev/urandom bs=1 count=1024 of="$MUNGE_KEY" status=none
    fi
    chown munge:munge "$(dirname "$MUNGE_KEY")" "$MUNGE_KEY"
    chmod 700 "$(dirname "$MUNGE_KEY")"
    chmod 400 "$MUNGE_KEY"
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        runuser -u munge -- munged || die "munged did not start: see /var/log/munge/munged.log"
    fi
    munge -n | unmunge >/dev/null 2>&1 || die "munge does not answer: see /var/log/munge/munged.log"
}

start_daemon() {
    # Start daemon $1 (slurmctld or slurmd) unless it runs already.
    if running "$RUN_DIR/$1.pid" "$1"; then
        echo "$1 is already running (pid $(cat "$RUN_DIR/$1.pid"))"
        return
    fi
    "$1" || die "$1 did not start: see $LOG_DIR/$1.log"
}

node_state() {
    # The node's state as sinfo shows it (idle, mix, alloc, down*, ...), or nothing.
    sinfo -h -N -n "$(hostname -s)" -o %t 2>/dev/null | head -1
}

wait_idle() {
    # Wait (at most START_WAIT_S seconds) until the node takes jobs.
    local waited=0 state
    while [ "$waited" -lt "$START_WAIT_S" ]; do
        state=$(node_state)
        case $state in
            idle|mix|alloc) echo "node $(hostname -s) is $state"; return ;;
        esac
        sleep 1
        waited=$((waited + 1))
    done
    tail -n 5 "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log" >&2 || true
    die "the node is '${state:-not known to sinfo}' after ${START_WAIT_S} s, not idle: see $LOG_DIR/slurmctld.log and $LOG_DIR/slurmd.log"
}

start() {
    # Install, configure and start the whole cluster; leave it running.
    need_root start
    install_packages
    start_munge
    local user
    user=$(slurm_user)
    mkdir -p "$(dirname "$CONF")" "$STATE_DIR/slurmctld" "$STATE_DIR/slurmd" "$LOG_DIR" "$RUN_DIR"
    chown "$user" "$STATE_DIR/slurmctld" "$LOG_DIR" "$RUN_DIR"
    local before=""
    [ ! -f "$CONF" ] || before=$(cat "$CONF")
    render_conf "$CONF"
    echo "wrote $CONF"
    if [ "$before" != "$(cat "$CONF")" ] && { running "$RUN_DIR/slurmctld.pid" slurmctld \
        || running "$RUN_DIR/slurmd.pid" slurmd; }; then
        # scontrol reconfigure does not reload plugins: restart (running jobs go on, the state is kept)
        echo "$CONF changed: restarting slurmd and slurmctld"
        stop_daemon "$RUN_DIR/slurmd.pid" slurmd
        stop_daemon "$RUN_DIR/slurmctld.pid" slurmctld
    fi
    start_daemon slurmctld
    start_daemon slurmd
    wait_idle
    echo "logs: $LOG_DIR/slurmctld.log $LOG_DIR/slurmd.log; finished jobs: $LOG_DIR/jobcomp.log"
}

status() {
    # The node and every job slurmctld still knows, finished ones included.
    sinfo || die "sinfo does not answer: start the cluster with bash $0 start"
    squeue --states=all -o '%.8i %.9P %.20j %.10T %.10M %.4C %.8m %R'
    echo "logs: $LOG_DIR/slurmctld.log $LOG_DIR/slurmd.log; finished jobs: $LOG_DIR/jobcomp.log"
}

stop_daemon() {
    # Stop daemon $2 whose pid is in file $1, waiting at most 30 s.
    local waited=0
    if ! running "$1" "$2"; then
        echo "$2 is not running"
        return
    fi
    kill "$(cat "$1")"
    while running "$1" "$2"; do
        [ "$waited" -lt 30 ] || die "$2 (pid $(cat "$1")) did not stop within 30 s"
        sleep 1
        waited=$((waited + 1))
    done
    echo "stopped $2"
}

stop() {
    # Stop the daemons start started.
    need_root stop
    stop_daemon "$RUN_DIR/slurmd.pid" slurmd
    stop_daemon "$RUN_DIR/slurmctld.pid" slurmctld
    stop_daemon /run/munge/munged.pid munged
}

case ${1:-} in
    start) [ $# -eq 1 ] || usage; start ;;
    status) [ $# -eq 1 ] || usage; status ;;
    stop) [ $# -eq 1 ] || usage; stop ;;
    render-conf) [ $# -eq 2 ] || usage; render_conf "$2" ;;
    *) usage ;;
esac
