#!/usr/bin/env bash
# A one-node SLURM on this machine (Debian), for Unitscope's cluster tests and for trying
# `unitscope submit` without a cluster.  Run as root:
#
#   packaging/slurm/local_slurm.sh start    # install (if missing), configure, start; wait for the node
#   packaging/slurm/local_slurm.sh stop     # stop slurmd, slurmctld and munge
#   packaging/slurm/local_slurm.sh status
#
# `start` is idempotent: packages are installed only when missing, the configuration is
# rewritten (sized to this machine's cores and memory), and daemons already running are
# left alone.  When the node is idle it writes /etc/slurm/unitscope-local-slurm (the
# marker that makes the cluster tests fail, not skip, if SLURM stops working).
set -euo pipefail

CONF_DIR=/etc/slurm
MARKER=$CONF_DIR/unitscope-local-slurm
STATE=/var/spool/slurmctld
SPOOL=/var/spool/slurmd
LOGS=/var/log/slurm

need_root() {
    if [ "$(id -u)" != 0 ]; then
        echo "local_slurm.sh: run as root (it installs packages and starts daemons)" >&2
        exit 2
    fi
}

install_packages() {
    local missing=()
    for cmd in munged slurmctld slurmd sinfo sbatch; do
        command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "local_slurm.sh: installing slurm-wlm, slurmctld, slurmd, munge (missing: ${missing[*]})"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends slurm-wlm slurmctld slurmd slurm-client munge >/dev/null
    fi
}

write_config() {
    local host cpus mem_mb
    host=$(hostname -s)
    cpus=$(nproc)
    # RealMemory a little under the machine's total, so slurmd's own check accepts it.
    mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))
    mkdir -p "$CONF_DIR" "$STATE" "$SPOOL" "$LOGS"
    cat > "$CONF_DIR/slurm.conf" <<CONF
# Written by Unitscope's packaging/slurm/local_slurm.sh: one node, this machine.
ClusterName=unitscope-local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
StateSaveLocation=$STATE
SlurmdSpoolDir=$SPOOL
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# Fast turn-around for small test jobs: schedule at once, short timeouts, no accounting.
SchedulerType=sched/builtin
SchedulerParameters=sched_interval=1,defer_batch=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
InactiveLimit=0
KillWait=2
MinJobAge=300
MessageTimeout=10
SlurmctldTimeout=30
SlurmdTimeout=30
Waittime=0
MaxArraySize=10001
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
    echo "local_slurm.sh: $CONF_DIR/slurm.conf: node $host, $cpus CPUs, $mem_mb MB"
}

# The pid of daemon $1 (munged, slurmctld, slurmd) from its pid file, if that process runs.
pid_of() {
    local file pid
    case "$1" in
        munged) file=/run/munge/munged.pid ;;
        slurmctld) file=/run/slurmctld.pid ;;
        slurmd) file=/run/slurmd.pid ;;
    esac
    [ -s "$file" ] || return 1
    pid=$(cat "$file" 2>/dev/null) || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] || return 1
    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] || return 1
    echo "$pid"
}

running() { pid_of "$1" >/dev/null; }

start_munge() {
    if running munged; then return; fi
    if [ ! -s /etc/munge/munge.key ]; then
        mkdir -p /etc/munge
        dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
    fi
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    if id munge >/dev/null 2>&1; then
        chown munge:munge /etc/munge /etc/munge/munge.key /run/munge /var/log/munge /var/lib/munge
        chmod 0400 /etc/munge/munge.key
        runuser -u munge -- /usr/sbin/munged
    else
        chmod 0400 /etc/munge/munge.key
        /usr/sbin/munged --force
    fi
}

wait_for_idle() {
    local i state
    for i in $(seq 1 60); do
        state=$(sinfo -h -N -o '%t' 2>/dev/null | head -n 1 || true)
        case "$state" in
            idle|mix|alloc) echo "local_slurm.sh: node $(hostname -s) is $state"; return 0 ;;
            down*|drain*|fail*) scontrol update NodeName="$(hostname -s)" State=RESUME >/dev/null 2>&1 || true ;;
        esac
        sleep 1
    done
    echo "local_slurm.sh: the node did not become idle in 60 s; see $LOGS/slurmctld.log and $LOGS/slurmd.log" >&2
    sinfo -N >&2 || true
    return 1
}

start() {
    need_root
    install_packages
    write_config
    start_munge
    if running slurmctld; then scontrol reconfigure >/dev/null 2>&1 || true; else slurmctld; fi
    running slurmd || slurmd
    wait_for_idle
    echo "$(hostname -s)" > "$MARKER"
}

stop() {
    need_root
    rm -f "$MARKER"
    local name pid
    for name in slurmd slurmctld munged; do
        if pid=$(pid_of "$name"); then kill "$pid" || true; fi
    done
    for _ in $(seq 1 20); do
        running slurmd || running slurmctld || running munged || { echo "local_slurm.sh: stopped"; return 0; }
        sleep 0.5
    done
    echo "local_slurm.sh: some daemons still run" >&2
    return 1
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) sinfo -N 2>/dev/null || { echo "local_slurm.sh: not running"; exit 1; } ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
