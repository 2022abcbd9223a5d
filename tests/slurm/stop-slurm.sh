#!/usr/bin/env bash
# Stop the single-node SLURM cluster started by start-slurm.sh: cancel all jobs,
# stop slurmd, slurmctld, slurmdbd, MariaDB and munged, remove stale pid files.
# Idempotent: does nothing (and exits 0) when nothing is running or installed.
# Packages, configs, the munge key and the accounting database are kept, so a
# following start-slurm.sh is quick.
set -uo pipefail
export LC_ALL=C

log() { printf '[stop-slurm] %s\n' "$*"; }
[[ $(id -u) -eq 0 ]] || { echo "[stop-slurm] ERROR: must run as root" >&2; exit 1; }

# pid of a daemon: from its pid file if alive with the right name, else the first
# process with exactly that command name.
daemon_pid() {
    local name=$1 pidfile=$2 pid
    if [[ -s $pidfile ]]; then
        pid=$(tr -dc '0-9' <"$pidfile")
        if [[ -n $pid ]] && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name"* ]]; then
            echo "$pid"; return 0
        fi
    fi
    pid=$(pgrep -x "$name" 2>/dev/null | head -n1 || true)
    [[ -n $pid ]] && { echo "$pid"; return 0; }
    return 1
}

# stop_daemon NAME PIDFILE [SECONDS]: SIGTERM, wait, SIGKILL if still alive.
stop_daemon() {
    local name=$1 pidfile=$2 secs=${3:-30} pid i
    while pid=$(daemon_pid "$name" "$pidfile"); do
        log "stopping $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null
        for (( i = 0; i < secs * 5; i++ )); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "$name did not exit after ${secs}s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null
            sleep 0.5
        fi
    done
    rm -f "$pidfile"
}

# 1. Cancel all jobs while slurmctld still answers.
if command -v squeue >/dev/null && daemon_pid slurmctld /run/slurmctld.pid >/dev/null; then
    jobs=$(timeout 10 squeue -h -t PENDING,RUNNING,SUSPENDED,COMPLETING,CONFIGURING -o %A 2>/dev/null | sort -u || true)
    if [[ -n $jobs ]]; then
        log "cancelling jobs: ${jobs//$'\n'/ }"
        # shellcheck disable=SC2086
        timeout 10 scancel $jobs 2>/dev/null || true
        for _ in $(seq 1 50); do   # up to ~10 s for them to end
            [[ -z $(timeout 5 squeue -h -t PENDING,RUNNING,SUSPENDED,COMPLETING,CONFIGURING -o %A 2>/dev/null) ]] && break
            sleep 0.2
        done
    fi
fi

# 2. Daemons, from the compute side down to munge.
stop_daemon slurmd /run/slurmd.pid 20
# Job step daemons left behind (e.g. jobs that did not end in time).
for pid in $(pgrep -x slurmstepd 2>/dev/null); do
    log "killing leftover slurmstepd (pid $pid)"
    kill -KILL "$pid" 2>/dev/null || true
done
stop_daemon slurmctld /run/slurmctld.pid 30   # saves its state on SIGTERM (a few seconds)
stop_daemon slurmdbd /run/slurmdbd.pid 30

if daemon_pid mariadbd /run/mysqld/mysqld.pid >/dev/null; then
    log "stopping MariaDB"
    if [[ -x /etc/init.d/mariadb ]]; then
        /etc/init.d/mariadb stop >/dev/null 2>&1 || true
    fi
    stop_daemon mariadbd /run/mysqld/mysqld.pid 60   # fallback if the init script did not
fi
rm -f /run/mysqld/mysqld.pid

stop_daemon munged /run/munge/munged.pid 10

# 3. Stale pid files / sockets (a stale /run/slurmctld.pid breaks the package's removal script).
rm -f /run/slurmctld.pid /run/slurmd.pid /run/slurmdbd.pid /var/run/slurmctld.pid \
      /var/run/slurmd.pid /var/run/slurmdbd.pid /run/munge/munged.pid \
      /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock
log "SLURM stopped"
