#!/usr/bin/env bash
# ctest: bench/run_peers.sh --quick into a fresh folder, check_peers_report.py on what it wrote,
# and the checker's own test: it must refuse the same report with a row taken out.
# Usage: peers_report_test.sh SOURCE_DIR BENCH_BINARY_DIR
set -u
src="$1"
export MANTA_BENCH_DIR="$2"
py="${PYTHON:-/usr/bin/python3}"
check="$src/test/bench/check_peers_report.py"
rounds=2  # two, so that the interleaving and the medians are exercised
work="$(mktemp -d -t manta_peers_test.XXXXXX)"
trap 'rm -rf "$work"' EXIT

if ! "$src/bench/run_peers.sh" --quick --rounds "$rounds" --out "$work/report" \
  --raw "$work/raw"; then
  echo "FAIL: bench/run_peers.sh --quick failed (output above)"
  exit 1
fi
"$py" "$check" "$work/report" --rounds "$rounds" || exit 1

date_tag="$(sed -n 's/^# Manta against its peers, \([0-9-]*\)$/\1/p' "$work/report/latest.md")"

# One engine's figure out of the JSON.
cp -r "$work/report" "$work/no_figure"
"$py" -c '
import json, sys
path = sys.argv[1]
doc = json.load(open(path))
del doc["results"]["dask"]["map_reduce"]
json.dump(doc, open(path, "w"))
' "$work/no_figure/$date_tag.json"
if "$py" "$check" "$work/no_figure" >/dev/null; then
  echo "FAIL: the checker accepted a report without Dask's map-reduce figure"
  exit 1
fi

# One row out of the Markdown table.
cp -r "$work/report" "$work/no_row"
sed -i '/^| sync round trip/d' "$work/no_row/latest.md" "$work/no_row/$date_tag.md"
if "$py" "$check" "$work/no_row" >/dev/null; then
  echo "FAIL: the checker accepted a report without the sync round trip row"
  exit 1
fi
# The scaling benchmark's --only: one shape's rows and no other's; a name that matches no shape,
# or no name at all, ends the job with status 2 and says why.
scaling="$2/manta_scaling_bench"
mpirun --oversubscribe -n 2 "$scaling" --quick --only "pinned" --json "$work/only.json" \
  >"$work/only.log" 2>&1 || { echo "FAIL: --only pinned failed:"; cat "$work/only.log"; exit 1; }
if ! "$py" -c '
import json, sys
names = {r["name"].split(": ")[0] for r in json.load(open(sys.argv[1]))["results"]}
sys.exit(0 if names == {"every rank, pinned to itself", "worker threads per rank"} else 1)
' "$work/only.json"; then
  echo "FAIL: --only pinned ran other shapes (or none): $(cat "$work/only.log")"
  exit 1
fi
# $bad unquoted: the empty one leaves --only with no value at all.
for bad in "nonsense" ""; do
  mpirun --oversubscribe -n 2 "$scaling" --quick --only $bad >"$work/bad.log" 2>&1
  rc=$?
  if [ "$rc" -ne 2 ] || ! grep -qE "matches no shape; the shapes: driver fan-out|expected part of a shape" "$work/bad.log"; then
    echo "FAIL: --only '$bad' exited $rc without naming the problem: $(cat "$work/bad.log")"
    exit 1
  fi
done
echo "PASS: report complete; the checker refuses a missing figure and a missing row; --only picks one shape and refuses a name that matches none"
