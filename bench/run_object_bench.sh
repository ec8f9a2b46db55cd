#!/usr/bin/env bash
# Runs the object-plane benchmark twice, once per large-object transport (UCX, then MPI), and
# prints both tables; the JSON of each run is kept in a temporary folder.
# Usage: bench/run_object_bench.sh [ranks] [extra benchmark arguments, e.g. --quick]
# MANTA_OBJECT_BENCH: the binary (default: build-bench/, else build/ under the repository).
# Exit status: 0 when both runs succeeded.
set -uo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ranks="${1:-2}"
shift $(($# > 0 ? 1 : 0))

bin="${MANTA_OBJECT_BENCH:-}"
if [ -z "$bin" ]; then
  for b in "$repo_root/build-bench/bench/manta_object_bench" "$repo_root/build/bench/manta_object_bench"; do
    if [ -x "$b" ]; then bin="$b"; break; fi
  done
fi
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
  echo "run_object_bench: manta_object_bench not built (set MANTA_OBJECT_BENCH)" >&2
  exit 2
fi

# Open MPI refuses to start as root unless told it may (containers, CI machines).
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

out_dir="$(mktemp -d -t manta_object_bench.XXXXXX)"
status=0
for transport in ucx mpi; do
  log="$out_dir/$transport.log"
  json="$out_dir/$transport.json"
  echo "== $ranks ranks, --manta-transport=$transport"
  if mpirun --oversubscribe -n "$ranks" "$bin" --manta-transport="$transport" --json "$json" "$@" \
    >"$log" 2>&1; then
    # The table only: the JSON that follows it is in $json.
    awk '/^\{/ { exit } { print }' "$log"
  else
    rc=$?
    status=1
    echo "run failed (exit $rc); last lines of $log:"
    tail -n 20 "$log"
  fi
  echo
done
echo "JSON and logs: $out_dir"
exit "$status"
