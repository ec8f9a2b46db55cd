"""Collects the runs of bench/run_peers.sh into one JSON file, a Markdown report and PNG plots.

    /usr/bin/python3 bench/peers/make_report.py --raw DIR --out DIR --date YYYY-MM-DD \
        --ranks N --rounds R --scaling-ranks "1 2 4 8" [--repo PATH]

DIR (raw) holds roundK-manta.json, roundK-mpi4py.json, roundK-dask.json and
roundK-scaling-npN.json as the runs wrote them. Writes OUT/DATE.json, OUT/DATE.md,
OUT/DATE-peers.png, OUT/DATE-scaling.png and OUT/latest.md (a copy of DATE.md). Every figure
comes from those runs; a run that is missing leaves its cells empty and the exit status 1.
"""

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

ENGINES = ["manta", "mpi", "mpi4py", "dask"]
ENGINE_NAMES = {
    "manta": "Manta",
    "mpi": "raw MPI",
    "mpi4py": "mpi4py.futures",
    "dask": "Dask",
}
ENGINE_COLOURS = {"manta": "#1f77b4", "mpi": "#7f7f7f", "mpi4py": "#2ca02c", "dask": "#d62728"}

# key, label, unit, which way is better
WORKLOADS = [
    ("tasks_async", "async empty tasks", "tasks/s", "higher"),
    ("tasks_sync", "sync round trip of an empty task", "µs", "lower"),
    ("actor_async", "1:1 actor calls, async", "calls/s", "higher"),
    ("actor_sync", "1:1 actor calls, sync round trip", "µs", "lower"),
    ("putget_64mib", "put/get of 64 MiB (there and back)", "GB/s", "higher"),
    ("map_reduce", "map-reduce of 1 MiB blocks", "s", "lower"),
]
WORKLOAD_KEYS = [w[0] for w in WORKLOADS]

# Rows of manta_peer_bench's JSON, by the start of their name.
MANTA_ROWS = [
    ("async empty tasks", "tasks_async"),
    ("sync task round trip", "tasks_sync"),
    ("1:1 actor calls async", "actor_async"),
    ("1:1 actor calls sync", "actor_sync"),
    ("put/get 64 MiB round trip", "putget_64mib"),
    ("map-reduce, ", "map_reduce"),
]

# Fields of each scaling shape, by the end of the row name.
SCALING_FIELDS = [
    ("tasks/s", "tasks_per_s"),
    ("control messages to rank 0 per task", "msgs_to_rank0_per_task"),
    ("control messages to rank 0 per rank per second", "msgs_to_rank0_per_rank_s"),
    ("control messages per task, all ranks", "msgs_per_task"),
    ("MPI sends per task, all ranks", "mpi_sends_per_task"),
    ("tasks forwarded to the global scheduler", "forwarded_pct"),
    ("tasks sent on leases", "leased_pct"),
    ("results per result message", "results_per_message"),
]


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def summary(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "runs": values,
    }


def sig(v, digits=3):
    """v with `digits` significant digits, in plain notation."""
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 10 ** digits:
        return f"{v:,.0f}"
    decimals = max(0, digits - 1 - int(f"{a:e}".split("e")[1]))
    return f"{v:,.{decimals}f}"


def human(v, unit):
    """A figure as a person reads it: 439 k tasks/s, 1.23 M, 10.8 µs."""
    if v is None:
        return ""
    if unit in ("tasks/s", "calls/s", "msgs/s"):
        if v >= 1e6:
            return sig(v / 1e6) + " M"
        if v >= 1e3:
            return sig(v / 1e3) + " k"
    return sig(v)


def cell(s, unit):
    if s is None:
        return ""
    if "not_available" in s:
        return "n/a"
    text = human(s["median"], unit)
    if len(s["runs"]) > 1 and s["max"] > s["min"]:
        text += f" ({human(s['min'], unit)}–{human(s['max'], unit)})"
    return text


def rounds_text(n):
    return "1 round" if n == 1 else f"{n} rounds"


def machine(repo):
    info = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.+)", f.read())
            info["cpu"] = m.group(1).strip() if m else platform.processor()
        with open("/proc/meminfo") as f:
            m = re.search(r"MemTotal:\s*(\d+)", f.read())
            info["memory_gib"] = round(int(m.group(1)) / 2**20, 1) if m else None
    except OSError:
        pass
    try:
        v = subprocess.run(["mpirun", "--version"], capture_output=True, text=True, timeout=30)
        info["mpi"] = v.stdout.splitlines()[0].strip() if v.stdout else ""
    except (OSError, subprocess.SubprocessError):
        info["mpi"] = ""
    try:
        import numpy

        info["numpy"] = numpy.__version__
    except ImportError:
        pass
    if repo:
        try:
            v = subprocess.run(["git", "-C", repo, "rev-parse", "--short", "HEAD"],
                               capture_output=True, text=True, timeout=30)
            info["manta_commit"] = v.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return info


def collect_peers(raw, rounds):
    """Per engine and workload, the values of every round; and what else the runs said."""
    values = {e: {k: [] for k in WORKLOAD_KEYS} for e in ENGINES}
    not_available = {e: {} for e in ENGINES}
    meta = {e: {} for e in ENGINES}
    problems = []
    off_driver = []
    for r in range(1, rounds + 1):
        m = load(os.path.join(raw, f"round{r}-manta.json"))
        if m is None:
            problems.append(f"round {r}: no Manta results")
        else:
            meta["manta"] = {"processes": m.get("ranks"), "quick": m.get("quick")}
            for row in m.get("results", []):
                name = row["name"]
                if name.startswith("map-reduce: tasks run off"):
                    off_driver.append(row["value"])
                    continue
                for prefix, key in MANTA_ROWS:
                    if name.startswith(prefix):
                        values["manta"][key].append(row["value"])
                        meta["manta"].setdefault("rows", {})[key] = name
                        if "mpi_baseline" in row:
                            values["mpi"][key].append(row["mpi_baseline"])
                            meta["mpi"].setdefault("rows", {})[key] = row["mpi_baseline_name"]
                        t = re.search(r"\[(\w+)\]", name)
                        if t:
                            meta["manta"]["transport"] = t.group(1)
                        mr = re.match(r"map-reduce, (\d+) maps x 1 MiB, (\d+) reduces", name)
                        if mr:
                            meta["manta"]["maps"] = int(mr.group(1))
                            meta["manta"]["reduces"] = int(mr.group(2))
        for e in ("mpi4py", "dask"):
            p = load(os.path.join(raw, f"round{r}-{e}.json"))
            if p is None:
                problems.append(f"round {r}: no {ENGINE_NAMES[e]} results")
                continue
            meta[e] = {k: p.get(k) for k in ("engine", "version", "processes", "workers", "params")}
            for key, v in p.get("results", {}).items():
                if key in values[e]:
                    values[e][key].append(v["value"])
            not_available[e].update(p.get("not_available", {}))
    results = {}
    for e in ENGINES:
        results[e] = {}
        for key in WORKLOAD_KEYS:
            if key in not_available[e]:
                results[e][key] = {"not_available": not_available[e][key]}
            else:
                s = summary(values[e][key])
                if s is None:
                    problems.append(f"{ENGINE_NAMES[e]}: no figure for {key}")
                results[e][key] = s
    return results, meta, problems, summary(off_driver)


def collect_scaling(raw, rounds, ranks_list):
    shapes = {}  # shape -> ranks -> field -> values
    mpi = {}
    workers = {}
    problems = []
    order = []
    for r in range(1, rounds + 1):
        for n in ranks_list:
            s = load(os.path.join(raw, f"round{r}-scaling-np{n}.json"))
            if s is None:
                problems.append(f"round {r}: no scaling results at {n} ranks")
                continue
            for row in s.get("results", []):
                name = row["name"]
                if name == "worker threads per rank":
                    workers.setdefault(n, []).append(row["value"])
                    continue
                shape, _, what = name.partition(": ")
                for suffix, field in SCALING_FIELDS:
                    if what == suffix:
                        if shape not in order:
                            order.append(shape)
                        shapes.setdefault(shape, {}).setdefault(n, {}).setdefault(field, []).append(
                            row["value"])
                        if field == "tasks_per_s" and row.get("mpi_baseline"):
                            mpi.setdefault(n, []).append(row["mpi_baseline"])
    out = {"ranks": ranks_list, "shapes": []}
    for shape in order:
        by = {}
        one = None
        if 1 in shapes[shape] and "tasks_per_s" in shapes[shape][1]:
            one = statistics.median(shapes[shape][1]["tasks_per_s"])
        for n in ranks_list:
            fields = shapes[shape].get(n)
            if not fields:
                problems.append(f"scaling: no figures for '{shape}' at {n} ranks")
                continue
            entry = {f: summary(v) for f, v in fields.items()}
            rate = entry["tasks_per_s"]["median"] if entry.get("tasks_per_s") else None
            if one and rate:
                entry["relative_throughput"] = rate / one
                entry["per_rank_efficiency"] = rate / (n * one)
            by[str(n)] = entry
        out["shapes"].append({"name": shape, "by_ranks": by})
    out["mpi_fan_out"] = {str(n): summary(v) for n, v in mpi.items()}
    out["worker_threads_per_rank"] = {str(n): statistics.median(v) for n, v in workers.items()}
    return out, problems


def ratios(results):
    out = {}
    for e in ("mpi", "mpi4py", "dask"):
        out[f"manta/{e}"] = {}
        for key in WORKLOAD_KEYS:
            a, b = results["manta"].get(key), results[e].get(key)
            ok = a and b and "median" in a and "median" in b and b["median"] > 0
            out[f"manta/{e}"][key] = a["median"] / b["median"] if ok else None
    return out


def note_1000_ranks(scaling):
    """What the measured message counts imply for rank 0 at 1,000 ranks: arithmetic on the
    figures of this run, nothing else."""
    by_name = {s["name"]: s["by_ranks"] for s in scaling["shapes"]}
    largest = str(max(scaling["ranks"]))

    def med(shape, field, n=largest):
        e = by_name.get(shape, {}).get(n, {}).get(field)
        return e["median"] if e else None

    # The most control messages per second rank 0 took in, over every shape and size here.
    intake, where = 0.0, ""
    for shape, by in by_name.items():
        for n, e in by.items():
            if n == "1" or not e.get("tasks_per_s") or not e.get("msgs_to_rank0_per_task"):
                continue
            rate = e["tasks_per_s"]["median"] * e["msgs_to_rank0_per_task"]["median"]
            if rate > intake:
                intake, where = rate, f"{shape}, {n} ranks"
    lines = []
    fan = "driver fan-out"
    pinned = next((s for s in by_name if "pinned" in s), None)
    unplaced = [s for s in by_name if "unplaced" in s]
    few = min(unplaced, key=lambda s: int(re.search(r"(\d+) in flight", s).group(1)), default=None)
    many = max(unplaced, key=lambda s: int(re.search(r"(\d+) in flight", s).group(1)), default=None)
    if intake > 0:
        lines.append(
            f"The most control traffic rank 0 took in here was {human(intake, 'msgs/s')} "
            f"messages/s ({where}), with every rank on the same {os.cpu_count()} cores.")
    m_fan = med(fan, "msgs_to_rank0_per_task")
    if m_fan is not None:
        rate = med(fan, "tasks_per_s")
        sends = med(fan, "mpi_sends_per_task")
        per_msg = med(fan, "results_per_message")
        n = int(largest)
        line = (f"**Driver fan-out** sends {m_fan:.3f} messages per task to rank 0 at {n} ranks "
                f"(one message per result would be (N-1)/N = {(n - 1) / n:.3f}): the results of "
                "the tasks that ran on other ranks come back to the driver in batches")
        if per_msg:
            at_1000 = 0.999 / per_msg
            line += (f", {per_msg:.0f} to a message. At 1,000 ranks that is about "
                     f"{at_1000:.3f} messages per task, so at the {human(rate, 'tasks/s')} "
                     f"tasks/s measured here the driver would take in about "
                     f"{human(rate * at_1000, 'msgs/s')} messages/s")
        line += "." + (f" MPI sends per task, all ranks: {sends:.4f}." if sends is not None else "")
        lines.append(line)
    for shape in (pinned, few, many):
        if shape is None:
            continue
        m = med(shape, "msgs_to_rank0_per_task")
        per_s = med(shape, "msgs_to_rank0_per_rank_s")
        rate = med(shape, "tasks_per_s")
        if m is None or per_s is None or rate is None:
            continue
        load = 999 * per_s
        why = ("its load reports, at most one per `--manta-report-interval-ms`, and the "
               "submitter's result")
        if shape == many:
            fwd = med(shape, "forwarded_pct") or 0.0
            leased = med(shape, "leased_pct") or 0.0
            why += (f"; {fwd:.1f} % of the tasks went to rank 0's global scheduler and "
                    f"{leased:.1f} % out on leases: past the forwarding threshold (4 tasks per "
                    "CPU) a rank keeps a queue that drains within `--manta-lease-backlog-ms` and "
                    "asks rank 0 for a lease, once per backlog, for a longer one")
        lines.append(
            f"**{shape[0].upper() + shape[1:]}** sends rank 0 {m:.5f} messages per task at "
            f"{largest} ranks ({human(rate, 'tasks/s')} tasks/s in all): what reaches rank 0 "
            f"comes with time, not with tasks, {per_s:.0f} messages/s from each busy rank "
            f"({why}). 999 busy ranks would send rank 0 about {human(load, 'msgs/s')} "
            "messages/s however many tasks they run; a longer report interval divides that, and "
            "`bench/results/control_plane_sim.md` measures where rank 0 saturates.")
    return lines


def plot_peers(results, path, date, ranks):
    fig, axes = plt.subplots(2, 3, figsize=(13, 7.5))
    for ax, (key, label, unit, better) in zip(axes.flat, WORKLOADS):
        xs, hs, lo, hi, colours, names = [], [], [], [], [], []
        for i, e in enumerate(ENGINES):
            s = results[e].get(key)
            names.append(ENGINE_NAMES[e])
            xs.append(i)
            colours.append(ENGINE_COLOURS[e])
            if s and "median" in s:
                hs.append(s["median"])
                lo.append(s["median"] - s["min"])
                hi.append(s["max"] - s["median"])
            else:
                hs.append(0)
                lo.append(0)
                hi.append(0)
        ax.bar(xs, hs, color=colours, yerr=[lo, hi], capsize=3)
        ax.set_yscale("log")
        positive = [h for h in hs if h > 0]
        if positive:
            ax.set_ylim(min(positive) / 3, max(positive) * 6)
        for x, h, e in zip(xs, hs, ENGINES):
            s = results[e].get(key)
            text = "n/a" if s and "not_available" in s else (human(h, unit) if h > 0 else "")
            y = h * 1.15 if h > 0 else (min(positive) / 2 if positive else 1)
            ax.text(x, y, text, ha="center", va="bottom", fontsize=8)
        ax.set_xticks(xs)
        ax.set_xticklabels(names, rotation=15, fontsize=8)
        ax.set_title(f"{label}\n{unit}, {better} is better", fontsize=9)
        ax.grid(axis="y", alpha=0.3, which="both")
    fig.suptitle(f"Manta against its peers, {ranks} processes each, {date} (median, min–max)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_scaling(scaling, path, date):
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    ax_rate, ax_eff, ax_msgs, ax_per_s = axes.flat
    ranks = scaling["ranks"]
    markers = ["o", "s", "^", "D"]
    for s, marker in zip(scaling["shapes"], markers):
        by = s["by_ranks"]
        ns = [n for n in ranks if str(n) in by]

        def series(field, ns=ns, by=by):
            pts = [(n, by[str(n)].get(field)) for n in ns]
            pts = [(n, v["median"] if isinstance(v, dict) else v) for n, v in pts if v is not None]
            return [n for n, _ in pts], [v for _, v in pts]

        ax_rate.plot(*series("tasks_per_s"), marker=marker, label=s["name"])
        ax_eff.plot(*series("per_rank_efficiency"), marker=marker, label=s["name"])
        ax_msgs.plot(*series("msgs_to_rank0_per_task"), marker=marker, label=s["name"],
                     alpha=0.85)
        xs, ys = series("msgs_to_rank0_per_rank_s")
        keep = [(x, y) for x, y in zip(xs, ys) if x > 1 and y > 0]
        ax_per_s.plot([x for x, _ in keep], [y for _, y in keep], marker=marker, label=s["name"])
    mpi = scaling.get("mpi_fan_out", {})
    ns = [n for n in ranks if mpi.get(str(n))]
    if ns:
        ax_rate.plot(ns, [mpi[str(n)]["median"] for n in ns], "k--", marker="x",
                     label="raw MPI fan-out (request+reply)")
    def short(v, _):
        return f"{v / 1e6:g} M" if v >= 1e6 else f"{v / 1e3:g} k" if v >= 1e3 else f"{v:g}"

    for ax in (ax_rate, ax_per_s):
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(short))
        ax.yaxis.set_minor_formatter(NullFormatter())
    ax_rate.set_title("empty tasks per second, all ranks together", fontsize=10)
    ax_eff.set_title("per-rank efficiency: tasks/s per rank over tasks/s at 1 rank", fontsize=10)
    ax_msgs.set_title("control messages to rank 0 per task", fontsize=10)
    ax_per_s.set_title("control messages to rank 0 per second, from each other rank",
                       fontsize=10)
    for ax in axes.flat:
        ax.set_xscale("log", base=2)
        ax.set_xticks(ranks)
        ax.set_xticklabels([str(n) for n in ranks])
        ax.set_xlabel(f"ranks (on {os.cpu_count()} cores: oversubscribed past {os.cpu_count()})")
        ax.grid(alpha=0.3, which="both")
    ax_rate.legend(fontsize=7)
    ax_msgs.legend(fontsize=7)
    fig.suptitle(f"Manta scaling, {date} (medians)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(doc, peers_png, scaling_png):
    r = doc["results"]
    rat = doc["ratios"]
    meta = doc["engines"]
    mach = doc["machine"]
    n = doc["ranks"]
    maps = meta["manta"].get("maps")
    reduces = meta["manta"].get("reduces")
    out = [f"# Manta against its peers, {doc['date']}", ""]
    if doc["quick"]:
        out += ["**Quick mode: tiny counts, a smoke run. These figures say nothing about speed.**",
                ""]
    out += [
        f"Measured by `bench/run_peers.sh {n}` on {mach.get('cpu', 'this machine')}, "
        f"{mach.get('cores')} cores, {mach.get('memory_gib')} GiB, Linux {mach.get('kernel')}, "
        f"{mach.get('mpi', 'MPI')}, Python {mach.get('python')}, NumPy {mach.get('numpy', '?')}; "
        f"Manta {mach.get('manta_commit', '')}, mpi4py {meta['mpi4py'].get('version', '?')}, "
        f"Dask distributed {meta['dask'].get('version', '?')}. {rounds_text(doc['rounds'])}, the "
        "engines interleaved (each round starts with a different one); each figure is the median "
        "of the rounds with the range in brackets. Raw MPI is measured inside Manta's job, before "
        "Manta starts.",
        "",
        "## The workloads",
        "",
        "| workload | unit | Manta | raw MPI | mpi4py.futures | Dask | Manta/MPI | Manta/mpi4py "
        "| Manta/Dask |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, label, unit, better in doc["workloads"]:
        name = label
        if key == "map_reduce" and maps:
            name = f"map-reduce, {maps:,} maps × 1 MiB, {reduces} reduces"
        cells = [cell(r[e].get(key), unit) for e in ENGINES]
        rs = []
        for e in ("mpi", "mpi4py", "dask"):
            v = rat[f"manta/{e}"].get(key)
            rs.append(sig(v, 2) if v is not None else "")
        arrow = "↑" if better == "higher" else "↓"
        out.append(f"| {name} | {unit} {arrow} | " + " | ".join(cells) + " | " + " | ".join(rs)
                   + " |")
    out += [
        "",
        "↑: higher is better, ↓: lower is better. A ratio is Manta's median over the other's: "
        "above 1 on an ↑ row, or below 1 on a ↓ row, Manta is ahead.",
        "",
        f"![Manta against its peers]({peers_png})",
        "",
        "How each engine runs, on the same cores:",
        "",
        f"- **Manta**: {n} MPI ranks (`manta_peer_bench`); rank 0 is the driver and also runs "
        "tasks. Tasks, actor calls and the put/get go from the driver to rank 1 (`on_rank(1)`), "
        "so each crosses between processes as it does in the peers; the map-reduce places "
        "nothing by hand. Large objects move over "
        f"{meta['manta'].get('transport', '?')} (the default, `--manta-transport=auto`).",
        f"- **raw MPI**: the same communication with nothing but MPI, between ranks 0 and 1 of "
        "Manta's job: async tasks and actor calls are one 16-byte request and one reply each "
        "(the best of 16, 64 or 256 in flight, no batching); sync rows are an 8-byte ping-pong; "
        "put/get sends 64 MiB to rank 1 and back into touched huge-page memory; the map-reduce "
        "sends each block from the rank that made it to the rank that sums it. Each baseline is "
        "the best of 3 runs in the job.",
        f"- **mpi4py.futures** {meta['mpi4py'].get('version', '')}: `mpirun -n {n} python3 -m "
        f"mpi4py.futures`, so rank 0 drives and {max(n - 1, 1)} worker(s) run tasks; one "
        "`submit` per task. It has no object store: put/get is a 64 MiB NumPy argument and "
        "result, and each map output comes back to the driver and goes out again to its reduce. "
        "It has no actors, so the actor rows are n/a (a stateful worker there would be an "
        "ordinary task, measured by the task rows).",
        f"- **Dask** {meta['dask'].get('version', '')}: a `LocalCluster` of {n} worker processes "
        "with one thread each; the scheduler runs in the client's process. Async tasks are one "
        "`client.map`; sync tasks `submit(...).result()`; actors `client.submit(Pinger, "
        "actor=True)`; put/get is `scatter` (no hashing), a task that returns it, and its result; "
        "the map-reduce passes futures of the blocks to the reduces.",
    ]
    if doc.get("manta_map_reduce_off_driver_pct"):
        s = doc["manta_map_reduce_off_driver_pct"]
        out.append(f"- In Manta's map-reduce, {s['median']:.0f} % of the tasks ran off the "
                   "driver's rank (median of the rounds).")
    sc = doc["scaling"]
    out += [
        "",
        "## Scaling: 1 to 8 ranks",
        "",
        f"`manta_scaling_bench` at {', '.join(str(x) for x in sc['ranks'])} ranks, "
        f"{rounds_text(doc['rounds'])}, each with the same total number of empty tasks. All "
        f"sizes run on the same {mach.get('cores')} cores, so past {mach.get('cores')} ranks they "
        "are oversubscribed and throughput cannot grow with ranks: what carries over to bigger "
        "machines is the per-rank efficiency (tasks/s per rank over the 1-rank rate) and, "
        "above all, the message counts, which each rank counts itself and which do not depend "
        "on cores. Relative throughput (tasks/s over the 1-rank rate) is also the per-core "
        "efficiency here, since the cores stay the same.",
        "",
        "| submission | ranks | tasks/s | per rank | relative throughput | per-rank efficiency "
        "| msgs to rank 0 / task | msgs to rank 0 / rank / s | all msgs / task | MPI sends / task "
        "| forwarded | on leases | results / result msg | raw MPI fan-out |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in sc["shapes"]:
        for nr in sc["ranks"]:
            e = s["by_ranks"].get(str(nr))
            if not e:
                out.append(f"| {s['name']} | {nr} |" + " |" * 12)
                continue
            tps = e["tasks_per_s"]
            mpi = sc["mpi_fan_out"].get(str(nr)) if s["name"] == "driver fan-out" else None

            def f(field, fmt):
                v = e.get(field)
                return fmt.format(v["median"]) if v else ""

            out.append(
                f"| {s['name']} | {nr} | {cell(tps, 'tasks/s')} | "
                f"{human(tps['median'] / nr, 'tasks/s')} | "
                f"{e['relative_throughput']:.2f} | {e['per_rank_efficiency']:.2f} | "
                f"{f('msgs_to_rank0_per_task', '{:.4f}')} | "
                f"{f('msgs_to_rank0_per_rank_s', '{:,.0f}') if nr > 1 else ''} | "
                f"{f('msgs_per_task', '{:.3f}')} | "
                f"{f('mpi_sends_per_task', '{:.4f}')} | {f('forwarded_pct', '{:.1f} %')} | "
                f"{f('leased_pct', '{:.1f} %')} | "
                f"{f('results_per_message', '{:.1f}') if nr > 1 else ''} | "
                f"{human(mpi['median'], 'tasks/s') if mpi else ''} |")
    wt = sc.get("worker_threads_per_rank", {})
    if wt:
        out += ["", "Worker threads per rank (Manta's default, the rank's share of the cores): "
                + ", ".join(f"{k} ranks: {v:.2f}" for k, v in wt.items()) + "."]
    out += ["", f"![Manta scaling]({scaling_png})", "", "### What the counts imply at 1,000 ranks",
            ""]
    out += [f"- {line}" for line in doc["note_1000_ranks"]]
    if doc["problems"]:
        out += ["", "## Missing", ""] + [f"- {p}" for p in doc["problems"]]
    return "\n".join(out) + "\n"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--raw", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--date", required=True)
    p.add_argument("--ranks", type=int, required=True)
    p.add_argument("--rounds", type=int, required=True)
    p.add_argument("--scaling-ranks", default="1 2 4 8")
    p.add_argument("--repo", default="")
    a = p.parse_args()
    scaling_ranks = [int(x) for x in a.scaling_ranks.split()]

    results, meta, problems, off_driver = collect_peers(a.raw, a.rounds)
    scaling, scaling_problems = collect_scaling(a.raw, a.rounds, scaling_ranks)
    problems += scaling_problems
    quick = bool(meta["manta"].get("quick"))
    doc = {
        "date": a.date,
        "quick": quick,
        "ranks": a.ranks,
        "rounds": a.rounds,
        "machine": machine(a.repo),
        "engines": meta,
        "workloads": [list(w) for w in WORKLOADS],
        "results": results,
        "ratios": ratios(results),
        "manta_map_reduce_off_driver_pct": off_driver,
        "scaling": scaling,
        "problems": problems,
    }
    doc["note_1000_ranks"] = note_1000_ranks(scaling)

    os.makedirs(a.out, exist_ok=True)
    peers_png = f"{a.date}-peers.png"
    scaling_png = f"{a.date}-scaling.png"
    plot_peers(results, os.path.join(a.out, peers_png), a.date, a.ranks)
    plot_scaling(scaling, os.path.join(a.out, scaling_png), a.date)
    with open(os.path.join(a.out, f"{a.date}.json"), "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    md_path = os.path.join(a.out, f"{a.date}.md")
    with open(md_path, "w") as f:
        f.write(markdown(doc, peers_png, scaling_png))
    shutil.copyfile(md_path, os.path.join(a.out, "latest.md"))
    print(open(md_path).read())
    for problem in problems:
        print(f"make_report: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
