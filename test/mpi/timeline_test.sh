#!/usr/bin/env bash
# timeline_test.sh MPIEXEC FIB CHECKER FILE: runs fib(12) on 4 ranks with a timeline, then checks it.
# Every task forwarded through rank 0 (threshold 1, no leases), so every rank runs some.
set -eu
mpiexec=$1 fib=$2 checker=$3 file=$4
rm -f "$file"
"$mpiexec" --oversubscribe -n 4 "$fib" 12 --manta-forward-threshold=1 --manta-leases=off \
  --manta-timeline="$file"
"$checker" "$file" 465 4
