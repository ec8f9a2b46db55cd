#!/usr/bin/env bash
# Two builds of Manta side by side: runs manta_microbench and manta_actor_bench of an old and a
# new build alternately (old, new, old, new, ...), so that whatever else the machine does falls
# on both alike, then prints per figure the old and the new range over the runs and whether the
# new range lies within the old one's run-to-run noise (bench/compare_builds_table.py).
#
# Usage: bench/compare_builds.sh [--ranks R] [--quick] [--raw DIR] OLD_BUILD NEW_BUILD [RUNS]
#   OLD_BUILD, NEW_BUILD  build folders (their bench/ holds the binaries) or the bench/ folders
#   RUNS       runs of each benchmark per build (default 3)
#   --ranks    ranks per run (default 2)
#   --quick    the benchmarks' own --quick (20 x fewer iterations): a smoke run, not figures
#   --raw      where each run's JSON and log go (default a new folder under $TMPDIR or /tmp)
# PYTHON: the Python for the table (default /usr/bin/python3).
# Exit status: 0 when every run succeeded, 1 when one failed, 2 on bad arguments.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/bench_common.sh"

ranks=2
quick=0
raw=""
positional=()
while [ $# -gt 0 ]; do
  case "$1" in
    --ranks) ranks="$2"; shift ;;
    --quick) quick=1 ;;
    --raw) raw="$2"; shift ;;
    -h | --help) sed -n '2,14p' "${BASH_SOURCE[0]}"; exit 0 ;;
    -*) echo "compare_builds.sh: unknown option $1" >&2; exit 2 ;;
    *) positional+=("$1") ;;
  esac
  shift
done
if [ "${#positional[@]}" -lt 2 ] || [ "${#positional[@]}" -gt 3 ]; then
  sed -n '7,13p' "${BASH_SOURCE[0]}" >&2
  exit 2
fi
runs="${positional[2]:-3}"
if ! [[ "$runs" =~ ^[1-9][0-9]*$ && "$ranks" =~ ^[1-9][0-9]*$ ]]; then
  echo "compare_builds.sh: RUNS and --ranks take a positive number" >&2
  exit 2
fi

benches=(manta_microbench manta_actor_bench)
builds=(old new)
declare -A bin
for i in 0 1; do
  dir="${positional[$i]}"
  for b in "${benches[@]}"; do
    if [ -x "$dir/bench/$b" ]; then
      bin["${builds[$i]}/$b"]="$(cd "$dir/bench" && pwd)/$b"
    elif [ -x "$dir/$b" ]; then
      bin["${builds[$i]}/$b"]="$(cd "$dir" && pwd)/$b"
    else
      echo "compare_builds.sh: no $b in $dir or $dir/bench (build the bench/ targets)" >&2
      exit 2
    fi
  done
done

quick_flag=()
limit=600  # seconds any one run may take before it counts as hung
if [ "$quick" -eq 1 ]; then
  quick_flag=(--quick)
  limit=120
fi
[ -n "$raw" ] || raw="$(mktemp -d -t manta_compare_builds.XXXXXX)"
mkdir -p "$raw"
status=0

echo "old: ${positional[0]}"
echo "new: ${positional[1]}"
echo "$runs runs of each benchmark per build, $ranks ranks; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
# Other work on the machine widens both ranges; say so rather than let it pass for the builds'.
if awk -v n="$(nproc)" '{ exit !($1 > n / 2) }' /proc/loadavg; then
  echo "warning: the machine is busy (load above half its $(nproc) cores): ranges will be wide"
fi
t_start=$(date +%s)
for ((round = 1; round <= runs; ++round)); do
  echo "== round $round of $runs"
  for b in "${benches[@]}"; do
    for build in "${builds[@]}"; do
      base="$raw/round$round-$b-$build"
      rc=0
      t0=$(date +%s%N)
      timeout --kill-after=10 "$limit" mpirun --oversubscribe -n "$ranks" "${bin[$build/$b]}" \
        "${quick_flag[@]}" --json "$base.json" >"$base.log" 2>&1 || rc=$?
      ms=$((($(date +%s%N) - t0) / 1000000))
      if [ "$rc" -eq 0 ] && [ -s "$base.json" ]; then
        printf '  %-18s %-3s ok (%d.%01d s)\n' "$b" "$build" $((ms / 1000)) $((ms % 1000 / 100))
      else
        printf '  %-18s %-3s FAILED (exit %d); last lines of %s:\n' "$b" "$build" "$rc" "$base.log"
        tail -n 15 "$base.log" | sed 's/^/    /'
        rm -f "$base.json"
        status=1
      fi
    done
  done
done
echo "took $(($(date +%s) - t_start)) s; load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

"${PYTHON:-/usr/bin/python3}" "$here/compare_builds_table.py" "$raw" || status=1
echo
echo "raw JSON and logs: $raw"
exit "$status"
