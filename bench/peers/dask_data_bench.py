"""Manta's datasets benchmark (bench/data_bench.cpp) on Dask's dataframes.

A LocalCluster of N worker processes with one thread each, as many processes as Manta's N ranks:
    /usr/bin/python3 bench/peers/dask_data_bench.py --workers N [--quick] [--json F]
        [--rows R] [--keys K] [--sort-sizes 256M,1G,4G] [--sort-time-limit S]
groupby: R rows (an int64 key uniform over K values, a double uniform in [0, 1)) made and
persisted on the workers, then only groupby(key).value.agg([count, sum, mean]).compute() is
timed (the median of --reps runs). sort: 100-byte records (a 10-byte random key as uint64 +
uint16 columns, a 90-byte payload as 11 uint64 + 1 uint16 columns) made on the workers and
sorted with sort_values on the key's first 8 bytes; each partition is summed up where it is
(first and last key, rows) and the driver checks the order and the count. The sizes run from
small to large; a size whose run passes the time limit, fails, or is projected from the size
before it to pass the limit is not done, and the output says why.
Prints one JSON object (and writes it to F).
"""

import argparse
import json
import logging
import math
import statistics
import sys
import time

import dask
import dask.dataframe as dd
import distributed
import numpy as np
import pandas as pd
from dask.distributed import Client, LocalCluster, wait

MIB = 1 << 20
RECORD_BYTES = 100


def parse_size(text):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    t = text.strip()
    if t and t[-1].upper() in units:
        return int(float(t[:-1]) * units[t[-1].upper()])
    return int(t)


def human(n):
    return f"{n / (1 << 30):.2f} GiB" if n >= 1 << 30 else f"{n / MIB:.1f} MiB"


def key_value_part(args):
    seed, keys, first, count = args
    rng = np.random.default_rng([seed, first])
    return pd.DataFrame({"key": rng.integers(0, keys, count, dtype=np.int64),
                         "value": rng.random(count)})


def records_part(args):
    seed, first, count = args
    rng = np.random.default_rng([seed, first])
    cols = {"key": rng.integers(0, 2**64, count, dtype=np.uint64, endpoint=False),
            "key2": rng.integers(0, 2**16, count, dtype=np.uint16, endpoint=False),
            "number": np.arange(first, first + count, dtype=np.uint64)}
    for c in range(10):  # the rest of the 90-byte payload: 8 + 10 * 8 + 2 bytes
        cols[f"p{c}"] = np.full(count, first, dtype=np.uint64)
    cols["pt"] = np.zeros(count, dtype=np.uint16)
    return pd.DataFrame(cols)


def summarize(df):
    if len(df) == 0:
        return pd.DataFrame({"first": np.array([], dtype=np.uint64),
                             "last": np.array([], dtype=np.uint64),
                             "rows": np.array([], dtype=np.int64),
                             "sorted": np.array([], dtype=bool)})
    k = df["key"].to_numpy()
    return pd.DataFrame({"first": [k[0]], "last": [k[-1]], "rows": [len(df)],
                         "sorted": [bool(np.all(k[1:] >= k[:-1]))]})


def parts(total, n):
    return [(total * i // n, total * (i + 1) // n - total * i // n) for i in range(n)]


def groupby(client, rows, keys, reps, block_bytes, workers):
    nparts = max(workers, math.ceil(rows * 16 / block_bytes))
    df = dd.from_map(key_value_part, [(19, keys, f, c) for f, c in parts(rows, nparts)])
    df = df.persist()
    wait(df)
    times = []
    out = None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = df.groupby("key")["value"].agg(["count", "sum", "mean"]).compute()
        times.append(time.perf_counter() - t0)
    ok = len(out) == keys and int(out["count"].sum()) == rows
    del df
    return {"rows": rows, "keys": keys, "partitions": nparts, "reps": reps, "seconds": times,
            "median_s": statistics.median(times), "rows_per_s": rows / statistics.median(times),
            "check": "ok" if ok else f"FAILED: {len(out)} groups, {int(out['count'].sum())} rows"}


def sort_once(client, nbytes, block_bytes, workers, limit):
    records = nbytes // RECORD_BYTES
    nparts = max(workers, math.ceil(nbytes / block_bytes))
    t0 = time.perf_counter()
    df = dd.from_map(records_part, [(1019, f, c) for f, c in parts(records, nparts)])
    summary = df.sort_values("key").map_partitions(summarize)
    future = client.compute(summary)
    try:
        wait(future, timeout=limit)
    except (TimeoutError, distributed.TimeoutError):
        client.cancel(future)
        return {"bytes": nbytes, "records": records, "partitions": nparts, "done": False,
                "reason": f"not done within the time limit of {limit:.0f} s"}
    if future.status != "finished":
        reason = f"failed: {future.exception()!r}"
        client.cancel(future)
        return {"bytes": nbytes, "records": records, "partitions": nparts, "done": False,
                "reason": reason}
    s = future.result()
    seconds = time.perf_counter() - t0
    s = s[s["rows"] > 0]
    in_order = bool(s["sorted"].all()) and bool(
        np.all(s["first"].to_numpy()[1:] >= s["last"].to_numpy()[:-1]))
    rows = int(s["rows"].sum())
    ok = in_order and rows == records
    return {"bytes": nbytes, "records": records, "partitions": nparts, "done": True,
            "seconds": seconds, "mb_per_s": nbytes / seconds / 1e6,
            "check": "ok" if ok else f"FAILED: in order {in_order}, {rows} of {records} records"}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", default="")
    p.add_argument("--rows", type=int, default=0)
    p.add_argument("--keys", type=int, default=1000)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--block-bytes", default="16M", help="partition size, as Manta's blocks")
    p.add_argument("--sort-sizes", default="", help="e.g. 256M,1G,4G (smallest first)")
    p.add_argument("--sort-time-limit", type=float, default=0)
    p.add_argument("--memory-limit", default="auto", help="per worker, as LocalCluster takes it")
    args = p.parse_args()
    q = args.quick
    rows = args.rows or (200_000 if q else 10_000_000)
    sizes = [parse_size(s) for s in (args.sort_sizes or ("16M" if q else "256M,1G,4G")).split(",")]
    limit = args.sort_time_limit or (60 if q else 600)
    block_bytes = parse_size(args.block_bytes)

    dask.config.set({"distributed.admin.tick.limit": "1h"})  # no warnings about slow ticks
    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=logging.ERROR,
                           memory_limit=args.memory_limit)
    client = Client(cluster)
    client.wait_for_workers(args.workers)
    out = {"engine": "dask.dataframe on dask.distributed", "version": distributed.__version__,
           "pandas": pd.__version__, "workers": args.workers, "threads_per_worker": 1,
           "memory_limit_per_worker": sorted(
               w.get("memory_limit", 0) for w in client.scheduler_info()["workers"].values())[0],
           "quick": q}
    try:
        print(f"groupby: {rows} rows, {args.keys} keys ...", file=sys.stderr, flush=True)
        out["groupby"] = groupby(client, rows, args.keys, args.reps, block_bytes, args.workers)
        print(f"groupby: median {out['groupby']['median_s']:.3f} s", file=sys.stderr, flush=True)
        out["sort"] = []
        previous = None
        for size in sizes:
            if previous and previous.get("done"):
                projected = previous["seconds"] * size / previous["bytes"]
                if projected > limit:
                    out["sort"].append({"bytes": size, "done": False, "reason":
                                        f"not tried: {human(previous['bytes'])} took "
                                        f"{previous['seconds']:.1f} s, so {human(size)} is "
                                        f"projected at {projected:.0f} s, past the time limit "
                                        f"of {limit:.0f} s"})
                    break
            elif previous:
                out["sort"].append({"bytes": size, "done": False,
                                    "reason": f"not tried: {human(previous['bytes'])} was not done"})
                break
            print(f"sort: {human(size)} ...", file=sys.stderr, flush=True)
            previous = sort_once(client, size, block_bytes, args.workers, limit)
            print(f"sort: {previous}", file=sys.stderr, flush=True)
            out["sort"].append(previous)
            if not previous["done"]:
                # A cancelled sort leaves its workers busy: start over for any size after it.
                client.restart()
    finally:
        client.close()
        cluster.close()
    done = [s for s in out.get("sort", []) if s.get("done")]
    out["sort_largest_done"] = done[-1] if done else None
    out["sort_not_done"] = [s for s in out.get("sort", []) if not s.get("done")]
    failed = [c for c in [out.get("groupby", {}).get("check")] + [s.get("check") for s in done]
              if c and c != "ok"]
    out["checks_failed"] = failed
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
