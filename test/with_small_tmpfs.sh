#!/usr/bin/env bash
# Runs a command on a real 32 MiB file system (tmpfs) that fills, as users meet a full disk: in a
# private mount namespace, so nothing is left mounted. Mounting needs root (or CAP_SYS_ADMIN);
# where it is refused the test is skipped (exit 77) with the reason.
# Usage: with_small_tmpfs.sh DIR COMMAND...
#   COMMAND runs with MANTA_TEST_SMALL_FS=DIR, and "{fs}" in any of its arguments becomes DIR
#   (e.g. --manta-spill-dir={fs}).
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
  if ! mount -t tmpfs -o size=32m,mode=0700 manta-small-fs "$dir" 2>&1; then
    echo "SKIP: cannot mount a 32 MiB tmpfs at $dir"
    exit 77
  fi
  args=()
  for a in "$@"; do args+=("${a//\{fs\}/$dir}"); done
  MANTA_TEST_SMALL_FS="$dir" "${args[@]}"
' bash "$dir" "$@"
