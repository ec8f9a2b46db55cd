#!/usr/bin/env bash
# manta_data_bench --quick on 2 ranks with 32 MiB stores (so the sort spills): every check passes,
# every figure is in the table and the JSON; then with a fault injected into each workload's
# check, the run must fail. Usage: data_bench_test.sh BENCH MPIRUN...
set -u
bench=$1
shift
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail() {
  echo "data_bench_test: FAILED: $*"
  exit 1
}
args=(--quick --manta-object-store-memory=32M --manta-spill-dir="$out")
timeout 240 "$@" -n 2 "$bench" all "${args[@]}" --json "$out/data.json" >"$out/log" 2>&1
rc=$?
cat "$out/log"
[ "$rc" = 0 ] || fail "the benchmark exited $rc"
[ "$(grep -c '^check: .*: ok$' "$out/log")" -ge 7 ] || fail "fewer than 7 checks passed"
grep -q '^check: .*FAILED' "$out/log" && fail "a check failed"
for row in "groupby count/sum/mean, time" "sort, time" "sort, spilled" "sort, restored" \
  "sort, fraction of the disk's bandwidth" "disk write + fsync" "disk read (cache dropped)" \
  "hdf5 read->map_batches->write, rate" "hdf5 pipeline, peak store bytes"; do
  grep -F "$row" "$out/log" | grep -Eq ' [0-9]+\.[0-9]+ ' || fail "no figure for '$row'"
done
# The quick sort is twice the stores: it must have spilled and read back.
python3 - "$out/data.json" <<'PY' || fail "the JSON lacks figures"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["checks_failed"] == [], d["checks_failed"]
assert d["groupby"]["manta_median_s"] > 0 and d["groupby"]["in_process_median_s"] > 0
assert d["sort"]["spilled_bytes"] > 0 and d["sort"]["restored_bytes"] > 0, d["sort"]
assert d["sort"]["disk_write_mb_s"] > 0 and d["sort"]["disk_read_mb_s"] > 0
assert d["hdf5"]["rows_per_s"] > 0 and d["hdf5"]["peak_store_bytes"] > 0
PY
# A wrong answer must fail the run: each workload with its check fed a wrong expectation.
for w in groupby sort hdf5; do
  timeout 240 "$@" -n 2 "$bench" "$w" "${args[@]}" --inject-fault >"$out/fault.log" 2>&1
  rc=$?
  [ "$rc" = 1 ] || { cat "$out/fault.log"; fail "$w with a fault injected exited $rc, not 1"; }
  grep -q "^check: .*FAILED" "$out/fault.log" || fail "$w with a fault injected: no failed check"
done
echo "data_bench_test: passed"
