#!/usr/bin/env bash
# A single-node Slurm cluster on this machine (munge + slurmctld + slurmd, as
# root, cgroup v1 mode), for the Slurm runner's tests and benches.
#   scripts/slurm.sh start DIR   writes DIR/slurm.conf, starts the three daemons,
#                                waits until the node is idle, prints SLURM_CONF=...
#   scripts/slurm.sh stop DIR    stops them by the PIDs recorded in DIR
# Ports 6817/6818 (slurmctld/slurmd) are fixed: one cluster per machine.
# Configuration from ../shared/notes/machine-facts.md §1 (nothing goes to /etc/slurm).
set -euo pipefail
cmd=${1:?start|stop}; dir=$(realpath -m "${2:?DIR}")

stop_pid() {  # stop_pid FILE: TERM, wait, then KILL
  local f=$1 pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

if [ "$cmd" = stop ]; then
  stop_pid "$dir/slurmd.pid.run"
  stop_pid "$dir/slurmctld.pid.run"
  stop_pid "$dir/munged.pid.run"
  exit 0
fi
[ "$cmd" = start ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }

host=$(hostname -s)
cluster=atelier$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')  # tells our slurmctld from another one on the same ports
cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))
mkdir -p "$dir/state" "$dir/spool" "$dir/log"
cat > "$dir/slurm.conf" <<CONF
ClusterName=$cluster
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
ProctrackType=proctrack/cgroup
TaskPlugin=task/cgroup
JobAcctGatherType=jobacct_gather/cgroup
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.txt
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
SlurmctldPort=6817
SlurmdPort=6818
ReturnToService=2
MinJobAge=300
KillWait=5
SchedulerParameters=sched_interval=1,bf_interval=1
MessageTimeout=10
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
cat > "$dir/cgroup.conf" <<CONF
CgroupPlugin=cgroup/v1
CgroupMountpoint=/sys/fs/cgroup
ConstrainCores=yes
ConstrainRAMSpace=yes
ConstrainSwapSpace=yes
AllowedSwapSpace=0
CONF
export SLURM_CONF=$dir/slurm.conf

# munged: one per machine; reuse a running one.
if [ ! -S /run/munge/munge.socket.2 ] || ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
  setsid setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged --foreground > "$dir/log/munged.out" 2>&1 &
  echo $! > "$dir/munged.pid.run"
  for _ in $(seq 100); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.05; done
fi
setsid /usr/sbin/slurmctld -D -i > "$dir/log/slurmctld.out" 2>&1 &
echo $! > "$dir/slurmctld.pid.run"
setsid /usr/sbin/slurmd -D -N "$host" > "$dir/log/slurmd.out" 2>&1 &
echo $! > "$dir/slurmd.pid.run"
for _ in $(seq 300); do
  # Both daemons must be ours and alive: another cluster on these ports would answer sinfo too.
  for d in slurmctld slurmd; do
    kill -0 "$(cat "$dir/$d.pid.run")" 2>/dev/null || { echo "slurm: $d exited; see $dir/log" >&2; tail -n 5 "$dir/log/$d.log" >&2; "$0" stop "$dir"; exit 1; }
  done
  # (not `| grep -q`: with pipefail, scontrol's SIGPIPE would fail the test)
  if [ "$(sinfo -h -N -o %T 2>/dev/null)" = idle ] &&
     [[ "$(scontrol show config 2>/dev/null)" =~ ClusterName\ *=\ *$cluster($'\n'|$) ]]; then
    echo "SLURM_CONF=$SLURM_CONF"
    exit 0
  fi
  sleep 0.1
done
echo "slurm: the node did not become idle; see $dir/log" >&2
tail -n 5 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 || true
"$0" stop "$dir"
exit 1
