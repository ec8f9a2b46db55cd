#!/usr/bin/env bash
# Runs the checkpoint benchmark as a batch job would live it: one job makes actors holding SIZE MiB
# of state and checkpoints them, a second job restarts from the checkpoint (on RESTART_RANKS
# ranks). Each prints its table; the JSON and logs are kept in a temporary folder.
# Usage: bench/run_checkpoint_bench.sh [RANKS] [RESTART_RANKS] [extra arguments, e.g. --size-mib 256]
# MANTA_CHECKPOINT_BENCH_DIR: where the checkpoint is written (default /tmp; a parallel file
#   system path measures that file system instead).
set -uo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/bench_common.sh"
ranks="${1:-4}"
restart_ranks="${2:-$ranks}"
shift $(($# > 1 ? 2 : $#))
bin="$(find_bench_binary manta_checkpoint_bench "${MANTA_CHECKPOINT_BENCH:-}")" || exit 2
out_dir="$(mktemp -d -t manta_checkpoint_bench.XXXXXX)"
dir="$(mktemp -d "${MANTA_CHECKPOINT_BENCH_DIR:-/tmp}/manta_checkpoint.XXXXXX")" || exit 2
trap 'rm -rf "$dir"' EXIT
status=0
echo "== checkpoint on $ranks ranks, in $dir"
run_bench "$out_dir/write.log" "$out_dir/write.json" "$ranks" "$bin" write "$dir" "$@" || status=1
echo "== restart on $restart_ranks ranks"
# The restart reads every rank's baseline file: the write job made one per rank of its own.
run_bench "$out_dir/restore.log" "$out_dir/restore.json" "$restart_ranks" "$bin" restore "$dir" \
  --manta-restore="$dir" "$@" || status=1
echo "JSON and logs: $out_dir"
exit "$status"
