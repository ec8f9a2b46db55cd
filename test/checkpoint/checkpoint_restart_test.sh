#!/usr/bin/env bash
# Whole-job checkpoint and restart, as a batch job lives it:
#   1. the job run whole, for the reference digest;
#   2. the job checkpointed on 4 ranks mid-way, then killed (SIGKILL);
#   3. resumed from the checkpoint on 4 ranks, then again on 2 ranks: both print the digest of 1;
#   4. the checkpoint signal with --manta-checkpoint-dir: exit code 75, then resumed, same digest;
#   5. refusals before anything runs: a damaged checkpoint, one another program wrote, none at all.
# Usage: checkpoint_restart_test.sh WORKDIR JOB OTHER_PROGRAM MPIRUN...
set -u
work=$1 job=$2 other=$3
shift 3
mpirun=("$@")
source "$(dirname "${BASH_SOURCE[0]}")/../signal_job.sh"
rm -rf "$work" && mkdir -p "$work"
steps=12 mib=3
fail() {
  echo "checkpoint_restart_test: FAILED: $*"
  exit 1
}
run() {  # run LIMIT OUTFILE ranks args...: prints the exit status
  local limit=$1 out=$2 np=$3
  shift 3
  timeout "$limit" "${mpirun[@]}" -n "$np" "$job" "$@" >"$out" 2>&1
  echo $?
}
digest() { sed -n 's/^done: .*digest \([0-9a-f]*\)$/\1/p' "$1"; }

rc=$(run 120 "$work/whole.out" 4 $steps $mib)
[ "$rc" = 0 ] || { cat "$work/whole.out"; fail "the whole run exited $rc"; }
want=$(digest "$work/whole.out")
[ -n "$want" ] || { cat "$work/whole.out"; fail "the whole run printed no digest"; }
echo "whole run: digest $want"

rc=$(run 120 "$work/killed.out" 4 $steps $mib kill 5 "$work/ckpt")
cat "$work/killed.out"
[ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "the killed run exited $rc (expected death by SIGKILL)"
grep -q "checkpointed at step 5: 5 actors" "$work/killed.out" || fail "no checkpoint before the kill"
[ -f "$work/ckpt/checkpoint.h5" ] || fail "no $work/ckpt/checkpoint.h5"
if grep -q "^done:" "$work/killed.out"; then fail "the killed run went on after SIGKILL"; fi

for np in 4 2; do
  rc=$(run 120 "$work/resumed$np.out" $np $steps $mib --manta-restore="$work/ckpt")
  cat "$work/resumed$np.out"
  [ "$rc" = 0 ] || fail "the resumed run on $np ranks exited $rc"
  grep -q "resumed at step 5 from $work/ckpt on $np ranks" "$work/resumed$np.out" ||
    fail "the run on $np ranks did not resume at step 5"
  got=$(digest "$work/resumed$np.out")
  [ "$got" = "$want" ] || fail "resumed on $np ranks: digest $got, the whole run's is $want"
done

# The checkpoint signal: the job checkpoints between steps and ends with exit code 75.
"${mpirun[@]}" -n 4 "$job" $steps $mib pause 400 --manta-checkpoint-dir="$work/signal" \
  >"$work/signal.out" 2>&1 &
signal_when_seen $! "$work/signal.out" "^step 2" 120
rc=$job_status
cat "$work/signal.out"
[ "$rc" = 75 ] || fail "the signalled run exited $rc, expected 75"
grep -q "checkpoint signal: 5 actors, 1 objects and the driver's state" "$work/signal.out" ||
  fail "the signalled run did not report its checkpoint"
rc=$(run 120 "$work/signal-resumed.out" 2 $steps $mib --manta-restore="$work/signal")
cat "$work/signal-resumed.out"
[ "$rc" = 0 ] || fail "the run resumed after the signal exited $rc"
got=$(digest "$work/signal-resumed.out")
[ "$got" = "$want" ] || fail "resumed after the signal: digest $got, the whole run's is $want"

# Refusals: exit 2 at init, a clear reason, and nothing run.
refused() {  # refused NAME REGEX program args...
  local name=$1 regex=$2
  shift 2
  timeout 60 "${mpirun[@]}" -n 2 "$@" >"$work/$name.out" 2>&1
  local rc=$?
  cat "$work/$name.out"
  [ "$rc" = 2 ] || fail "$name: exit $rc, expected 2"
  grep -Eq -- "$regex" "$work/$name.out" || fail "$name: no message matching /$regex/"
  if grep -q "^resumed\|^done:" "$work/$name.out"; then fail "$name: the program ran"; fi
}
mkdir -p "$work/damaged"
cp "$work/ckpt/checkpoint.h5" "$work/damaged/"
size=$(stat -c %s "$work/damaged/checkpoint.h5")
# Half-way through the file lies inside the actors' state (it is most of the file).
printf '\xff\x00\xff\x00' | dd of="$work/damaged/checkpoint.h5" bs=1 seek=$((size / 2)) conv=notrunc \
  status=none
refused damaged "init failed: --manta-restore=.*damaged.*checksum" \
  "$job" $steps $mib --manta-restore="$work/damaged"
refused other_program "written by the program 'checkpoint_job'" \
  "$other" --manta-restore="$work/ckpt"
refused missing "init failed: --manta-restore=.*no checkpoint" \
  "$job" $steps $mib --manta-restore="$work/nothing-here"
echo "checkpoint_restart_test: ok"
