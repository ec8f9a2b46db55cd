#!/usr/bin/env bash
# Runs the spilling benchmark with a small object store and a fresh spill directory under /tmp,
# once per rank count, and prints the tables; the JSON and log of each run are kept in a
# temporary folder. Spill writes and restores are measured on rank 0 against plain write() and
# read() in the same directory; the out-of-core sort uses every rank.
# Usage: bench/run_spill_bench.sh [RANKS[,RANKS...]] [extra benchmark arguments, e.g. --quick]
#   bench/run_spill_bench.sh            # 2 and 4 ranks
#   bench/run_spill_bench.sh 2 --quick  # 2 ranks, smaller runs
# MANTA_SPILL_BENCH: the binary (default: build-bench/, else build/ under the repository).
# MANTA_SPILL_BENCH_STORE: each rank's object store capacity (default 512 MiB / ranks, at least
#   64M, so the out-of-core sort of 2 GiB is 4x the stores of all ranks on 2 to 8 ranks).
# MANTA_SPILL_BENCH_DIR: where the spill directory is made (default /tmp; a parallel file
#   system path measures that file system instead).
# Exit status: 0 when every run succeeded.
set -uo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/bench_common.sh"
ranks_list="${1:-2,4}"
shift $(($# > 0 ? 1 : 0))
bin="$(find_bench_binary manta_spill_bench "${MANTA_SPILL_BENCH:-}")" || exit 2

out_dir="$(mktemp -d -t manta_spill_bench.XXXXXX)"
spill_dir="$(mktemp -d "${MANTA_SPILL_BENCH_DIR:-/tmp}/manta_spill.XXXXXX")" || exit 2
trap 'rm -rf "$spill_dir"' EXIT
status=0
for ranks in ${ranks_list//,/ }; do
  store="${MANTA_SPILL_BENCH_STORE:-$((512 / ranks > 64 ? 512 / ranks : 64))M}"
  echo "== $ranks ranks, --manta-object-store-memory=$store, spill directory $spill_dir"
  run_bench "$out_dir/np$ranks.log" "$out_dir/np$ranks.json" "$ranks" "$bin" \
    --manta-object-store-memory="$store" --manta-spill-dir="$spill_dir" "$@" || status=1
done
echo "JSON and logs: $out_dir"
exit "$status"
