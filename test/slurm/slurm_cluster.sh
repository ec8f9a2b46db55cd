#!/usr/bin/env bash
# A one-node Slurm cluster on loopback for the slurm-labelled tests: munged, slurmctld and slurmd,
# configuration, logs and pid files under one directory, stopped again by `stop`. What holds unix
# sockets (slurmd's spool, where slurmstepd makes its socket; munge's; PMIx's) lives under a short
# directory in /tmp instead, named in DIR/runtime-dir and removed by `stop`: a socket path must fit
# in 108 bytes, and build directories on scratch file systems are deep.
# The nodes (MANTA_SLURM_NODES, default 2) are slurmd daemons on this machine, each with its own
# name and port, so multi-node and heterogeneous jobs run for real on one machine.
# Usage: slurm_cluster.sh start DIR   (prints `export SLURM_CONF=...` for the caller to eval;
#                                     exits 77 where the nodes cannot be set up here)
#        slurm_cluster.sh stop DIR
set -euo pipefail

cmd=${1:?usage: slurm_cluster.sh start|stop DIR}
dir=${2:?usage: slurm_cluster.sh start|stop DIR}

stop_daemons() {
  # Stop only the daemons this directory's pid files name: never someone else's Slurm.
  for f in "$dir"/slurmd-*.pid "$dir"/slurmctld.pid "$dir"/munged.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f" 2>/dev/null || true)
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  for f in "$dir"/slurmd-*.pid "$dir"/slurmctld.pid "$dir"/munged.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f" 2>/dev/null || true)
    for _ in $(seq 50); do
      [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
    rm -f "$f"
  done
}

# Processes of this cluster's jobs that outlived them (a stuck srun, say): their environment has
# a job id and names this directory's slurm.conf (the caller's has no job id).
stop_job_processes() {
  local p env
  for p in /proc/[0-9]*; do
    env=$({ tr '\0' '\n' <"$p/environ"; } 2>/dev/null) || continue
    if grep -qx "SLURM_CONF=$dir/slurm.conf" <<<"$env" && grep -q "^SLURM_JOB_ID=" <<<"$env"; then
      kill -9 "${p#/proc/}" 2>/dev/null || true
    fi
  done
}

# The short directory of sockets and spool, made by start.
remove_runtime_dir() {
  local run
  run=$(cat "$dir/runtime-dir" 2>/dev/null) || return 0
  case $run in /tmp/manta-slurm.*) rm -rf "$run" ;; esac
  rm -f "$dir/runtime-dir"
}

if [ "$cmd" = stop ]; then
  stop_daemons
  stop_job_processes
  remove_runtime_dir
  exit 0
fi
[ "$cmd" = start ] || { echo "slurm_cluster.sh: unknown command '$cmd' (start or stop)" >&2; exit 2; }

for tool in munged slurmctld slurmd sbatch; do
  command -v "$tool" >/dev/null || PATH=$PATH:/usr/sbin
  command -v "$tool" >/dev/null || {
    echo "slurm_cluster.sh: $tool not found; install it: apt-get install slurm-wlm munge" >&2
    exit 2
  }
done

nodes=${MANTA_SLURM_NODES:-2}
# The nodes need mount namespaces of their own (see below); say so plainly where there are none,
# e.g. in a chroot whose root is not a mount point.
if [ "$(id -u)" -eq 0 ] && [ "$nodes" -gt 1 ] &&
  ! why=$(unshare --mount --propagation private true 2>&1); then
  echo "slurm_cluster.sh: cannot give each node a private mount namespace ($why); in a chroot," \
    "bind-mount its root onto itself first, or set MANTA_SLURM_NODES=1" >&2
  exit 77
fi

# Whatever this start leaves running when it fails is stopped again.
trap 'stop_daemons; remove_runtime_dir' EXIT
mkdir -p "$dir"
run=$(mktemp -d /tmp/manta-slurm.XXXXXX) || {
  echo "slurm_cluster.sh: cannot make a directory in /tmp for the cluster's sockets" >&2
  exit 1
}
echo "$run" >"$dir/runtime-dir"
# The longest socket is slurmstepd's, <spool>/<node>/<node>_<job>.<step>: about 50 bytes past $run.
if [ $((${#run} + 60)) -gt 107 ]; then
  echo "slurm_cluster.sh: $run is too long for unix socket paths (108 bytes at most)" >&2
  exit 1
fi
mkdir -p "$run"/state "$run"/spool "$run"/munge
chmod 700 "$run"/munge
host=$(hostname -s)
cpus=$(nproc)
mem_mb=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
# Ports from the pid, so two test runs on one machine do not meet.
base=$((20000 + ($$ % 20000)))

# munge: its own key and socket, so a site's munged is left alone.
dd if=/dev/urandom of="$run"/munge/munge.key bs=1 count=1024 status=none
chmod 400 "$run"/munge/munge.key
munged --force --key-file="$run"/munge/munge.key --socket="$run"/munge/socket \
  --pid-file="$dir"/munged.pid --log-file="$dir"/munged.log --seed-file="$run"/munge/seed

cat >"$dir"/slurm.conf <<CONF
ClusterName=manta-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$base
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$run/munge/socket,cred_expire=10
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$run/state
SlurmdSpoolDir=$run/spool/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd-%n.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
# Heterogeneous jobs start only from the backfill scheduler: look every second.
SchedulerParameters=bf_interval=1
DefMemPerCPU=512
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
KillWait=5
MinJobAge=30
CONF
names=()
for i in $(seq "$nodes"); do
  names+=("manta-n$i")
  echo "NodeName=manta-n$i NodeHostname=$host NodeAddr=127.0.0.1 Port=$((base + 1 + i)) CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN" >>"$dir"/slurm.conf
done
nodelist=$(IFS=,; echo "${names[*]}")
echo "PartitionName=debug Nodes=$nodelist Default=YES MaxTime=INFINITE State=UP" >>"$dir"/slurm.conf
export SLURM_CONF="$dir"/slurm.conf
slurmctld -f "$SLURM_CONF"
# Slurm's PMIx plugin puts each node's step socket under the spool directory without expanding
# %n, so nodes that share a machine would share one socket path. Each slurmd therefore runs in a
# mount namespace of its own in which that literal path is its node's directory.
# The same holds for the PMIx clients' directory (mpi.conf), which is /tmp by default.
mkdir -p "$run/spool/%n" "$run/pmix"
echo "PMIxCliTmpDirBase=$run/pmix" >"$dir"/mpi.conf
for n in "${names[@]}"; do
  mkdir -p "$run/spool/$n" "$run/pmix-$n"
  if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null; then
    unshare --mount --propagation private sh -c \
      'mount --bind "$1" "$2" && mount --bind "$3" "$4" && exec slurmd -f "$5" -N "$6"' sh \
      "$run/spool/$n" "$run/spool/%n" "$run/pmix-$n" "$run/pmix" "$SLURM_CONF" "$n"
  else
    slurmd -f "$SLURM_CONF" -N "$n"
  fi
done

# Ready once every node is idle.
for _ in $(seq 150); do
  state=$(sinfo -h -N -o '%t' 2>/dev/null | sort -u | tr '\n' ' ' || true)
  [ "$state" = "idle " ] && break
  sleep 0.2
done
case "$state" in
  "idle ") ;;
  *)
    echo "slurm_cluster.sh: the nodes did not come up (states '$state'); logs in $dir" >&2
    tail -n 20 "$dir"/slurmctld.log "$dir"/slurmd-*.log >&2 || true
    stop_daemons
    exit 1
    ;;
esac
trap - EXIT
echo "export SLURM_CONF=$SLURM_CONF"
