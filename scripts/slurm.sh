#!/usr/bin/env bash
# A Slurm cluster on this machine (munge + slurmctld + slurmd, as root, cgroup
# v1 mode), for the Slurm runner's tests and benches.
#   scripts/slurm.sh start DIR [NODES]  writes DIR/slurm.conf, starts the daemons
#                                       (NODES slurmd on this host, default 1, each
#                                       offering every core), waits until every node
#                                       is idle, prints SLURM_CONF=...
#   scripts/slurm.sh stop DIR           stops them by the PIDs recorded in DIR
# Ports 6817 (slurmctld) and 6818.. (one a slurmd) are fixed: one cluster per machine.
# All configuration lives in DIR (nothing goes to /etc/slurm).
set -euo pipefail
cmd=${1:?start|stop}; dir=$(realpath -m "${2:?DIR}"); nodes=${3:-1}

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
  for f in "$dir"/slurmd*.pid.run; do stop_pid "$f"; done
  stop_pid "$dir/slurmctld.pid.run"
  stop_pid "$dir/munged.pid.run"
  exit 0
fi
[ "$cmd" = start ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }

host=$(hostname -s)
cluster=atelier$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')  # tells our slurmctld from another one on the same ports
cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 / nodes ))
if [ "$nodes" = 1 ]; then
  names=("$host")
  node_lines="NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN"
else  # several slurmd on this host, told apart by name and port
  names=() node_lines=""
  for i in $(seq "$nodes"); do
    names+=("node$i")
    node_lines+="NodeName=node$i NodeHostname=$host NodeAddr=127.0.0.1 Port=$((6817 + i)) CPUs=$cpus RealMemory=$mem State=UNKNOWN"$'\n'
  done
fi
mkdir -p "$dir/state" "$dir/log"
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
SlurmdSpoolDir=$dir/spool-%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd-%n.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
SlurmctldPort=6817
SlurmdPort=6818
ReturnToService=2
MinJobAge=300
KillWait=5
SchedulerParameters=sched_interval=1,bf_interval=1
MessageTimeout=10
$node_lines
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
for n in "${names[@]}"; do
  setsid /usr/sbin/slurmd -D -N "$n" > "$dir/log/slurmd-$n.out" 2>&1 &
  echo $! > "$dir/slurmd-$n.pid.run"
done
deadline=$((SECONDS + 60))
while ((SECONDS < deadline)); do
  # Both daemons must be ours and alive: another cluster on these ports would answer sinfo too.
  for f in "$dir"/slurmctld.pid.run "$dir"/slurmd-*.pid.run; do
    kill -0 "$(cat "$f")" 2>/dev/null || { echo "slurm: $(basename "$f" .pid.run) exited; see $dir/log" >&2; tail -n 5 "$dir"/log/* >&2 || true; "$0" stop "$dir"; exit 1; }
  done
  # (not `| grep -q`: with pipefail, scontrol's SIGPIPE would fail the test)
  if [ "$(timeout 5 sinfo -h -N -o %T 2>/dev/null | sort -u)" = idle ] &&
     [[ "$(timeout 5 scontrol show config 2>/dev/null)" =~ ClusterName\ *=\ *$cluster($'\n'|$) ]]; then
    echo "SLURM_CONF=$SLURM_CONF"
    exit 0
  fi
  sleep 0.1
done
echo "slurm: the nodes did not become idle; see $dir/log" >&2
tail -n 5 "$dir"/log/* >&2 || true
"$0" stop "$dir"
exit 1
