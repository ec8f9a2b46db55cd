#!/usr/bin/env bash
# Runs the collective benchmark with 2 and then 4 member actors, one per rank (member r on rank
# r; rank 0 also runs the driver), and prints each table followed by its JSON.
# Usage: bench/run_collective_bench.sh [extra benchmark arguments, e.g. --quick]
# MANTA_COLLECTIVE_BENCH: the binary (default: build-bench/, else build/ under the repository).
# MANTA_COLLECTIVE_RANKS: the rank counts to run (default "2 4").
# Exit status: 0 when every run succeeded.
set -uo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/bench_common.sh"
bin="$(find_bench_binary manta_collective_bench "${MANTA_COLLECTIVE_BENCH:-}")" || exit 2

out_dir="$(mktemp -d -t manta_collective_bench.XXXXXX)"
status=0
for ranks in ${MANTA_COLLECTIVE_RANKS:-2 4}; do
  echo "== $ranks ranks, $ranks members"
  if run_bench "$out_dir/$ranks.log" "$out_dir/$ranks.json" "$ranks" "$bin" "$@"; then
    cat "$out_dir/$ranks.json"
    echo
  else
    status=1
  fi
done
echo "JSON and logs: $out_dir"
exit "$status"
