"""The table of bench/compare_builds.sh: for every figure the benchmarks report, the old build's
range over its runs, the new build's range, the ratio of the medians, and where the new range
lies against the old one (the old build's run-to-run spread is the noise).

Usage: compare_builds_table.py RAW_DIR
RAW_DIR holds roundK-BENCH-old.json and roundK-BENCH-new.json, as each benchmark writes them with
--json. Prints a Markdown table; exits 1 when no run of either build left a result.
"""

import json
import re
import statistics
import sys
from pathlib import Path

# The figures of the engine's message paths (submission, scheduling, completion, actor routing);
# marked in the table. The others (large transfers, idle CPU) depend more on memory bandwidth
# and timer wake-ups than on the engine's own code.
KEY = (
    "single_client_tasks_async (one rank)",
    "single_client_tasks_async (driver to rank 1)",
    "single_client_tasks_sync (round trip to rank 1)",
    "1:1 actor calls",
    "n:n actor calls",
)

NAME = re.compile(r"^round(\d+)-(.+)-(old|new)\.json$")


def higher_is_better(unit):
    """Rates (tasks/s, GB/s) improve upwards; times, messages and CPU shares downwards."""
    return unit.endswith("/s")


def fmt(v):
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.3g} M"
    if a >= 1e4:
        return f"{v / 1e3:.3g} k"
    if a >= 100:
        return f"{v:.0f}"
    return f"{v:.3g}"


def load(raw):
    """{(bench, figure): {"unit": u, "old": [values], "new": [values]}} in the benchmarks' order."""
    figures = {}
    runs = []
    for path in raw.iterdir():
        m = NAME.match(path.name)
        if m:
            runs.append((m[2], int(m[1]), m[3], path))
    # Benchmarks in the order they first ran, runs in order within each.
    first = {}
    for bench, _, _, path in runs:
        first[bench] = min(first.get(bench, float("inf")), path.stat().st_mtime)
    runs.sort(key=lambda r: (first[r[0]], r[0], r[1], r[2]))
    for bench, _, build, path in runs:
        try:
            doc = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            print(f"compare_builds_table: skipping {path}: {e}", file=sys.stderr)
            continue
        # The raw MPI round trip of the same run: a check on the machine's own noise.
        rows = [{"name": "raw MPI ping-pong round trip", "value": doc.get("mpi_round_trip_us", 0),
                 "unit": "us"}] + doc.get("results", [])
        for r in rows:
            if r["name"] == "raw MPI ping-pong round trip" and r["value"] <= 0:
                continue  # one rank: no baseline
            f = figures.setdefault((bench, r["name"]), {"unit": r["unit"], "old": [], "new": []})
            f[build].append(float(r["value"]))
    return figures


def verdict(old, new, unit):
    """Where the new range lies against the old one."""
    if not old or not new:
        return "missing"
    lo, hi = min(old), max(old)
    if lo <= min(new) and max(new) <= hi:
        return "within"
    if min(new) <= hi and max(new) >= lo:
        return "overlaps"
    above = min(new) > hi
    return "better" if above == higher_is_better(unit) else "WORSE"


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    figures = load(Path(sys.argv[1]))
    if not any(f["old"] or f["new"] for f in figures.values()):
        print("compare_builds_table: no results", file=sys.stderr)
        return 1

    def rng(v):
        return f"{fmt(min(v))} – {fmt(max(v))}" if v else "-"

    print("| | benchmark | figure | unit | old: min – max | old spread | new: min – max "
          "| new / old (medians) | new range |")
    print("|---|---|---|---|---|---|---|---|---|")
    outside = []
    for (bench, name), f in figures.items():
        old, new, unit = f["old"], f["new"], f["unit"]
        key = name.startswith(KEY)
        spread = (f"{(max(old) - min(old)) / statistics.median(old) * 100:.0f} %"
                  if old and statistics.median(old) else "-")
        ratio = (f"{statistics.median(new) / statistics.median(old):.3f}"
                 if old and new and statistics.median(old) else "-")
        v = verdict(old, new, unit)
        if key and v in ("WORSE", "missing"):
            outside.append(name)
        print(f"| {'*' if key else ''} | {bench} | {name} | {unit} | {rng(old)} ({len(old)}) "
              f"| {spread} | {rng(new)} ({len(new)}) | {ratio} | {v} |")
    print()
    print("* a figure of the engine's message paths. new range: within the old range, overlaps it,")
    print("  or lies wholly on the better or the WORSE side of it.")
    fewest = min(min(len(f["old"]), len(f["new"])) for f in figures.values())
    if fewest < 3:
        print(f"Only {fewest} run(s) of a build: too few for its range to measure the noise.")
    if outside:
        print("Key figures outside the old build's noise on the worse side (or missing): "
              + "; ".join(outside))
    else:
        print("Every key figure of the new build is within or overlaps the old build's range, "
              "or is better.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
