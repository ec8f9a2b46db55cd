#!/usr/bin/env bash
# collective_timeline_test.sh MPIEXEC TEST FILE: runs collective tests on 2 ranks with a timeline;
# the trace must hold a lane per member ("collectives of actor:...") with allreduce events on it.
set -eu
mpiexec=$1 test=$2 file=$3
rm -f "$file"
"$mpiexec" --oversubscribe -n 2 "$test" --manta-num-cpus=2 --manta-timeline="$file" \
  --gtest_filter='*AllreduceEveryOpAndType/TwoOnDistinctRanks*'
lanes=$(grep -o '"collectives of actor:[0-9]*:[0-9]*"' "$file" | sort -u | wc -l)
events=$(grep -o '"name":"allreduce [^"]*"' "$file" | wc -l)
if [ "$lanes" -lt 2 ] || [ "$events" -lt 2 ]; then
  echo "timeline: $lanes member lanes and $events allreduce events in $file (want 2 or more of each)"
  exit 1
fi
echo "timeline: $lanes member lanes with collective events"
