#!/usr/bin/env bash
# Runs the object-plane benchmark twice, once per large-object transport (UCX, then MPI), and
# prints both tables; the JSON of each run is kept in a temporary folder.
# Usage: bench/run_object_bench.sh [ranks] [extra benchmark arguments, e.g. --quick]
# MANTA_OBJECT_BENCH: the binary (default: build-bench/, else build/ under the repository).
# Then once on private memory (--manta-shared-memory=off) and, from 4 ranks, once with the ranks
# split into two nodes (--manta-node-size). Exit status: 0 when every run succeeded.
set -uo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/bench_common.sh"
ranks="${1:-2}"
shift $(($# > 0 ? 1 : 0))
bin="$(find_bench_binary manta_object_bench "${MANTA_OBJECT_BENCH:-}")" || exit 2

status=0
run_each --manta-transport "$ranks" "$bin" ucx mpi -- "$@" || status=1
# Private memory, as before the node-shared store: ranks of a node copy each other's objects.
run_each --manta-shared-memory "$ranks" "$bin" off -- "$@" || status=1
# Two "nodes" of half the ranks each: a broadcast lands one copy on the other node.
if [ "$ranks" -ge 4 ]; then
  run_each --manta-node-size "$ranks" "$bin" $((ranks / 2)) -- "$@" || status=1
fi
exit "$status"
