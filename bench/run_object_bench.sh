#!/usr/bin/env bash
# Runs the object-plane benchmark twice, once per large-object transport (UCX, then MPI), and
# prints both tables; the JSON of each run is kept in a temporary folder.
# Usage: bench/run_object_bench.sh [ranks] [extra benchmark arguments, e.g. --quick]
# MANTA_OBJECT_BENCH: the binary (default: build-bench/, else build/ under the repository).
# Exit status: 0 when both runs succeeded.
set -uo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/bench_common.sh"
ranks="${1:-2}"
shift $(($# > 0 ? 1 : 0))
bin="$(find_bench_binary manta_object_bench "${MANTA_OBJECT_BENCH:-}")" || exit 2

out_dir="$(mktemp -d -t manta_object_bench.XXXXXX)"
status=0
for transport in ucx mpi; do
  echo "== $ranks ranks, --manta-transport=$transport"
  run_bench "$out_dir/$transport.log" "$out_dir/$transport.json" "$ranks" "$bin" \
    --manta-transport="$transport" "$@" || status=1
done
echo "JSON and logs: $out_dir"
exit "$status"
