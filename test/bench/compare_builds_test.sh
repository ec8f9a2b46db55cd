#!/usr/bin/env bash
# ctest: bench/compare_builds.sh --quick with one build as both old and new (every figure of
# both benchmarks in the table), and its table on made-up runs whose answers are known.
# Usage: compare_builds_test.sh SOURCE_DIR BENCH_BINARY_DIR
set -u
src="$1"
bench_dir="$2"
py="${PYTHON:-/usr/bin/python3}"
work="$(mktemp -d -t manta_compare_builds_test.XXXXXX)"
trap 'rm -rf "$work"' EXIT
fail() {
  echo "FAIL: $*"
  exit 1
}

# The whole tool, two quick rounds: each run leaves its JSON, and every key figure has a row
# with two runs on each side.
if ! "$src/bench/compare_builds.sh" --quick --raw "$work/raw" "$bench_dir" "$bench_dir" 2 \
  >"$work/out.txt" 2>&1; then
  cat "$work/out.txt"
  fail "compare_builds.sh --quick failed"
fi
cat "$work/out.txt"
for b in manta_microbench manta_actor_bench; do
  for r in 1 2; do
    for build in old new; do
      [ -s "$work/raw/round$r-$b-$build.json" ] || fail "no JSON of round $r, $b, $build"
    done
  done
done
for figure in 'single_client_tasks_async (one rank)' \
  'single_client_tasks_async (driver to rank 1)' \
  'single_client_tasks_sync (round trip to rank 1)' \
  '1:1 actor calls sync (round trip to rank 1)' '1:1 actor calls async (driver to rank 1)' \
  'n:n actor calls async (n = 2)'; do
  grep -F "| * |" "$work/out.txt" | grep -F "| $figure |" | grep -q "(2) .*(2)" ||
    fail "no key row with two runs a side for: $figure"
done

# Made-up runs: a rate and a time, each new range placed on purpose against the old one.
mkdir "$work/fake"
write() {  # write ROUND BUILD RATE TIME
  printf '{"mpi_round_trip_us": 0.5, "results": [
    {"name": "single_client_tasks_async (one rank)", "value": %s, "unit": "tasks/s"},
    {"name": "single_client_tasks_sync (round trip to rank 1)", "value": %s, "unit": "us"}]}\n' \
    "$3" "$4" >"$work/fake/round$1-manta_microbench-$2.json"
}
write 1 old 100000 10
write 2 old 120000 12
write 3 old 110000 11
# Slower rate (wholly below the old range) and a faster time (wholly below it): WORSE, better.
write 1 new 80000 8
write 2 new 85000 9
write 3 new 90000 8.5
"$py" "$src/bench/compare_builds_table.py" "$work/fake" >"$work/fake.txt" || fail "table failed"
cat "$work/fake.txt"
grep -F "| single_client_tasks_async (one rank) |" "$work/fake.txt" | grep -q "| WORSE |$" ||
  fail "a rate below the old range is not WORSE"
grep -F "| single_client_tasks_sync (round trip to rank 1) |" "$work/fake.txt" |
  grep -q "| better |$" || fail "a time below the old range is not better"
grep -q "^Key figures outside .*single_client_tasks_async (one rank)" "$work/fake.txt" ||
  fail "the summary does not name the worse key figure"
grep -F "| raw MPI ping-pong round trip |" "$work/fake.txt" | grep -q "| within |$" ||
  fail "equal baselines are not within"

# Within and overlapping ranges.
write 1 new 105000 10.5
write 2 new 115000 13
write 3 new 110000 11
"$py" "$src/bench/compare_builds_table.py" "$work/fake" >"$work/fake.txt" || fail "table failed"
grep -F "| single_client_tasks_async (one rank) |" "$work/fake.txt" | grep -q "| within |$" ||
  fail "a rate inside the old range is not within"
grep -F "| single_client_tasks_sync (round trip to rank 1) |" "$work/fake.txt" |
  grep -q "| overlaps |$" || fail "a time partly above the old range does not overlap"
grep -q "^Every key figure" "$work/fake.txt" || fail "the summary does not clear the new build"
echo "PASS"
