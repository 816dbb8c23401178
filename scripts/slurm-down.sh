#!/usr/bin/env bash
# Stop the single-node Slurm started by scripts/slurm-up.sh: slurmd, slurmctld, then munged.
#   scripts/slurm-down.sh            stop all three
#   scripts/slurm-down.sh --keep-munge   leave munged running
# Jobs still running are killed with slurmd; their sweep cells resume when submitted again.
set -euo pipefail
keep_munge=0
[ "${1:-}" = "--keep-munge" ] && keep_munge=1
say() { echo "slurm-down: $*"; }

stop() {  # name pidfile
  local name="$1" pidfile="$2" pid
  if [ -f "$pidfile" ] && pid="$(cat "$pidfile")" && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
    rm -f "$pidfile"
    say "stopped $name (pid $pid)"
  else
    rm -f "$pidfile"
    say "$name not running"
  fi
}

stop slurmd /run/slurmd.pid
stop slurmctld /run/slurmctld.pid
if [ "$keep_munge" = 0 ]; then
  stop munged /run/munge/munged.pid
fi
