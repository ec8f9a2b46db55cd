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
echo "PASS: report complete; the checker refuses a missing figure and a missing row"
