#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine, for `quarry sweep --executor slurm` and its tests.
#   scripts/slurm-up.sh      write /etc/slurm/slurm.conf for this host, start munged, slurmctld and slurmd
#                            (as root, no systemd) and wait until `sinfo` shows the node idle. Idempotent.
#   scripts/slurm-down.sh    stop them again.
# Needs Debian 12's slurm-wlm and munge (scripts/setup.sh --ci installs them) and root.
# Environment: QUARRY_SLURM_CONF (default /etc/slurm/slurm.conf), QUARRY_SLURM_TIMEOUT (seconds, default 60).
set -euo pipefail

conf="${QUARRY_SLURM_CONF:-/etc/slurm/slurm.conf}"
timeout="${QUARRY_SLURM_TIMEOUT:-60}"
marker="# Written by quarry scripts/slurm-up.sh"
say() { echo "slurm-up: $*"; }
die() { echo "slurm-up: error: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (the daemons run as root here); e.g. sudo $0"
for b in munged slurmctld slurmd sinfo scontrol; do
  command -v "$b" >/dev/null || die "'$b' not found; install slurm-wlm and munge (scripts/setup.sh --ci)"
done

host="$(hostname -s)"
cpus="$(nproc)"
mem_mb=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 }' /proc/meminfo)
# Leave some memory to the system so slurmd's own measurement never falls below what we declare.
real_mem=$(( mem_mb * 9 / 10 ))
[ "$real_mem" -ge 1 ] || real_mem=1

# --- munge -------------------------------------------------------------------------------------
if [ ! -s /etc/munge/munge.key ]; then
  say "creating /etc/munge/munge.key"
  mkdir -p /etc/munge
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
fi
munge_user=root
id munge >/dev/null 2>&1 && munge_user=munge
for d in /etc/munge /var/lib/munge /var/log/munge /run/munge; do
  mkdir -p "$d"
  chown "$munge_user:" "$d"
done
chmod 0700 /etc/munge /var/log/munge
chmod 0711 /var/lib/munge
chmod 0755 /run/munge
chown "$munge_user:" /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
  say "munged already running"
else
  say "starting munged (as $munge_user)"
  if [ "$munge_user" = root ]; then munged --force; else runuser -u munge -- munged; fi
  for _ in $(seq 1 20); do munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.5; done
  munge -n </dev/null | unmunge >/dev/null || die "munged does not answer (see /var/log/munge/munged.log)"
fi

# --- slurm.conf ----------------------------------------------------------------------------------
new_conf="$(cat <<EOF
$marker for host $host; rewritten on every run.
ClusterName=quarry
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
# Finished jobs stay visible to squeue/scontrol for a while (no accounting database here).
MinJobAge=300
MaxArraySize=10001
SchedulerType=sched/backfill
NodeName=$host CPUs=$cpus RealMemory=$real_mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
)"
mkdir -p "$(dirname "$conf")" /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
if [ -f "$conf" ] && ! grep -qF "$marker" "$conf"; then
  say "keeping a copy of the existing $conf as $conf.quarry-backup"
  cp -n "$conf" "$conf.quarry-backup"
fi
if [ -f "$conf" ] && [ "$(cat "$conf")" = "$new_conf" ]; then
  say "$conf is up to date (node $host, $cpus CPUs, ${real_mem} MB)"
  conf_changed=0
else
  printf '%s\n' "$new_conf" >"$conf"
  say "wrote $conf (node $host, $cpus CPUs, ${real_mem} MB, partition debug)"
  conf_changed=1
fi
export SLURM_CONF="$conf"

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# --- daemons -------------------------------------------------------------------------------------
if running /run/slurmctld.pid && [ "$conf_changed" = 1 ]; then
  say "configuration changed: restarting the daemons"
  "$(dirname "$0")/slurm-down.sh" >/dev/null
fi
if running /run/slurmctld.pid; then
  say "slurmctld already running (pid $(cat /run/slurmctld.pid))"
else
  say "starting slurmctld"
  slurmctld -f "$conf"
fi
if running /run/slurmd.pid; then
  say "slurmd already running (pid $(cat /run/slurmd.pid))"
else
  say "starting slurmd"
  slurmd -f "$conf"
fi

# --- wait for the node ---------------------------------------------------------------------------
state=""
for _ in $(seq 1 $((timeout * 2))); do
  state="$(sinfo -h -n "$host" -o '%t' 2>/dev/null | head -n1 || true)"
  case "$state" in
    idle|mix|alloc) break ;;
    down*|drain*|fail*) scontrol update NodeName="$host" State=RESUME >/dev/null 2>&1 || true ;;
  esac
  sleep 0.5
done
case "$state" in
  idle|mix|alloc) ;;
  *) die "node $host is '${state:-not reported}' after ${timeout}s (see /var/log/slurm/slurmctld.log and slurmd.log)" ;;
esac
say "ready: node $host is $state"
sinfo
