#!/usr/bin/env bash
# The PPO example's figures: the runtime-cost table (manta_rl_bench) on RANKS ranks, then the full
# training to mean return 475 on RANKS ranks for each seed, with env steps and wall time to reach
# it. Logs, learning curves (CSV, PNG) and JSON go to a temporary folder.
# Usage: bench/run_rl_bench.sh [RANKS] [SEEDS...]   (default: 4 ranks, seeds 1 2 3)
set -uo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/bench_common.sh"
ranks="${1:-4}"
shift $(($# > 0 ? 1 : 0))
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(1 2 3)
bin="$(find_bench_binary manta_rl_bench "${MANTA_RL_BENCH:-}")" || exit 2
ppo="$(dirname "$(dirname "$bin")")/examples/rl/manta_ppo_cartpole"
[ -x "$ppo" ] || { echo "manta_ppo_cartpole is not built next to $bin" >&2; exit 2; }
out_dir="$(mktemp -d -t manta_rl_bench.XXXXXX)"
status=0
echo "== runtime costs on $ranks ranks"
run_bench "$out_dir/costs.log" "$out_dir/costs.json" "$ranks" "$bin" || status=1

echo "== learning: mean return over the last 100 episodes >= 475 within 500k env steps"
printf '%-6s %-10s %12s %10s %s\n' seed result "env steps" seconds "curve"
for seed in "${seeds[@]}"; do
  log="$out_dir/seed$seed.log"
  mpirun --oversubscribe -n "$ranks" "$ppo" --seed "$seed" --out "$out_dir/seed$seed" \
    >"$log" 2>&1
  rc=$?
  line=$(grep -E '^(solved|not solved)' "$log" | tail -n 1)
  steps=$(sed -n 's/.* after \([0-9]*\) env steps.*/\1/p' <<<"$line")
  secs=$(sed -n 's/.*env steps, \([0-9.]*\) s.*/\1/p' <<<"$line")
  result=$([ "$rc" -eq 0 ] && echo solved || echo "exit $rc")
  [ "$rc" -eq 0 ] || status=1
  printf '%-6s %-10s %12s %10s %s\n' "$seed" "$result" "${steps:--}" "${secs:--}" \
    "$out_dir/seed$seed.png"
done
echo "logs, curves and JSON: $out_dir"
exit "$status"
