# Shared by the bench/run_*.sh scripts (sourced, not run): finding a benchmark binary, and one
# run under mpirun that prints its table and keeps its log and JSON.

# Open MPI refuses to start as root unless told it may (containers, CI machines).
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

# find_bench_binary NAME OVERRIDE: prints the path of bench/NAME (OVERRIDE if set, else
# $MANTA_BENCH_DIR/NAME if that is set, else build-bench/, else build/ under the repository);
# exits 2 with a message if it is not built.
find_bench_binary() {
  local name="$1" override="$2" root b
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  if [ -n "$override" ]; then
    b="$override"
  elif [ -n "${MANTA_BENCH_DIR:-}" ]; then
    b="$MANTA_BENCH_DIR/$name"
  else
    for b in "$root/build-bench/bench/$name" "$root/build/bench/$name"; do
      [ -x "$b" ] && break
    done
  fi
  if [ ! -x "$b" ]; then
    echo "$name is not built (build the bench/ targets, or give its path)" >&2
    exit 2
  fi
  echo "$b"
}

# run_bench LOG JSON RANKS BINARY ARGS...: one mpirun; prints the table (the JSON that follows
# it in the output is in JSON), or the end of LOG if the run failed. Returns the run's status.
run_bench() {
  local log="$1" json="$2" ranks="$3" rc=0
  shift 3
  mpirun --oversubscribe -n "$ranks" "$@" --json "$json" >"$log" 2>&1 || rc=$?
  if [ "$rc" -eq 0 ]; then
    awk '/^\{/ { exit } { print }' "$log"
  else
    echo "run failed (exit $rc); last lines of $log:"
    tail -n 20 "$log"
  fi
  echo
  return "$rc"
}

# run_each SETTING RANKS BINARY VALUES -- ARGS...: one run per value of the runtime setting
# (e.g. --manta-transport), each table printed; the logs and JSON go to a temporary folder.
# Returns 0 when every run succeeded.
run_each() {
  local setting="$1" ranks="$2" bin="$3" out_dir status=0 values=()
  shift 3
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    values+=("$1")
    shift
  done
  [ $# -gt 0 ] && shift
  out_dir="$(mktemp -d -t "$(basename "$bin").XXXXXX")"
  for v in "${values[@]}"; do
    echo "== $ranks ranks, $setting=$v"
    run_bench "$out_dir/$v.log" "$out_dir/$v.json" "$ranks" "$bin" "$setting=$v" "$@" || status=1
  done
  echo "JSON and logs: $out_dir"
  return "$status"
}
