#!/usr/bin/env bash
# placement_group_timeline_test.sh MPIEXEC TEST FILE: runs placement group tests on 4 ranks with a
# timeline; the trace must show a group ready, a group that failed, and a removal.
set -eu
mpiexec=$1 test=$2 file=$3
rm -f "$file"
"$mpiexec" --oversubscribe -n 4 "$test" --manta-num-cpus=2 --manta-timeline="$file" \
  --gtest_filter='*StrictSpreadPutsEachBundle*:*MoreBundlesThanRanks*'
for event in "placement group ready pg0." "placement group failed pg0." \
             "placement group removed pg0."; do
  if ! grep -q "\"name\":\"$event" "$file"; then
    echo "timeline: no \"$event\" event in $file"
    exit 1
  fi
done
echo "timeline: placement group ready, failed and removed events found"
