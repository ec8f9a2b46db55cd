#!/usr/bin/env bash
# Spill files kept with --manta-keep-spill are valid HDF5 that h5ls and h5dump read, with
# Fletcher32 on chunked data and private permissions; without it the job's directory goes.
# Usage: spill_files_test.sh TEST_BINARY WORK_DIR MPIEXEC [MPIEXEC_FLAGS...]
set -euo pipefail
bin="$1" work="$2" mpiexec="$3"
shift 3
rm -rf "$work"
mkdir -p "$work/kept" "$work/removed"
fail() { echo "FAIL: $*" >&2; exit 1; }

"$mpiexec" "$@" -n 2 "$bin" --gtest_filter=Spill.RestoredObjectsMatchInReverseOrder \
  --manta-object-store-memory=64M --manta-spill-dir="$work/kept" --manta-keep-spill
file=$(ls "$work"/kept/manta-*/rank-*0.h5 | head -n 1)
[ -n "$file" ] || fail "no spill file kept in $work/kept"
dir=$(dirname "$file")
[ "$(stat -c %a "$dir")" = 700 ] || fail "$dir has mode $(stat -c %a "$dir"), expected 700"
[ "$(stat -c %a "$file")" = 600 ] || fail "$file has mode $(stat -c %a "$file"), expected 600"
listing=$(h5ls -r "$file") || fail "h5ls could not read $file"
echo "$listing"
grep -q '^/objects' <<<"$listing" || fail "no /objects dataset in $file"
grep -q '^/index' <<<"$listing" || fail "no /index dataset in $file"
header=$(h5dump -p -H "$file") || fail "h5dump -H could not read $file"
grep -q 'CHECKSUM FLETCHER32' <<<"$header" || fail "/objects has no Fletcher32 filter"
grep -q 'CHUNKED' <<<"$header" || fail "/objects is not chunked"
h5dump -d /index "$file" >/dev/null || fail "h5dump could not read /index of $file"

"$mpiexec" "$@" -n 2 "$bin" --gtest_filter=Spill.RestoredObjectsMatchInReverseOrder \
  --manta-object-store-memory=64M --manta-spill-dir="$work/removed"
left=$(ls -A "$work/removed")
[ -z "$left" ] || fail "the job's spill directory was left behind: $left"
rm -rf "$work"
echo "spill files: valid HDF5, private, removed at shutdown unless kept"
