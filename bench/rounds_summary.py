#!/usr/bin/env python3
"""Summarises several rounds of one benchmark (the JSON files print_report writes, any number
of rank counts): per rank count and row, the median over the rounds of Manta's figure and of its
raw MPI baseline, their ranges, and the median of the rounds' ratios (each round's Manta and MPI
come from the same job, so its ratio is the fairer pairing). A target "<= X x MPI" or ">= X x
MPI" is judged on that median ratio. Prints a table and then the summary as JSON.

Usage: rounds_summary.py FILE.json...
"""
import json
import re
import statistics
import sys


def fmt(v):
    return f"{v:,.2f}" if v is not None else ""


def judge(target, ratio):
    m = re.match(r"\s*(<=|>=)\s*([0-9.]+)\s*x MPI", target or "")
    if not m or ratio is None:
        return None
    bound = float(m.group(2))
    return ratio <= bound if m.group(1) == "<=" else ratio >= bound


def main(paths):
    runs = {}  # ranks -> list of result lists
    for p in paths:
        with open(p) as f:
            j = json.load(f)
        runs.setdefault(j["ranks"], []).append(j["results"])
    summary = []
    for ranks in sorted(runs):
        rounds = runs[ranks]
        print(f"\n{ranks} ranks, median of {len(rounds)} round(s) [min-max]")
        print(f"{'benchmark':<58} {'value':>26} {'unit':<5} {'raw MPI':>26} {'ratio':>6}  target")
        for i, row in enumerate(rounds[0]):
            same = [r[i] for r in rounds if i < len(r) and r[i]["name"] == row["name"]]
            vals = [r["value"] for r in same]
            base = [r["mpi_baseline"] for r in same if "mpi_baseline" in r]
            ratios = [r["ratio_to_mpi"] for r in same if "ratio_to_mpi" in r]
            v = statistics.median(vals)
            b = statistics.median(base) if base else None
            ratio = statistics.median(ratios) if ratios else None
            met = judge(row.get("target"), ratio)
            vs = f"{fmt(v)} [{fmt(min(vals))}-{fmt(max(vals))}]"
            bs = f"{fmt(b)} [{fmt(min(base))}-{fmt(max(base))}]" if base else ""
            tgt = row.get("target") or ""
            if met is not None:
                tgt += "  (met)" if met else "  (NOT met)"
            print(f"{row['name']:<58} {vs:>26} {row['unit']:<5} {bs:>26} "
                  f"{fmt(ratio) if ratio is not None else '':>6}  {tgt}")
            entry = {"ranks": ranks, "rounds": len(same), "name": row["name"],
                     "unit": row["unit"], "value_median": v, "value_range": [min(vals), max(vals)]}
            if base:
                entry.update({"mpi_baseline_name": row.get("mpi_baseline_name", ""),
                              "mpi_baseline_median": b, "mpi_baseline_range": [min(base), max(base)],
                              "ratio_to_mpi_median": ratio})
            if row.get("target"):
                entry.update({"target": row["target"], "met": met})
            summary.append(entry)
    print()
    print(json.dumps({"results": summary}, indent=2))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
