#!/usr/bin/env bash
# manta_rl_bench --quick on 2 ranks: the table has every row with a positive figure, and the JSON
# it writes holds them. Usage: rl_bench_test.sh BENCH MPIRUN...
set -u
bench=$1
shift
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail() {
  echo "rl_bench_test: FAILED: $*"
  exit 1
}
timeout 240 "$@" -n 2 "$bench" --quick --json "$out/rl.json" >"$out/log" 2>&1
rc=$?
[ "$rc" = 0 ] || { cat "$out/log"; fail "the benchmark exited $rc"; }
cat "$out/log"
for row in "runner code alone (no Manta)" "runner code in the driver" "rollout, 1 runner rank" \
  "rollout, 2 runner ranks" "weights (35 KiB) to 2 ranks" "learner, CPU"; do
  grep -F "$row" "$out/log" | grep -Eq ' [0-9]+\.[0-9]+ ' || fail "no figure for '$row'"
done
[ "$(grep -c '"name":' "$out/rl.json")" -ge 7 ] || fail "the JSON lacks rows"
echo "rl_bench_test: passed"
