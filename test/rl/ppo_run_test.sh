#!/usr/bin/env bash
# A short PPO training run of examples/rl on 2 ranks, as a user's job lives it:
#   1. training to a low target with a runner killed mid-way: it restarts, training reaches the
#      target; every iteration trains on all samples with finite losses; the learning curve is
#      written; then
#      two learners whose allreduced gradients keep their weights equal;
#   2. the checkpoint signal: exit code 75, a checkpoint on disk;
#   3. resumed from it: the iteration count, history and curve go on from where they stopped;
#   4. refusals: a bad option, and a resume with another number of learners.
# Usage: ppo_run_test.sh WORKDIR PROGRAM MPIRUN...
set -u
work=$1 program=$2
shift 2
mpirun=("$@")
source "$(dirname "${BASH_SOURCE[0]}")/../signal_job.sh"
rm -rf "$work" && mkdir -p "$work"
small=(--envs 2 --steps 16 --manta-num-cpus=2 --runners 2)
fail() {
  echo "ppo_run_test: FAILED: $*"
  exit 1
}
run() {  # run OUTFILE args...: prints the exit status
  local out=$1
  shift
  timeout 180 "${mpirun[@]}" -n 2 "$program" "$@" >"$out" 2>&1
  echo $?
}

# 1. Training to a low target (mean return 40 over 100 episodes) with runner 0 killed before
#    iteration 2: it restarts and training reaches the target within the budget.
rc=$(run "$work/short.out" "${small[@]}" --target 40 --max-env-steps 50000 --kill-runner-at 2 \
  --out "$work/short")
cat "$work/short.out"
[ "$rc" = 0 ] || fail "the short run exited $rc"
grep -q "^PPO on CartPole-v1: 2 runners x 2 envs x 16 steps = 64 samples per iteration" \
  "$work/short.out" || fail "no set-up line with the batch shape"
grep -q "^runner 0 restarted on rank" "$work/short.out" || fail "runner 0 did not restart"
solved=$(sed -n 's/^solved: mean return [0-9.]* >= 40 .* \([0-9]*\) iterations (seed 1)$/\1/p' \
  "$work/short.out")
[ -n "$solved" ] || fail "the short run did not report reaching the target"
[ "$(grep -c '^iter ' "$work/short.out")" = "$solved" ] || fail "not one progress line per iteration"
grep -q "after $((solved * 64)) env steps" "$work/short.out" || fail "not 64 env steps per iteration"
if grep -Eiq 'nan|inf ' "$work/short.out"; then fail "a loss is not finite"; fi
[ "$(wc -l <"$work/short.csv")" = $((solved + 1)) ] || fail "the curve CSV has not $solved rows"
head -c 8 "$work/short.png" | od -An -tx1 | grep -q "89 50 4e 47 0d 0a 1a 0a" ||
  fail "$work/short.png is not a PNG"

# 1b. Two learners, one per rank, each on its runner's share: gradients allreduced, weights equal.
rc=$(run "$work/two.out" "${small[@]}" --iterations 3 --learners 2 --out "$work/two")
cat "$work/two.out"
[ "$rc" = 0 ] || fail "the run with 2 learners exited $rc"
grep -Eq "learners \[rank [01], cpu\] \[rank [01], cpu\]$" "$work/two.out" ||
  fail "the 2 learners are not on their own ranks"
grep -q "^the 2 learners hold the same 9155 weights" "$work/two.out" ||
  fail "the 2 learners do not hold the same weights"

# 2. The checkpoint signal mid-training.
"${mpirun[@]}" -n 2 "$program" "${small[@]}" --iterations 100000 --out "$work/signal" \
  --manta-checkpoint-dir="$work/ckpt" >"$work/signal.out" 2>&1 &
signal_when_seen $! "$work/signal.out" "^iter     3 " 150
rc=$job_status
cat "$work/signal.out"
[ "$rc" = 75 ] || fail "the signalled run exited $rc, expected 75"
[ -f "$work/ckpt/checkpoint.h5" ] || fail "no checkpoint in $work/ckpt"
stopped=$(grep '^iter ' "$work/signal.out" | tail -n 1 | awk '{print $2}')
[ -n "$stopped" ] && [ "$stopped" -ge 3 ] || fail "the signalled run stopped before iteration 3"

# 3. Resumed: it goes on from the checkpoint's iteration to three more.
until=$((stopped + 3))
rc=$(run "$work/resumed.out" "${small[@]}" --iterations "$until" --out "$work/resumed" \
  --manta-restore="$work/ckpt")
cat "$work/resumed.out"
[ "$rc" = 0 ] || fail "the resumed run exited $rc"
grep -q "^resumed from $work/ckpt at iteration $stopped:" "$work/resumed.out" ||
  fail "the run did not resume at iteration $stopped"
first=$(grep '^iter ' "$work/resumed.out" | head -n 1 | awk '{print $2}')
[ "$first" = $((stopped + 1)) ] || fail "the resumed run began at iteration $first"
grep -q "^stopped after $until iterations as asked" "$work/resumed.out" ||
  fail "the resumed run did not stop at iteration $until"
[ "$(wc -l <"$work/resumed.csv")" = $((until + 1)) ] ||
  fail "the resumed curve does not hold all $until iterations"

# 4. Refusals, with the reason and nothing trained.
rc=$(run "$work/bad.out" --envs 0)
cat "$work/bad.out"
[ "$rc" = 2 ] || fail "--envs 0 exited $rc, expected 2"
grep -q -- "--envs takes a number from 1" "$work/bad.out" || fail "no message for --envs 0"
rc=$(run "$work/badout.out" --out "$work/no/such/dir/curve")
cat "$work/badout.out"
[ "$rc" = 2 ] || fail "--out into a missing directory exited $rc, expected 2"
grep -q -- "--out .*cannot be written in $work/no/such/dir" "$work/badout.out" ||
  fail "no message for the missing --out directory"
rc=$(run "$work/learners.out" "${small[@]}" --learners 2 --iterations 1 \
  --manta-restore="$work/ckpt")
cat "$work/learners.out"
[ "$rc" = 1 ] || fail "a resume with 2 learners exited $rc, expected 1"
grep -q "holds 1 learners: run with --learners 1" "$work/learners.out" ||
  fail "no message for the learner count"
if grep -q '^iter ' "$work/learners.out"; then fail "the refused resume trained"; fi
echo "ppo_run_test: passed"
