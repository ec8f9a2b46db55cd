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

run_each --manta-transport "$ranks" "$bin" ucx mpi -- "$@"
