#!/usr/bin/env bash
# Manta against its peers, in one go: Manta's rows and their raw MPI baselines
# (manta_peer_bench), the same workloads on mpi4py.futures and on Dask distributed
# (bench/peers/), interleaved over several rounds so that noise falls on every engine alike, and
# the scaling study (manta_scaling_bench at 1, 2, 4 and 8 ranks). Then writes
# OUT/<date>.json, OUT/<date>.md with its PNG plots, and OUT/latest.md (a copy).
#
# Usage: bench/run_peers.sh [--quick] [--rounds R] [--out DIR] [--raw DIR] [ranks]
#   ranks     processes per engine for the peer workloads (default 2)
#   --quick   tiny counts, one round unless --rounds says otherwise: a smoke run for tests
#   --out     where the report goes (default bench/results)
#   --raw     where each run's JSON and log go (default a new folder under $TMPDIR or /tmp)
# MANTA_BENCH_DIR: the folder of the benchmark binaries (default build-bench/bench, then
# build/bench); PYTHON: the Python with Debian's mpi4py, Dask and matplotlib (/usr/bin/python3).
# Exit status: 0 when every run succeeded and the report is complete.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/bench_common.sh"

quick=0
rounds=""
raw=""
out_dir="$here/results"
ranks=2
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --rounds) rounds="$2"; shift ;;
    --out) out_dir="$2"; shift ;;
    --raw) raw="$2"; shift ;;
    -h | --help) sed -n '2,15p' "${BASH_SOURCE[0]}"; exit 0 ;;
    [0-9]*) ranks="$1" ;;
    *) echo "run_peers.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$rounds" ] || rounds=$((quick ? 1 : 3))
if [ "$ranks" -lt 2 ]; then
  echo "run_peers.sh: needs 2 or more ranks (tasks run on another process)" >&2
  exit 2
fi
scaling_ranks=(1 2 4 8)

peer_bin="$(find_bench_binary manta_peer_bench "${MANTA_PEER_BENCH:-}")" || exit 2
scaling_bin="$(find_bench_binary manta_scaling_bench "${MANTA_SCALING_BENCH:-}")" || exit 2

# The peers are Debian's packages, for Debian's Python (a python3 earlier on PATH may lack them).
py="${PYTHON:-/usr/bin/python3}"
missing=""
for pair in mpi4py:python3-mpi4py distributed:python3-distributed numpy:python3-numpy \
  matplotlib:python3-matplotlib; do
  if ! "$py" -c "import ${pair%%:*}" 2>/dev/null; then
    missing="$missing ${pair#*:}"
  fi
done
if [ -n "$missing" ]; then
  echo "run_peers.sh: $py cannot import what the peers need; install:$missing" >&2
  echo "  (apt-get install$missing, or scripts/install-deps.sh)" >&2
  exit 3
fi

quick_flag=()
limit=900  # seconds any one run may take before it counts as hung
if [ "$quick" -eq 1 ]; then
  quick_flag=(--quick)
  limit=180
fi
[ -n "$raw" ] || raw="$(mktemp -d -t manta_peers.XXXXXX)"
mkdir -p "$out_dir" "$raw"
status=0

# run NAME LOG COMMAND...: one timed run; its JSON is written by the command itself.
run() {
  local name="$1" log="$2" rc=0 t0 ms
  shift 2
  t0=$(date +%s%N)
  timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1 || rc=$?
  ms=$((($(date +%s%N) - t0) / 1000000))
  if [ "$rc" -eq 0 ]; then
    printf '  %-22s ok (%d.%01d s)\n' "$name" $((ms / 1000)) $((ms % 1000 / 100))
  else
    printf '  %-22s FAILED (exit %d); last lines of %s:\n' "$name" "$rc" "$log"
    tail -n 15 "$log" | sed 's/^/    /'
    status=1
  fi
}

engines=(manta mpi4py dask)
for ((round = 1; round <= rounds; ++round)); do
  echo "== round $round of $rounds ($ranks processes per engine)"
  # Each round starts with a different engine, so none always runs first (or last).
  for ((i = 0; i < ${#engines[@]}; ++i)); do
    e="${engines[$(((i + round - 1) % ${#engines[@]}))]}"
    base="$raw/round$round-$e"
    case "$e" in
      manta)
        run "Manta + raw MPI" "$base.log" mpirun --oversubscribe -n "$ranks" "$peer_bin" \
          "${quick_flag[@]}" --json "$base.json" ;;
      mpi4py)
        run "mpi4py.futures" "$base.log" mpirun --oversubscribe -n "$ranks" \
          "$py" -m mpi4py.futures "$here/peers/mpi4py_bench.py" "${quick_flag[@]}" \
          --json "$base.json" ;;
      dask)
        run "Dask distributed" "$base.log" "$py" "$here/peers/dask_bench.py" --workers "$ranks" \
          "${quick_flag[@]}" --json "$base.json" ;;
    esac
  done
  for n in "${scaling_ranks[@]}"; do
    base="$raw/round$round-scaling-np$n"
    run "scaling, $n ranks" "$base.log" mpirun --oversubscribe -n "$n" "$scaling_bin" \
      "${quick_flag[@]}" --json "$base.json"
  done
done

date_tag="$(date +%F)"
echo "== report"
if ! "$py" "$here/peers/make_report.py" --raw "$raw" --out "$out_dir" --date "$date_tag" \
  --ranks "$ranks" --rounds "$rounds" --scaling-ranks "${scaling_ranks[*]}" \
  --repo "$here/.."; then
  status=1
fi
echo "raw JSON and logs: $raw"
exit "$status"
