#!/usr/bin/env bash
# ctest: bench/run_collective_bench.sh --quick (every figure for 2 and 4 members in the summary;
# the benchmark itself aborts on a wrong result), and bench/rounds_summary.py on made-up rounds
# whose medians and verdicts are known.
# Usage: collective_bench_test.sh SOURCE_DIR BENCH_BINARY
set -u
src="$1"
bin="$2"
py="${PYTHON:-/usr/bin/python3}"
work="$(mktemp -d -t manta_collective_bench_test.XXXXXX)"
trap 'rm -rf "$work"' EXIT
fail() {
  echo "FAIL: $*"
  exit 1
}

if ! MANTA_COLLECTIVE_BENCH="$bin" "$src/bench/run_collective_bench.sh" --quick \
  >"$work/out.txt" 2>&1; then
  cat "$work/out.txt"
  fail "run_collective_bench.sh --quick failed"
fi
cat "$work/out.txt"
summary="$(sed -n '/^== summary/,$p' "$work/out.txt")"
[ -n "$summary" ] || fail "no summary"
for n in 2 4; do
  grep -q "^$n ranks, median of 1 round" <<<"$summary" || fail "no summary of $n ranks"
  for figure in "allreduce 8 B f32, $n members: median" "allreduce 1 MiB f32, $n members: bandwidth" \
    "allreduce 64 MiB f32, $n members: bandwidth" "  raw MPI_Iallreduce, 64 MiB: median" \
    "  raw copy + MPI_Iallreduce in place, 8 B: median" \
    "broadcast 64 MiB f32 from member 0, $n members: bandwidth" \
    "collective broadcast over put + get (bandwidth ratio)"; do
    grep -qF "$figure" <<<"$summary" || fail "no row for: $figure ($n ranks)"
  done
done
grep -qF "the same by put on rank 0 + get on 3 members: bandwidth" <<<"$summary" ||
  fail "no put + get row for 4 members"

# Made-up rounds: medians of three, the ratio the median of the rounds' ratios, and the targets
# judged on it.
mkdir "$work/fake"
write() {  # write ROUND LATENCY MPI_LATENCY BANDWIDTH MPI_BANDWIDTH
  printf '{"ranks": 2, "results": [
    {"name": "lat", "value": %s, "unit": "us", "mpi_baseline": %s, "ratio_to_mpi": %s,
     "target": "<= 3 x MPI"},
    {"name": "bw", "value": %s, "unit": "GB/s", "mpi_baseline": %s, "ratio_to_mpi": %s,
     "target": ">= 0.9 x MPI"},
    {"name": "plain", "value": 1, "unit": "x", "target": ""}]}\n' \
    "$2" "$3" "$(awk "BEGIN { print $2 / $3 }")" "$4" "$5" "$(awk "BEGIN { print $4 / $5 }")" \
    >"$work/fake/r$1.json"
}
write 1 2 1 9 10  # ratios 2 and 0.9
write 2 4 1 5 10  # 4 and 0.5
write 3 5 2 10 10 # 2.5 and 1
"$py" "$src/bench/rounds_summary.py" "$work/fake"/r*.json >"$work/fake.txt" || fail "summary failed"
cat "$work/fake.txt"
grep -E '^lat ' "$work/fake.txt" | grep -qE '4\.00 \[2\.00-5\.00\] us +1\.00 \[1\.00-2\.00\] +2\.50  <= 3 x MPI  \(met\)' ||
  fail "latency: wrong medians, ratio or verdict"
grep -E '^bw ' "$work/fake.txt" | grep -qE '9\.00 \[5\.00-10\.00\] GB/s +10\.00 \[10\.00-10\.00\] +0\.90  >= 0\.9 x MPI  \(met\)' ||
  fail "bandwidth: wrong medians, ratio or verdict"
grep -E '^plain ' "$work/fake.txt" | grep -qv "met" || fail "a row without a target got a verdict"
"$py" -c 'import json, sys; t = sys.stdin.read(); json.loads(t[t.index("{"):])' <"$work/fake.txt" ||
  fail "the summary JSON does not parse"
echo PASS
