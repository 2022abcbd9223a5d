#!/usr/bin/env bash
# Install (if needed) and start a real single-node SLURM cluster on this machine,
# with accounting (slurmdbd + MariaDB) so that `sacct` works, two partitions
# (`cpu`, default, and `gpu`) and one fake GPU (gres gpu:1 backed by /dev/null).
#
# Made for CI containers: Debian 12, run as root, no systemd. Idempotent: if the
# cluster is already up, healthy and configured as this script would configure it,
# it exits 0 at once. Stop it with stop-slurm.sh.
#
# Environment knobs (all optional):
#   SLURM_CLUSTER_NAME   cluster name (default: ci)
#   SLURM_DEF_MEM_PER_CPU  DefMemPerCPU in MB (default: 1024)
#   SLURM_MEM_HEADROOM_MB  memory kept back from slurmd -C's RealMemory (default: 10%, at least 512)
#   SLURM_START_TIMEOUT  seconds to wait for each daemon / the node (default: 60)
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
export LC_ALL=C

CLUSTER="${SLURM_CLUSTER_NAME:-ci}"
DEF_MEM_PER_CPU="${SLURM_DEF_MEM_PER_CPU:-1024}"
TIMEOUT="${SLURM_START_TIMEOUT:-60}"

DB_NAME=slurm_acct_db
DB_USER=slurm
DB_PASS=slurm-ci-local   # local-only MariaDB (bound to 127.0.0.1); not a secret

ETC=/etc/slurm
LOGDIR=/var/log/slurm
STATEDIR=/var/lib/slurm/slurmctld
SPOOLDIR=/var/lib/slurm/slurmd
PACKAGES=(slurmctld slurmd slurm-client munge slurmdbd mariadb-server)

T0=${EPOCHREALTIME/[.,]/}
log()  { local d=$(( (${EPOCHREALTIME/[.,]/} - T0) / 100000 )); printf '[start-slurm %3d.%ds] %s\n' $((d / 10)) $((d % 10)) "$*"; }
die()  { printf '[start-slurm] ERROR: %s\n' "$*" >&2; exit 1; }

# Print the tail of a log file to stderr (for failure messages).
show_log() {
    local f=$1
    if [[ -f $f ]]; then
        echo "----- last lines of $f -----" >&2
        tail -n 25 "$f" >&2 || true
        echo "-----" >&2
    fi
}

[[ $(id -u) -eq 0 ]] || die "must run as root"

# ---------------------------------------------------------------- helpers
# pid of a daemon: from its pid file if that process is alive and has the right
# name, else the first process with exactly that command name.
daemon_pid() {
    local name=$1 pidfile=$2 pid
    if [[ -s $pidfile ]]; then
        pid=$(tr -dc '0-9' <"$pidfile")
        if [[ -n $pid ]] && [[ -r /proc/$pid/comm ]] && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name"* ]]; then
            echo "$pid"; return 0
        fi
    fi
    pid=$(pgrep -x "$name" 2>/dev/null | head -n1 || true)
    [[ -n $pid ]] && { echo "$pid"; return 0; }
    return 1
}
is_running() { daemon_pid "$1" "$2" >/dev/null; }

# wait_for DESCRIPTION COMMAND...: poll COMMAND until it succeeds or TIMEOUT passes.
wait_for() {
    local what=$1; shift
    local deadline=$(( $(date +%s) + TIMEOUT ))
    until "$@" >/dev/null 2>&1; do
        if (( $(date +%s) >= deadline )); then
            echo "[start-slurm] timed out after ${TIMEOUT}s waiting for: $what" >&2
            return 1
        fi
        sleep 0.3
    done
}

# stop_daemon NAME PIDFILE: SIGTERM, wait (slurmctld saves state), SIGKILL if needed.
stop_daemon() {
    local name=$1 pidfile=$2 pid
    pid=$(daemon_pid "$name" "$pidfile") || { rm -f "$pidfile"; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do   # up to 30 s (slurmctld saves its state first)
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    rm -f "$pidfile"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---------------------------------------------------------------- 1. packages
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep "install ok installed" >/dev/null || missing+=("$p")
done
if (( ${#missing[@]} )); then
    log "installing: ${missing[*]}"
    # Keep package maintainer scripts from starting daemons with default configs.
    created_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        created_policy=1
    fi
    install_pkgs() {
        apt-get install -y -q --no-install-recommends \
            -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
            "${missing[@]}" >/tmp/start-slurm-apt.log 2>&1
    }
    need_update=1
    # Only run `apt-get update` when the package lists are absent or the install fails.
    if compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null \
        && [[ $(apt-cache policy slurmctld 2>/dev/null) == *"Candidate: "[0-9]* ]]; then
        need_update=0
    fi
    ok=0
    if (( need_update == 0 )); then
        if install_pkgs; then
            ok=1
        else
            cp /tmp/start-slurm-apt.log /tmp/start-slurm-apt-first-try.log
            log "install failed with the current package lists ($(grep -m1 -E '^(E|Err):' /tmp/start-slurm-apt.log || tail -n1 /tmp/start-slurm-apt.log))"
        fi
    fi
    if (( ok == 0 )); then
        log "apt-get update"
        apt-get update -q >/tmp/start-slurm-apt.log 2>&1 || { show_log /tmp/start-slurm-apt.log; die "apt-get update failed"; }
        install_pkgs || { show_log /tmp/start-slurm-apt.log; die "apt-get install failed (log: /tmp/start-slurm-apt.log)"; }
    fi
    (( created_policy )) && rm -f /usr/sbin/policy-rc.d
    log "packages installed"
fi

# ---------------------------------------------------------------- 2. host / hardware
NODE=$(hostname -s)
[[ -n $NODE ]] || die "hostname -s is empty"
if ! getent hosts "$NODE" >/dev/null; then
    log "adding $NODE to /etc/hosts"
    echo "127.0.0.1 $NODE" >>/etc/hosts
fi
ADDR=127.0.0.1

HW=$(slurmd -C 2>/dev/null) || die "slurmd -C failed"
HW=${HW%%$'\n'*}
CPUS=$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$HW")
MEM=$(sed -n 's/.* RealMemory=\([0-9]*\).*/\1/p' <<<"$HW")
[[ -n $CPUS && -n $MEM ]] || die "could not parse 'slurmd -C' output: $HW"
HEADROOM="${SLURM_MEM_HEADROOM_MB:-$(( MEM / 10 > 512 ? MEM / 10 : 512 ))}"
MEM=$(( MEM - HEADROOM ))
(( MEM >= 256 )) || die "too little memory for a node (RealMemory after headroom: $MEM MB)"
(( DEF_MEM_PER_CPU * CPUS <= MEM )) || DEF_MEM_PER_CPU=$(( MEM / CPUS ))

# ---------------------------------------------------------------- 3. configs
getent passwd slurm >/dev/null || useradd --system --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin slurm
getent passwd munge >/dev/null || die "user munge missing (munge package broken?)"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

cat >"$TMP/slurm.conf" <<EOF
# Written by tests/slurm/start-slurm.sh -- single-node CI cluster.
ClusterName=$CLUSTER
SlurmctldHost=$NODE($ADDR)
SlurmUser=slurm
AuthType=auth/munge
CryptoType=crypto/munge
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$STATEDIR
SlurmdSpoolDir=$SPOOLDIR
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOGDIR/slurmctld.log
SlurmdLogFile=$LOGDIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
MpiDefault=none
SwitchType=switch/none
# No cgroups in containers: track processes through /proc, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
# A node that was down (e.g. restarted slurmd) comes back by itself.
ReturnToService=2
SlurmctldTimeout=60
SlurmdTimeout=120
InactiveLimit=0
KillWait=5
Waittime=0
# Keep finished jobs visible to squeue for 10 minutes.
MinJobAge=600
# Scheduling: jobs are tried at submission and whenever a job ends; these make the
# periodic passes frequent too, so nothing waits long on a 1-node cluster.
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_interval=5,sched_min_interval=0,bf_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without DefMemPerCPU a job with no --mem takes the whole node's memory.
DefMemPerCPU=$DEF_MEM_PER_CPU
GresTypes=gpu
# Accounting, so that sacct works (the Snakemake SLURM plugin polls it).
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=$NODE
AccountingStorageTRES=gres/gpu
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
JobCompType=jobcomp/none
NodeName=$NODE NodeAddr=$ADDR CPUs=$CPUS RealMemory=$MEM Gres=gpu:1 State=UNKNOWN
PartitionName=cpu Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$NODE Default=NO MaxTime=INFINITE State=UP
EOF

cat >"$TMP/gres.conf" <<EOF
# Fake GPU for scheduling tests: jobs get CUDA_VISIBLE_DEVICES=0, no real device.
AutoDetect=off
NodeName=$NODE Name=gpu Count=1 File=/dev/null
EOF

cat >"$TMP/cgroup.conf" <<EOF
# Not used (ProctrackType=proctrack/linuxproc, TaskPlugin=task/none); kept minimal.
CgroupPlugin=autodetect
EOF

cat >"$TMP/slurmdbd.conf" <<EOF
# Written by tests/slurm/start-slurm.sh
AuthType=auth/munge
DbdHost=$NODE
DbdAddr=$ADDR
DbdPort=6819
SlurmUser=slurm
PidFile=/run/slurmdbd.pid
LogFile=$LOGDIR/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=$DB_USER
StoragePass=$DB_PASS
StorageLoc=$DB_NAME
EOF

mkdir -p "$ETC"
changed_ctl=0 changed_dbd=0
for f in slurm.conf gres.conf cgroup.conf slurmdbd.conf; do
    if ! cmp -s "$TMP/$f" "$ETC/$f"; then
        case $f in slurmdbd.conf) changed_dbd=1 ;; *) changed_ctl=1 ;; esac
    fi
done

# ---------------------------------------------------------------- 4. fast path
healthy() {
    is_running munged /run/munge/munged.pid || return 1
    is_running mariadbd /run/mysqld/mysqld.pid || return 1
    is_running slurmdbd /run/slurmdbd.pid || return 1
    is_running slurmctld /run/slurmctld.pid || return 1
    is_running slurmd /run/slurmd.pid || return 1
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 || return 1
    local st
    st=$(timeout 10 sinfo -h -n "$NODE" -o '%T' 2>/dev/null | head -n1) || return 1
    [[ $st =~ ^(idle|mixed|allocated|completing)$ ]] || return 1
    timeout 10 sacct -n -X -S now-1minutes >/dev/null 2>&1 || return 1
}
if (( changed_ctl == 0 && changed_dbd == 0 )) && healthy; then
    log "SLURM already up and healthy (node $NODE: $(sinfo -h -n "$NODE" -o %T | head -n1)); nothing to do"
    exit 0
fi

for f in slurm.conf gres.conf cgroup.conf; do
    install -m 644 -o root -g root "$TMP/$f" "$ETC/$f"
done
install -m 600 -o slurm -g slurm "$TMP/slurmdbd.conf" "$ETC/slurmdbd.conf"
mkdir -p "$LOGDIR" "$STATEDIR" "$SPOOLDIR"
chown slurm:slurm "$LOGDIR" "$STATEDIR"
chmod 755 "$LOGDIR" "$STATEDIR"
log "configs written (node $NODE: CPUs=$CPUS RealMemory=$MEM DefMemPerCPU=$DEF_MEM_PER_CPU)"

# ---------------------------------------------------------------- 5. munge
if [[ ! -s /etc/munge/munge.key ]]; then
    log "creating munge key"
    mkdir -p /etc/munge
    if command -v mungekey >/dev/null; then
        mungekey --create --keyfile=/etc/munge/munge.key --force
    else
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
fi
chown munge:munge /etc/munge /etc/munge/munge.key
chmod 700 /etc/munge
chmod 400 /etc/munge/munge.key
mkdir -p /run/munge /var/lib/munge /var/log/munge
chown munge:munge /run/munge /var/lib/munge /var/log/munge
chmod 755 /run/munge
if ! is_running munged /run/munge/munged.pid; then
    log "starting munged"
    rm -f /run/munge/munged.pid /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock
    runuser -u munge -- /usr/sbin/munged || { show_log /var/log/munge/munged.log; die "munged failed to start"; }
fi
wait_for "munge round trip" bash -c 'munge -n | unmunge' || { show_log /var/log/munge/munged.log; die "munge does not work"; }
log "munged ok"

# ---------------------------------------------------------------- 6. MariaDB + accounting DB
if ! is_running mariadbd /run/mysqld/mysqld.pid; then
    log "starting MariaDB"
    /etc/init.d/mariadb start >/tmp/start-slurm-mariadb.log 2>&1 \
        || { cat /tmp/start-slurm-mariadb.log >&2; show_log /var/log/mysql/error.log; die "MariaDB failed to start"; }
fi
wait_for "MariaDB" mysqladmin --protocol=socket ping || die "MariaDB does not answer"
mysql --protocol=socket -u root <<EOF || die "could not create the accounting database/user"
CREATE DATABASE IF NOT EXISTS $DB_NAME;
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASS';
ALTER USER '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON $DB_NAME.* TO '$DB_USER'@'localhost';
FLUSH PRIVILEGES;
EOF
log "MariaDB ok (database $DB_NAME)"

# ---------------------------------------------------------------- 7. slurmdbd
if (( changed_dbd )) && is_running slurmdbd /run/slurmdbd.pid; then
    log "slurmdbd.conf changed: restarting slurmdbd"
    stop_daemon slurmdbd /run/slurmdbd.pid
fi
if ! is_running slurmdbd /run/slurmdbd.pid; then
    log "starting slurmdbd"
    rm -f /run/slurmdbd.pid
    slurmdbd || { show_log "$LOGDIR/slurmdbd.log"; die "slurmdbd failed to start"; }
fi
# First start creates the tables, which takes a few seconds.
wait_for "slurmdbd on port 6819" port_open 6819 || { show_log "$LOGDIR/slurmdbd.log"; die "slurmdbd does not listen"; }
wait_for "sacctmgr talking to slurmdbd" sacctmgr -n list cluster || { show_log "$LOGDIR/slurmdbd.log"; die "sacctmgr cannot reach slurmdbd"; }
log "slurmdbd ok"

# Register the cluster (this also creates the `root` account and user). Associations
# are not enforced, so jobs of any user are accepted and recorded.
if ! sacctmgr -n -P list cluster format=cluster | grep -x "$CLUSTER" >/dev/null; then
    sacctmgr -i add cluster "$CLUSTER" >/dev/null || die "sacctmgr add cluster failed"
fi
log "accounting: cluster $CLUSTER registered"

# ---------------------------------------------------------------- 8. slurmctld + slurmd
if (( changed_ctl )); then
    if is_running slurmd /run/slurmd.pid || is_running slurmctld /run/slurmctld.pid; then
        log "slurm.conf/gres.conf changed: restarting slurmctld and slurmd"
    fi
    stop_daemon slurmd /run/slurmd.pid
    stop_daemon slurmctld /run/slurmctld.pid
fi
if ! is_running slurmctld /run/slurmctld.pid; then
    log "starting slurmctld"
    rm -f /run/slurmctld.pid
    slurmctld || { show_log "$LOGDIR/slurmctld.log"; die "slurmctld failed to start"; }
fi
wait_for "slurmctld (scontrol ping)" bash -c 'scontrol ping | grep -q UP' \
    || { show_log "$LOGDIR/slurmctld.log"; die "slurmctld does not answer"; }
log "slurmctld ok"

SLURMD_T0=0
if ! is_running slurmd /run/slurmd.pid; then
    log "starting slurmd"
    rm -f /run/slurmd.pid
    SLURMD_T0=$(( $(date +%s) - 2 ))
    slurmd || { show_log "$LOGDIR/slurmd.log"; die "slurmd failed to start"; }
fi

# After a restart slurmctld may show the node idle from its saved state before
# slurmd has registered: also wait for the registration of the slurmd we started.
node_registered() {
    local t
    t=$(timeout 10 scontrol -o show node "$NODE" 2>/dev/null | grep -o 'SlurmdStartTime=[^ ]*' | cut -d= -f2)
    [[ -n $t && $t != None ]] && (( $(date -d "$t" +%s) >= SLURMD_T0 ))
}

node_state() { timeout 10 sinfo -h -n "$NODE" -o '%T' 2>/dev/null | head -n1; }
node_usable() { [[ $(node_state) =~ ^(idle|mixed|allocated|completing)$ ]] && node_registered; }
deadline=$(( $(date +%s) + TIMEOUT ))
until node_usable; do
    st=$(node_state || true)
    # A node left drained/down by an earlier run (or a reboot) is resumed.
    if [[ $st =~ (drain|down|fail) && ! $st =~ \*$ ]]; then
        scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true
    fi
    if (( $(date +%s) >= deadline )); then
        scontrol show node "$NODE" >&2 || true
        show_log "$LOGDIR/slurmd.log"; show_log "$LOGDIR/slurmctld.log"
        die "node $NODE not idle after ${TIMEOUT}s (state: ${st:-unknown})"
    fi
    sleep 0.3
done
timeout 10 sacct -n -X -S now-1minutes >/dev/null || die "sacct does not work"

log "SLURM is up:"
sinfo
