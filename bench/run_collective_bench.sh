#!/usr/bin/env bash
# Runs the collective benchmark with 2 and with 4 member actors, one per rank (member r on rank
# r; rank 0 also runs the driver), over several rounds with the rank counts alternating, so
# that noise from the machine falls on both alike. Prints each run's table and JSON, then the
# median of the rounds (bench/rounds_summary.py).
# Usage: bench/run_collective_bench.sh [--rounds R] [extra benchmark arguments, e.g. --quick]
#   --rounds  rounds of every rank count (default 3, or 1 with --quick)
# MANTA_COLLECTIVE_BENCH: the binary (default: build-bench/, else build/ under the repository).
# MANTA_COLLECTIVE_RANKS: the rank counts to run (default "2 4").
# Exit status: 0 when every run succeeded.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/bench_common.sh"
bin="$(find_bench_binary manta_collective_bench "${MANTA_COLLECTIVE_BENCH:-}")" || exit 2

rounds=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift ;;
    *) args+=("$1") ;;
  esac
  shift
done
quick=0
for a in "${args[@]}"; do [ "$a" = "--quick" ] && quick=1; done
[ -n "$rounds" ] || rounds=$((quick ? 1 : 3))
read -r -a counts <<<"${MANTA_COLLECTIVE_RANKS:-2 4}"

out_dir="$(mktemp -d -t manta_collective_bench.XXXXXX)"
status=0
jsons=()
for ((round = 1; round <= rounds; round++)); do
  order=("${counts[@]}")
  if ((round % 2 == 0)); then  # every other round in reverse order
    order=()
    for ((i = ${#counts[@]} - 1; i >= 0; i--)); do order+=("${counts[i]}"); done
  fi
  for ranks in "${order[@]}"; do
    echo "== round $round of $rounds: $ranks ranks, $ranks members"
    base="$out_dir/r$round-n$ranks"
    if run_bench "$base.log" "$base.json" "$ranks" "$bin" "${args[@]}"; then
      cat "$base.json"
      echo
      jsons+=("$base.json")
    else
      status=1
    fi
  done
done
if [ "${#jsons[@]}" -gt 0 ]; then
  echo "== summary"
  python3 "$here/rounds_summary.py" "${jsons[@]}" || status=1
fi
echo "JSON and logs: $out_dir"
exit "$status"
