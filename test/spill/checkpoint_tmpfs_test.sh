#!/usr/bin/env bash
# The checkpoint on a real 32 MiB file system (tmpfs) that fills while the ranks write: runs the
# AFullDiskFailsOnEveryRank test there, in a private mount namespace so nothing is left mounted.
# Mounting needs root (or CAP_SYS_ADMIN); where it is refused the test is skipped (exit 77) with
# the reason.
# Usage: checkpoint_tmpfs_test.sh DIR COMMAND... (COMMAND runs with MANTA_TEST_SMALL_FS=DIR)
set -u
dir="$1"
shift
mkdir -p "$dir" || exit 1
if ! unshare --mount --propagation private true 2>/dev/null; then
  echo "SKIP: cannot make a private mount namespace (unshare --mount needs root)"
  exit 77
fi
exec unshare --mount --propagation private bash -c '
  dir="$1"
  shift
  if ! mount -t tmpfs -o size=32m,mode=0700 manta-checkpoint-test "$dir" 2>&1; then
    echo "SKIP: cannot mount a 32 MiB tmpfs at $dir"
    exit 77
  fi
  MANTA_TEST_SMALL_FS="$dir" "$@"
' bash "$dir" "$@"
