#!/usr/bin/env bash
# Submits slurm/'s job templates to a real Slurm: two slurmd nodes on this machine (see
# slurm_cluster.sh), jobs scaled down to them with sbatch options, each job's output and exit code
# checked. Installs Slurm and munge from Debian when they are missing (root only); exits 77 (skip)
# where that cannot be done.
# Usage: run_slurm_tests.sh BUILD_DIR SOURCE_DIR
set -uo pipefail

build=$(cd "${1:?usage: run_slurm_tests.sh BUILD_DIR SOURCE_DIR}" && pwd)
src=$(cd "${2:?usage: run_slurm_tests.sh BUILD_DIR SOURCE_DIR}" && pwd)
PATH=$PATH:/usr/sbin:/sbin

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: slurmd must run as root to start jobs; run the slurm tests as root"
  exit 77
fi
if ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  echo "installing slurm-wlm and munge from Debian"
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -q && apt-get install -y -q --no-install-recommends slurm-wlm munge; } >/dev/null; then
    echo "SKIP: slurm-wlm and munge could not be installed (apt-get install slurm-wlm munge)"
    exit 77
  fi
fi

work=$build/slurm-test
rm -rf "$work"
mkdir -p "$work"
cd "$work" || exit 1
trap 'bash "$src/test/slurm/slurm_cluster.sh" stop "$work/cluster"' EXIT
setup=$(bash "$src/test/slurm/slurm_cluster.sh" start "$work/cluster")
case $? in
  0) ;;
  77) echo "SKIP: the two-node test cluster cannot be set up on this machine (see above)"; exit 77 ;;
  *) echo "FAIL: the test cluster did not start"; exit 1 ;;
esac
eval "$setup"

export MANTA=$build/launch/manta MANTA_JOB_ROOT=$work/jobs
# srun (Slurm 22.05) can stay after a heterogeneous step whose ranks all ended; manta run stops it
# after this many seconds (reported below when it happens).
export MANTA_EXIT_GRACE=3
examples=$build/examples
passed=0
failed=0
pass() { echo "PASS: $1"; passed=$((passed + 1)); }
fail() {
  echo "FAIL: $1"
  [ -n "${2:-}" ] && [ -f "$2" ] && sed 's/^/    | /' "$2"
  failed=$((failed + 1))
}
# expect NAME OUTPUT_FILE EXIT_CODE WANTED_CODE PATTERN...: the job ended as wanted, every
# pattern is in its output.
expect() {
  local name=$1 out=$2 code=$3 want=$4
  shift 4
  if [ "$want" = zero ] && [ "$code" -ne 0 ]; then fail "$name: exit code $code" "$out"; return; fi
  if [ "$want" = nonzero ] && [ "$code" -eq 0 ]; then fail "$name: exit code 0, wanted a failure" "$out"; return; fi
  for p in "$@"; do
    grep -Eq -- "$p" "$out" || { fail "$name: output lacks /$p/" "$out"; return; }
  done
  pass "$name"
}
newest_job() { ls -td "$MANTA_JOB_ROOT"/*/ 2>/dev/null | head -n 1; }
# What a job that does not end is doing: its processes, their threads' stacks (when gdb is
# installed) and the end of each rank's log, so that a hang in CI can be told from its output.
dump_hung_job() {
  echo "processes:"
  ps -eo pid,ppid,stat,etime,args --forest | grep -E "slurmstepd|srun|manta|mpirun" | grep -v grep
  local pid
  if command -v gdb >/dev/null; then
    for pid in $(pgrep -f "^$examples/") $(pgrep -x srun); do
      echo "--- threads of $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" | cut -c1-100)"
      timeout 30 gdb -p "$pid" -batch -ex "thread apply all bt 10" 2>/dev/null |
        grep -E "^Thread|^#" | sed -E 's/^(#[0-9]+ +)(0x[0-9a-f]+ in )?/\1/; s/ \(.*//' | head -n 300
    done
  fi
  local job f
  job=$(newest_job)
  if [ -n "$job" ]; then
    for f in "$job"/rank-*.log; do
      [ -f "$f" ] && { echo "--- $f"; tail -n 15 "$f"; }
    done
  fi
}
# submit SBATCH_ARGS...: runs a job and returns its exit code; a held job fails at once.
source "$src/test/slurm/submit.sh"

# (a) The CPU template on one node, two ranks: srun starts them through PMIx.
submit --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 --output="$work/cpu-1node.out" \
  --export=ALL,APP="$examples/manta_demo" "$src/slurm/cpu_job.sbatch"
code=$?
expect "cpu_job.sbatch on 1 node" "$work/cpu-1node.out" "$code" zero \
  "2 ranks on 1 node" "sum over 2 blocks: ([0-9]+) \(expected \1\)"
job=$(newest_job)
if grep -q '"launcher": "srun"' "$job/job.json" && grep -q -- '--mpi=pmix' "$job/job.json" &&
  "$MANTA" status "$job" | grep -Eq "finished +2 ranks"; then
  pass "cpu_job.sbatch chose srun --mpi=pmix and wrote a finished job directory"
else
  fail "cpu_job.sbatch job directory" "$job/job.json"
fi

# (a) The same over both nodes.
submit --nodes=2 --ntasks-per-node=1 --cpus-per-task=1 --output="$work/cpu-2nodes.out" \
  --export=ALL,APP="$examples/manta_demo" "$src/slurm/cpu_job.sbatch"
code=$?
expect "cpu_job.sbatch on 2 nodes" "$work/cpu-2nodes.out" "$code" zero \
  "2 ranks on 2 node\(s\): manta-n\[1-2\]" "sum over 2 blocks: ([0-9]+) \(expected \1\)"

# (a) And with mpirun on the allocation, as where srun cannot start MPI programs.
submit --nodes=2 --ntasks-per-node=1 --cpus-per-task=1 --output="$work/cpu-mpirun.out" \
  --export=ALL,APP="$examples/manta_demo",MANTA_LAUNCHER=mpirun "$src/slurm/cpu_job.sbatch"
code=$?
expect "cpu_job.sbatch with mpirun on 2 nodes" "$work/cpu-mpirun.out" "$code" zero \
  "sum over 2 blocks: ([0-9]+) \(expected \1\)"
grep -q '"launcher": "mpirun"' "$(newest_job)/job.json" && pass "MANTA_LAUNCHER=mpirun was used" ||
  fail "MANTA_LAUNCHER=mpirun was not used" "$(newest_job)/job.json"

# (a) A program that does not exist fails the job with the reason.
submit --nodes=1 --ntasks-per-node=1 --cpus-per-task=1 --output="$work/cpu-missing.out" \
  --export=ALL,APP="$work/no-such-app" "$src/slurm/cpu_job.sbatch"
code=$?
expect "cpu_job.sbatch with a missing program" "$work/cpu-missing.out" "$code" nonzero \
  "program '.*no-such-app' not found or not executable"

# (a) A rank killed by SIGKILL cannot report itself: manta run names it from srun's words, and a
# rank that segfaults names itself.
for how in kill segv; do
  submit --nodes=2 --ntasks-per-node=1 --cpus-per-task=1 --output="$work/died-$how.out" \
    --wrap "\"$MANTA\" run \"$build/test/launch/launch_crash_task\" $how"
  code=$?
  if [ "$how" = kill ]; then
    pattern="manta run: rank 1 on host [^ ]+ \(pid [0-9]+\) died: killed by SIGKILL \(reported by srun\)"
  else
    pattern="manta run: rank 1 on host [^ ]+ \(pid [0-9]+\) died: signal SIGSEGV in task read_through_null"
  fi
  expect "a rank that dies ($how) under srun is named" "$work/died-$how.out" "$code" nonzero "$pattern" \
    "manta run: rank 0 on host [^ ]+ \(pid [0-9]+\) died: stopped by srun \(SIGTERM\) after rank 1 died" \
    "manta run: exit code $([ "$how" = kill ] && echo 137 || echo 139);"
done

# (b) The heterogeneous template, scaled to one node per component and no GPU hardware.
sed -e 's/--gres=gpu:[0-9]*//' -e 's/--nodes=[0-9]*/--nodes=1/' \
  -e 's/--cpus-per-task=[0-9]*/--cpus-per-task=2/' \
  "$src/slurm/rl_heterogeneous.sbatch" >"$work/rl_heterogeneous.sbatch"
ppo="$examples/rl/manta_ppo_cartpole"
if [ -x "$ppo" ]; then
  submit --output="$work/rl.out" \
    --export=ALL,APP="$ppo",ARGS="--iterations 3 --envs 2 --steps 16 --out $work/rl_curve" \
    "$work/rl_heterogeneous.sbatch"
  code=$?
  expect "rl_heterogeneous.sbatch" "$work/rl.out" "$code" zero \
    "learner on manta-n[12], 2 rollouts on manta-n[12]" \
    "PPO on CartPole-v1: 2 runners x 2 envs x 16 steps = 64 samples per iteration; runners on ranks 1 1; learners \\[rank 0, " \
    "stopped after 3 iterations as asked: 192 env steps"
  if grep -q "it was stopped" "$work/rl.out"; then
    echo "NOTE: srun outlived the heterogeneous job's ranks; manta run stopped it:"
    grep "it was stopped" "$work/rl.out"
  fi
  "$MANTA" status "$(newest_job)" | grep -Eq "finished +2 ranks" &&
    pass "rl_heterogeneous.sbatch: one Manta world of 2 ranks over both components" ||
    fail "rl_heterogeneous.sbatch world" "$(newest_job)/summary.txt"
else
  echo "NOTE: rl_heterogeneous.sbatch not run: $ppo is not built (LibTorch not found)"
fi

# (c) The checkpoint template: once the job runs, signal its batch script as --signal=B:USR1
# would. Manta writes the checkpoint and the job ends with exit code 75; the script requeues it
# (same job id, options and output file); the second run resumes from the checkpoint and
# finishes with the right total; the finished job removes the checkpoint.
ckpt=$work/checkpoint
out=$work/ckpt.out
before=$(newest_job)
# Slurm holds a requeued job back for its credential lifetime (AuthInfo cred_expire: 120 s by
# default, 10 s in the test cluster), so this job takes longer than the others.
MANTA_SLURM_JOB_TIMEOUT=360 submit --nodes=2 --ntasks-per-node=1 --cpus-per-task=1 --output="$out" \
  --export=ALL,APP="$examples/manta_checkpoint_loop",CKPT="$ckpt",ITERATIONS=100,MS_PER_ITERATION=100 \
  "$src/slurm/checkpoint.sbatch" &
waiter=$!
id=""
first=""
for _ in $(seq 300); do
  id=$(squeue -h -n manta-checkpoint -o %i | head -n 1)
  first=$(newest_job)
  # Rank 0 writes status.json once the runtime (and its signal handler) is up on every rank.
  [ -n "$id" ] && [ -n "$first" ] && [ "$first" != "$before" ] && [ -f "$first/status.json" ] &&
    grep -q '"state": "running"' "$first/status.json" && break
  sleep 0.2
done
if [ -z "$id" ]; then
  fail "checkpoint.sbatch: the job did not start"
else
  sleep 1
  scancel --batch --signal=USR1 "$id"
  # Once the requeued job is eligible again, Slurm's main scheduler starts it on its next pass
  # (up to a minute later); an update of the job has it look now. Only the waiting is shortened.
  while kill -0 "$waiter" 2>/dev/null; do
    info=$(scontrol -o show job "$id" 2>/dev/null | head -n 1)
    eligible=$(grep -o 'EligibleTime=[0-9T:-]*' <<<"$info" | cut -d= -f2)
    if grep -q 'JobState=PENDING' <<<"$info" && grep -q 'Restarts=[1-9]' <<<"$info" &&
      [ -n "$eligible" ] && [ "$(date +%s)" -ge $(($(date -d "$eligible" +%s) + 2)) ]; then
      scontrol update JobId="$id" StartTime=now
      break
    fi
    sleep 1
  done
fi
wait "$waiter"
code=$?
expect "checkpoint.sbatch checkpoints at the signal, is requeued, resumes and finishes" "$out" \
  "$code" zero \
  "job $id \(run 1\): time limit near, asking the job to checkpoint" \
  "manta: checkpoint signal: 4 actors, 0 objects and the driver's state .* written to $ckpt/checkpoint.h5" \
  "job $id \(run 1\): checkpointed to $ckpt; requeueing job $id" \
  "job $id \(run 2\): resuming from $ckpt/checkpoint.h5" \
  "resumed from iteration [0-9]+ of 100 on 2 ranks" \
  "done: 100 iterations on 2 ranks, total ([0-9]+) \(expected \1\)" \
  "job $id \(run 2\): finished; removing $ckpt"
# The first run really stopped part-way, with the checkpoint's exit code, and the second went on
# from there rather than from the start.
at=$(sed -n 's/^resumed from iteration \([0-9]*\) .*/\1/p' "$out" | head -n 1)
if [ -n "$first" ] && grep -q '"exit_code": 75' "$first/job.json" && [ -n "$at" ] &&
  [ "$at" -gt 0 ] && [ "$at" -lt 100 ] && ! grep -q "^done:" <(sed -n '1,/^resumed from/p' "$out"); then
  pass "checkpoint.sbatch: the first run ended with exit code 75 at iteration $at of 100"
else
  fail "checkpoint.sbatch: the first run's end (exit code 75, resumed part-way)" "$first/job.json"
fi
[ ! -e "$ckpt" ] && pass "the finished job removed its checkpoint" || fail "checkpoint left behind in $ckpt"

echo "slurm: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
