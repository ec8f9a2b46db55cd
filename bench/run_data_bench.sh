#!/usr/bin/env bash
# The datasets library against Dask's dataframes on the same cores, in one go: manta_data_bench
# (groupby, then the out-of-core sort with small stores, then the HDF5 pipeline) on RANKS ranks,
# and bench/peers/dask_data_bench.py (groupby, and the sort at the sizes it can do in its time
# limit) on as many worker processes of one thread. Prints one table comparing them and writes
# OUT/data_bench.txt and OUT/data_bench.json.
#
# Usage: bench/run_data_bench.sh [--quick] [--out DIR] [--raw DIR] [--report-only] [ranks]
#   ranks         processes per engine (default 4)
#   --quick       small sizes, for a smoke run (tests); writes nothing to bench/results unless
#                 --out says where
#   --out         where the report goes (default bench/results)
#   --raw         where each run's JSON and log go (default a new folder under $TMPDIR or /tmp)
#   --report-only no runs: the table and report from the JSON already in --raw DIR
# Settings (environment): ROWS (groupby rows, 10000000), SORT_BYTES (4G), STORE (each rank's
# store for the sort, 256M), HDF5_BYTES (512M), DASK_SORT_SIZES (256M,1G,4G),
# DASK_SORT_LIMIT (seconds per Dask sort, 600), DASK_MEMORY (each Dask worker's memory limit and
# the stores of a second Manta sort, in binary units: 3G), SPILL_DIR
# (Manta's spill directory and the benchmark's files; $TMPDIR or /tmp).
# MANTA_BENCH_DIR: the folder of the benchmark binaries (default build-bench/bench, then
# build/bench); PYTHON: the Python with Debian's Dask and pandas (/usr/bin/python3).
# Exit status: 0 when both engines ran and every check passed.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/bench_common.sh"

quick=0
report_only=0
raw=""
out_dir=""
ranks=4
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --out) out_dir="$2"; shift ;;
    --raw) raw="$2"; shift ;;
    --report-only) report_only=1 ;;
    -h | --help) sed -n '2,21p' "${BASH_SOURCE[0]}"; exit 0 ;;
    [0-9]*) ranks="$1" ;;
    *) echo "run_data_bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

bin="$(find_bench_binary manta_data_bench "${MANTA_DATA_BENCH:-}")" || exit 2
py="${PYTHON:-/usr/bin/python3}"
if ! "$py" -c "import distributed, dask.dataframe, pandas" 2>/dev/null; then
  echo "run_data_bench.sh: $py cannot import Dask's dataframes; install python3-distributed," \
    "python3-dask and python3-pandas (scripts/install-deps.sh)" >&2
  exit 3
fi

spill_dir="${SPILL_DIR:-${TMPDIR:-/tmp}}"
store="${STORE:-256M}"
if [ "$quick" -eq 1 ]; then
  manta_args=(--quick)
  dask_args=(--quick)
  store="${STORE:-32M}"
  limit=300
else
  manta_args=(--rows "${ROWS:-10000000}" --bytes "${SORT_BYTES:-4G}" --hdf5-bytes "${HDF5_BYTES:-512M}")
  dask_args=(--rows "${ROWS:-10000000}" --sort-sizes "${DASK_SORT_SIZES:-256M,1G,4G}"
    --sort-time-limit "${DASK_SORT_LIMIT:-600}" --memory-limit "${DASK_MEMORY:-3G}iB")
  limit=3600
fi
[ -n "$out_dir" ] || out_dir="$([ "$quick" -eq 1 ] && mktemp -d -t manta_data_report.XXXXXX || echo "$here/results")"
[ -n "$raw" ] || raw="$(mktemp -d -t manta_data_bench.XXXXXX)"
mkdir -p "$out_dir" "$raw"
status=0

# run NAME LOG COMMAND...: one run, timed, with its end printed if it fails.
run() {
  local name="$1" log="$2" rc=0 t0
  shift 2
  t0=$(date +%s)
  echo "== $name: $*" >"$log.cmd"
  timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1 || rc=$?
  if [ "$rc" -eq 0 ]; then
    printf '  %-34s ok (%d s)\n' "$name" $(($(date +%s) - t0))
  else
    printf '  %-34s FAILED (exit %d); last lines of %s:\n' "$name" "$rc" "$log"
    tail -n 25 "$log" | sed 's/^/    /'
    status=1
  fi
}

if [ "$report_only" -eq 1 ] && [ ! -d "$raw" ]; then
  echo "run_data_bench.sh: --report-only needs --raw DIR with the runs' JSON" >&2
  exit 2
fi
if [ "$report_only" -eq 0 ]; then
echo "== $ranks processes per engine; Manta's spill directory and files in $spill_dir; raw output in $raw"
# The groupby and the HDF5 pipeline with the default stores, the sort with small ones (the data
# several times their total), each in a job of its own.
run "Manta groupby" "$raw/manta_groupby.log" mpirun --oversubscribe -n "$ranks" "$bin" groupby \
  "${manta_args[@]}" --json "$raw/manta_groupby.json" --manta-spill-dir="$spill_dir"
run "Manta sort ($store stores)" "$raw/manta_sort.log" mpirun --oversubscribe -n "$ranks" "$bin" sort \
  "${manta_args[@]}" --json "$raw/manta_sort.json" --manta-object-store-memory="$store" \
  --manta-spill-dir="$spill_dir"
# The same sort with stores as large as Dask's workers' memory: the two engines with equal memory.
if [ "$quick" -eq 0 ]; then
  run "Manta sort (${DASK_MEMORY:-3G} stores, as Dask)" "$raw/manta_sort_same.log" mpirun --oversubscribe \
    -n "$ranks" "$bin" sort "${manta_args[@]}" --json "$raw/manta_sort_same.json" \
    --manta-object-store-memory="${DASK_MEMORY:-3G}" --manta-spill-dir="$spill_dir"
fi
run "Manta HDF5 pipeline" "$raw/manta_hdf5.log" mpirun --oversubscribe -n "$ranks" "$bin" hdf5 \
  "${manta_args[@]}" --json "$raw/manta_hdf5.json" --manta-spill-dir="$spill_dir"
run "Dask groupby and sort" "$raw/dask.log" "$py" "$here/peers/dask_data_bench.py" \
  --workers "$ranks" "${dask_args[@]}" --json "$raw/dask.json"
fi

"$py" - "$raw" "$out_dir" "$ranks" "$quick" "$store" "$here/.." <<'EOF' || status=1
import json, os, platform, subprocess, sys, time
raw, out_dir, ranks, quick, store, repo = (sys.argv[1], sys.argv[2], int(sys.argv[3]),
                                           sys.argv[4] == "1", sys.argv[5], sys.argv[6])

def load(name):
    try:
        with open(os.path.join(raw, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

def human(n):
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"

mg, ms, mh, dk, msame = (load(n) for n in ("manta_groupby.json", "manta_sort.json", "manta_hdf5.json",
                                            "dask.json", "manta_sort_same.json"))
lines, problems = [], []
def row(name, manta, peer="", ratio="", note=""):
    lines.append(f"{name:<44} {manta:>16} {peer:>16} {ratio:>10}  {note}")

lines.append(f"datasets benchmark: Manta ({ranks} ranks) against Dask ({ranks} worker processes, 1 thread each)"
             + (" (quick)" if quick else ""))
lines.append(f"host {platform.node()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M %Z')}")
lines.append("")
row("", "Manta", "Dask", "Dask/Manta")
g = (mg or {}).get("groupby")
dg = (dk or {}).get("groupby")
if g:
    speedup = dg["median_s"] / g["manta_median_s"] if dg else 0
    row(f"groupby {g['rows'] / 1e6:g}M rows, {g['keys']} keys: time",
        f"{g['manta_median_s']:.3f} s", f"{dg['median_s']:.3f} s" if dg else "n/a",
        f"{speedup:.1f}x" if dg else "", "target >= 10x" + ((" (met)" if speedup >= 10 else " (NOT met)") if dg else ""))
    row("groupby: rate", f"{g['rows_per_s'] / 1e6:.1f} Mrows/s",
        f"{dg['rows_per_s'] / 1e6:.1f} Mrows/s" if dg else "n/a")
    row("groupby: one thread, std::unordered_map", f"{g['in_process_median_s']:.3f} s", "", "",
        f"Manta takes {g['ratio_to_in_process']:.1f}x the in-process time")
else:
    problems.append("no Manta groupby figures")
s = (ms or {}).get("sort")
if s:
    row(f"sort {human(s['bytes'])} of 100-byte records: time", f"{s['seconds']:.1f} s", "", "",
        f"{store} stores x {ranks} (data {s['bytes'] / max(1, s['store_capacity_bytes']):.1f}x them); records made in the map stage")
    row("sort: spilled / restored", f"{human(s['spilled_bytes'])}", "", "", f"restored {human(s['restored_bytes'])}")
    row("sort: spill + restore I/O", f"{s['io_mb_s']:.0f} MB/s", "", "",
        f"disk in {s['disk_dir']}: write+fsync {s['disk_write_mb_s']:.0f} MB/s, read {s['disk_read_mb_s']:.0f} MB/s")
    row("sort: fraction of the disk's bandwidth", f"{100 * s['disk_fraction']:.1f} %", "", "",
        "the disk-busy time of its spill I/O at the measured speeds / its time (Exoshuffle: 82 %)")
    # What any out-of-core sort must move: the data beyond the stores, written and read once.
    beyond = max(0, s["bytes"] - s["store_capacity_bytes"])
    needed = (beyond / (s["disk_write_mb_s"] * 1e6) + beyond / (s["disk_read_mb_s"] * 1e6)) / s["seconds"]
    row("sort: needed I/O's fraction of the disk", f"{100 * needed:.1f} %", "", "",
        f"{human(beyond)} beyond the stores written and read once, at the disk's speeds / its time; "
        f"spill amplification {(s['spilled_bytes'] / beyond) if beyond else 0:.1f}x that")
else:
    problems.append("no Manta sort figures")
for d in (dk or {}).get("sort", []):
    if d.get("done"):
        row(f"Dask sort {human(d['bytes'])}: time", "", f"{d['seconds']:.1f} s", "",
            f"{d['mb_per_s']:.1f} MB/s; {d.get('check')}")
    else:
        row(f"Dask sort {human(d['bytes'])}", "", "not done", "", d.get("reason", ""))
if s and dk:
    same = [d for d in dk.get("sort", []) if d.get("done") and d["records"] == s["records"]]
    if same:
        row(f"sort {human(s['bytes'])}, {store} stores / Dask", f"{s['seconds']:.1f} s",
            f"{same[0]['seconds']:.1f} s", f"{same[0]['seconds'] / s['seconds']:.2f}x",
            f"Dask's workers may hold {human(dk.get('memory_limit_per_worker', 0))} each")
    t = (msame or {}).get("sort")
    same2 = [d for d in dk.get("sort", []) if t and d.get("done") and d["records"] == t["records"]]
    if t:
        row(f"sort {human(t['bytes'])}, {human(t['store_capacity_bytes'] / ranks)} stores / Dask",
            f"{t['seconds']:.1f} s", f"{same2[0]['seconds']:.1f} s" if same2 else "n/a",
            f"{same2[0]['seconds'] / t['seconds']:.2f}x" if same2 else "",
            f"as much memory as Dask's workers; spilled {human(t['spilled_bytes'])}")
h = (mh or {}).get("hdf5")
if h:
    row(f"HDF5 read -> map_batches -> write, {human(h['bytes'])}", f"{h['rows_per_s'] / 1e6:.2f} Mrows/s", "", "",
        f"{h['mb_per_s']:.0f} MB/s, {h['seconds']:.2f} s")
    row("HDF5 pipeline: peak store bytes", human(h["peak_store_bytes"]), "", "",
        "ds.stats(): write_hdf5 materializes a map_batches output (its row count is unknown) "
        "and records no stats of its write pass")
else:
    problems.append("no Manta HDF5 figures")
if dk is None:
    problems.append("no Dask figures")
for name, r in (("Manta groupby", mg), ("Manta sort", ms), ("Manta HDF5", mh), ("Dask", dk),
                ("Manta sort with Dask's memory", msame)):
    if r and r.get("checks_failed"):
        problems.append(f"{name}: checks failed: {r['checks_failed']}")
lines.append("")
try:
    commit = subprocess.run(["git", "-C", repo, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
except OSError:
    commit = ""
lines.append(f"commit {commit or 'unknown'}; raw logs and JSON: {raw}")
for p in problems:
    lines.append(f"PROBLEM: {p}")
text = "\n".join(lines) + "\n"
print(text, end="")
with open(os.path.join(out_dir, "data_bench.txt"), "w") as f:
    f.write(text)
with open(os.path.join(out_dir, "data_bench.json"), "w") as f:
    json.dump({"ranks": ranks, "quick": quick, "store": store, "manta_groupby": mg, "manta_sort": ms,
               "manta_hdf5": mh, "manta_sort_same_memory": msame, "dask": dk, "problems": problems},
              f, indent=2)
    f.write("\n")
print(f"report: {out_dir}/data_bench.txt and data_bench.json")
sys.exit(1 if problems else 0)
EOF
exit "$status"
