#!/usr/bin/env bash
# A killed job leaves its shared memory segments behind; the next job on the node removes them
# at start, and a job that ends cleanly leaves none of its own.
# `manta clean DIR` removes them on demand too.
# Usage: shared_store_cleanup_test.sh TEST_BINARY DIR MANTA_COMMAND MPIEXEC [MPIEXEC FLAGS...]
set -u
bin=$1 dir=$2 manta=$3
shift 3
rm -rf "$dir" && mkdir -p "$dir" || exit 1
count() { find "$dir" -maxdepth 1 -name 'manta-shm.*' | wc -l; }

# A job killed with its objects in shared memory.
kill_job() {
  MANTA_TEST_KILL_JOB=1 timeout 120 "$@" -n 2 "$bin" --gtest_filter=SharedStoreKilled.* \
    --manta-shm-dir="$dir" > "$dir.killed.log" 2>&1
  left=$(count)
  echo "segments left by the killed job: $left"
  if [ "$left" -lt 2 ]; then
    cat "$dir.killed.log"
    echo "FAILED: the killed job should have left segments of both ranks in $dir"
    exit 1
  fi
}

# 1. manta clean lists them (--dry-run keeps them), then removes them.
kill_job "$@"
out=$("$manta" clean --dry-run "$dir" 2>&1)
printf '%s\n' "$out"
if [ "$(count)" -ne "$left" ] || ! grep -q "shared memory segment of process .* which has ended" <<<"$out"; then
  echo "FAILED: manta clean --dry-run should list the $left segments and keep them"
  exit 1
fi
out=$("$manta" clean "$dir" 2>&1)
printf '%s\n' "$out"
if [ "$(count)" -ne 0 ] || ! grep -q "removed $left item" <<<"$out"; then
  echo "FAILED: manta clean should have removed the $left segments"
  exit 1
fi

# 2. Killed again: the next job removes them at start.
kill_job "$@"

# 3. The next job removes them at start, says so, and leaves nothing when it ends.
out=$(timeout 120 "$@" -n 2 "$bin" --gtest_filter=SharedStore.VectorsDecodeFromANeighbour \
  --manta-shm-dir="$dir" 2>&1)
rc=$?
printf '%s\n' "$out"
if [ $rc -ne 0 ]; then
  echo "FAILED: the next job failed (exit $rc)"
  exit 1
fi
if ! grep -Eq "removed $left shared memory segments? that ended jobs left in $dir" <<<"$out"; then
  echo "FAILED: the next job did not report removing the $left segments"
  exit 1
fi
after=$(count)
if [ "$after" -ne 0 ]; then
  ls -l "$dir"
  echo "FAILED: $after segments remain after a job that ended cleanly"
  exit 1
fi
rm -rf "$dir" "$dir.killed.log"
echo "ok: segments of killed jobs removed by manta clean and by the next job; none left by a clean one"
