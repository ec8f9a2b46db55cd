#!/usr/bin/env bash
# lineage_timeline_test.sh MPIEXEC TEST FILE ARGS...: runs a lineage test on 2 ranks with a
# timeline; the trace must show the task that rebuilt a lost object as a reconstruction.
set -eu
mpiexec=$1 test=$2 file=$3
shift 3
rm -f "$file"
"$mpiexec" --oversubscribe -n 2 "$test" "$@" --manta-timeline="$file" \
  --gtest_filter='Lineage.CopyGoneFromTheRankTheOwnerSentTheReaderTo'
if ! grep -q '"name":"make_words (reconstruction 1 of obj:0:' "$file"; then
  echo "timeline: no reconstruction event in $file"
  exit 1
fi
echo "timeline: reconstruction event found"
