"""Checks what bench/run_peers.sh wrote into a folder: the JSON has every workload for every
engine with positive figures (or a reason where the engine cannot run it), the ratios, the
scaling study at every size; the Markdown report has both tables with their ratios; the PNG
plots are complete PNG files. Exit status 1, with every problem listed, when anything is off.

    python3 check_peers_report.py OUT_DIR [--rounds R]
"""

import argparse
import json
import math
import os
import re
import struct
import sys

ENGINES = ["manta", "mpi", "mpi4py", "dask"]
WORKLOADS = ["tasks_async", "tasks_sync", "actor_async", "actor_sync", "putget_64mib",
             "map_reduce"]
# The only cells that may be "not available", and why: mpi4py.futures has no actors.
MAY_BE_MISSING = {("mpi4py", "actor_async"), ("mpi4py", "actor_sync")}
SCALING_RANKS = [1, 2, 4, 8]
SCALING_SHAPES = 4
MD_HEADER = ("| workload | unit | Manta | raw MPI | mpi4py.futures | Dask | Manta/MPI | "
             "Manta/mpi4py | Manta/Dask |")

problems = []


def expect(ok, what):
    if not ok:
        problems.append(what)
    return ok


def positive(v):
    return isinstance(v, (int, float)) and math.isfinite(v) and v > 0


def check_png(path):
    if not expect(os.path.isfile(path), f"{path}: missing"):
        return
    with open(path, "rb") as f:
        data = f.read()
    if not expect(data[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: not a PNG file"):
        return
    width, height = struct.unpack(">II", data[16:24])
    expect(data[12:16] == b"IHDR" and width >= 200 and height >= 200,
           f"{path}: header says {width} x {height}")
    expect(data[-8:-4] == b"IEND", f"{path}: truncated (no IEND chunk)")
    expect(b"IDAT" in data and len(data) > 10_000, f"{path}: no image data to speak of")


def check_json(doc, rounds):
    for e in ENGINES:
        res = doc.get("results", {}).get(e)
        if not expect(isinstance(res, dict), f"JSON: no results for engine {e}"):
            continue
        for key in WORKLOADS:
            s = res.get(key)
            if (e, key) in MAY_BE_MISSING:
                expect(isinstance(s, dict) and s.get("not_available"),
                       f"JSON: {e}/{key} should say why it is not available")
                continue
            if not expect(isinstance(s, dict) and "median" in s, f"JSON: {e}/{key} is missing"):
                continue
            expect(positive(s["median"]) and positive(s["min"]) and positive(s["max"]),
                   f"JSON: {e}/{key} is not a positive figure: {s}")
            expect(s["min"] <= s["median"] <= s["max"], f"JSON: {e}/{key}: range out of order")
            if rounds:
                expect(len(s.get("runs", [])) == rounds,
                       f"JSON: {e}/{key} has {len(s.get('runs', []))} runs, expected {rounds}")
    for e in ("mpi", "mpi4py", "dask"):
        r = doc.get("ratios", {}).get(f"manta/{e}", {})
        for key in WORKLOADS:
            if (e, key) in MAY_BE_MISSING:
                continue
            expect(positive(r.get(key)), f"JSON: ratio manta/{e} for {key} missing")
    sc = doc.get("scaling", {})
    expect(sc.get("ranks") == SCALING_RANKS, f"JSON: scaling ranks are {sc.get('ranks')}")
    shapes = sc.get("shapes", [])
    expect(len(shapes) == SCALING_SHAPES, f"JSON: {len(shapes)} scaling shapes")
    for s in shapes:
        for n in SCALING_RANKS:
            e = s.get("by_ranks", {}).get(str(n))
            if not expect(e, f"JSON: scaling '{s.get('name')}' has nothing at {n} ranks"):
                continue
            expect(positive(e.get("tasks_per_s", {}).get("median")),
                   f"JSON: scaling '{s['name']}' at {n} ranks: no tasks/s")
            expect(positive(e.get("per_rank_efficiency")),
                   f"JSON: scaling '{s['name']}' at {n} ranks: no per-rank efficiency")
            m = e.get("msgs_to_rank0_per_task", {}).get("median")
            if expect(isinstance(m, (int, float)) and m >= 0,
                      f"JSON: scaling '{s['name']}' at {n} ranks: no message count"):
                if n == 1:
                    expect(m == 0, f"JSON: '{s['name']}' on 1 rank sent rank 0 messages: {m}")
                if s["name"] == "driver fan-out" and n > 1:
                    # Every task that ran elsewhere sends its result to the driver.
                    expect(m > 0, f"JSON: driver fan-out at {n} ranks counted no messages")
                if "pinned" in s["name"]:
                    expect(m < 0.1, f"JSON: pinned tasks sent rank 0 {m} messages per task")
        expect(positive(sc.get("mpi_fan_out", {}).get("8", {}).get("median")),
               "JSON: no raw MPI fan-out at 8 ranks")
    expect(doc.get("note_1000_ranks"), "JSON: no note on 1,000 ranks")


def table_rows(md, header):
    lines = md.splitlines()
    if header not in lines:
        return None
    rows = []
    for line in lines[lines.index(header) + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def number(cell):
    return re.match(r"^[0-9][0-9,]*(\.[0-9]+)?$", cell) is not None


def check_markdown(md, date):
    rows = table_rows(md, MD_HEADER)
    if not expect(rows is not None, "Markdown: no table of the workloads"):
        return
    labels = ["async empty tasks", "sync round trip", "1:1 actor calls, async",
              "1:1 actor calls, sync", "put/get of 64 MiB", "map-reduce"]
    expect(len(rows) == len(labels), f"Markdown: {len(rows)} workload rows, expected {len(labels)}")
    for label in labels:
        row = next((r for r in rows if r[0].startswith(label)), None)
        if not expect(row and len(row) == 9, f"Markdown: no row for '{label}'"):
            continue
        for col, engine in zip(row[2:6], ENGINES):
            expect(col != "", f"Markdown: '{label}' has no {engine} figure")
        for col, engine in zip(row[6:9], ("mpi", "mpi4py", "dask")):
            if engine == "mpi4py" and row[4] == "n/a":
                continue
            expect(number(col), f"Markdown: '{label}' ratio Manta/{engine} is '{col}'")
    srows = [line for line in md.splitlines() if re.match(r"^\| (driver|every rank)", line)]
    expect(len(srows) == SCALING_SHAPES * len(SCALING_RANKS),
           f"Markdown: {len(srows)} scaling rows, expected {SCALING_SHAPES * len(SCALING_RANKS)}")
    expect("per-rank efficiency" in md, "Markdown: no per-rank efficiency")
    expect("### What the counts imply at 1,000 ranks" in md, "Markdown: no note on 1,000 ranks")
    for png in (f"{date}-peers.png", f"{date}-scaling.png"):
        expect(f"]({png})" in md, f"Markdown: does not show {png}")
    expect("## Missing" not in md, "Markdown: the report lists missing figures")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--rounds", type=int, default=0)
    a = p.parse_args()
    latest = os.path.join(a.out, "latest.md")
    if not os.path.isfile(latest):
        print(f"check_peers_report: {latest} is missing")
        return 1
    md = open(latest).read()
    m = re.search(r"^# Manta against its peers, (\d{4}-\d{2}-\d{2})$", md, re.M)
    if not m:
        print("check_peers_report: latest.md has no dated title")
        return 1
    date = m.group(1)
    dated = os.path.join(a.out, f"{date}.md")
    expect(os.path.isfile(dated) and open(dated).read() == md,
           f"{date}.md is missing or differs from latest.md")
    try:
        with open(os.path.join(a.out, f"{date}.json")) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        problems.append(f"{date}.json: {e}")
        doc = {}
    check_json(doc, a.rounds)
    check_markdown(md, date)
    for png in (f"{date}-peers.png", f"{date}-scaling.png"):
        check_png(os.path.join(a.out, png))
    for problem in problems:
        print(f"check_peers_report: {problem}")
    if problems:
        return 1
    print(f"check_peers_report: {a.out}: every engine, workload, ratio, scaling size and plot "
          "is there")
    return 0


if __name__ == "__main__":
    sys.exit(main())
