"""The workloads of Manta's peer benchmark (bench/peer_bench.cpp) on Dask distributed.

A LocalCluster of N worker processes with one thread each (the scheduler runs in this, the
client's, process), so the tasks get as many processes as Manta's N ranks:
    /usr/bin/python3 bench/peers/dask_bench.py --workers N [--quick] [--json F]
Prints one JSON object (and writes it to F): the measured value of each workload.
"""

import argparse
import json
import os
import logging
import statistics
import sys
import time

import dask
import distributed
import numpy as np
from dask.distributed import Client, LocalCluster

# The workloads' functions live in a module of their own, so the workers can import them.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from workloads import (BIG_BYTES, echo, expected_total, make_block, noop,  # noqa: E402
                       pattern, sum_blocks)


class Pinger:
    def __init__(self):
        self.calls = 0

    def small_value(self):
        self.calls += 1
        return 0


def tasks_async(client, n):
    # client.map submits the whole batch in one go: Dask's fastest way to submit many tasks.
    client.gather(client.map(noop, range(min(n, 200)), pure=False))
    t0 = time.perf_counter()
    client.gather(client.map(noop, range(n), pure=False))
    return n / (time.perf_counter() - t0)


def tasks_sync(client, n, runs=5):
    for _ in range(min(n, 20)):
        client.submit(noop, pure=False).result()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for _ in range(n):
            client.submit(noop, pure=False).result()
        times.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(times)


def actor_calls(client, n_async, n_sync, runs=5):
    actor = client.submit(Pinger, actor=True).result()
    for _ in range(min(n_sync, 20)):
        actor.small_value().result()
    t0 = time.perf_counter()
    futures = [actor.small_value() for _ in range(n_async)]
    for f in futures:
        f.result()
    rate = n_async / (time.perf_counter() - t0)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for _ in range(n_sync):
            actor.small_value().result()
        times.append((time.perf_counter() - t0) / n_sync * 1e6)
    del actor
    return rate, statistics.median(times)


def put_get(client, iters):
    times = []
    for k in range(iters + 1):
        a = pattern(k)
        t0 = time.perf_counter()
        # hash=False: no tokenizing of 64 MiB, which a fresh array would pay for nothing.
        stored = client.scatter(a, hash=False)
        back = client.submit(echo, stored, pure=False).result()
        s = time.perf_counter() - t0
        if back.nbytes != BIG_BYTES or not np.array_equal(back[::4093], a[::4093]):
            raise RuntimeError("put/get round trip: wrong contents")
        del stored, back
        if k >= 1:  # the first one warms up buffers and connections
            times.append(s)
    return 2 * BIG_BYTES / statistics.median(times) / 1e9


def map_reduce(client, maps, group):
    t0 = time.perf_counter()
    blocks = client.map(make_block, range(maps), pure=False)
    partials = [
        client.submit(sum_blocks, blocks[g:g + group], pure=False) for g in range(0, maps, group)
    ]
    del blocks  # the reduces hold what they need
    total = sum(client.gather(partials))
    s = time.perf_counter() - t0
    if total != expected_total(maps):
        raise RuntimeError("map-reduce: wrong total")
    return s


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", default="")
    p.add_argument("--maps", type=int, default=0)
    args = p.parse_args()
    q = args.quick
    maps = args.maps or (40 if q else 1000)
    group = min(10 if q else 50, maps)

    dask.config.set({"distributed.admin.tick.limit": "1h"})  # no warnings about slow ticks
    cluster = LocalCluster(
        n_workers=args.workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    client = Client(cluster)
    client.wait_for_workers(args.workers)
    results = {}
    try:
        results["tasks_async"] = {"value": tasks_async(client, 100 if q else 3000),
                                  "unit": "tasks/s"}
        results["tasks_sync"] = {"value": tasks_sync(client, 10 if q else 100), "unit": "us"}
        rate, us = actor_calls(client, 100 if q else 2000, 10 if q else 100)
        results["actor_async"] = {"value": rate, "unit": "calls/s"}
        results["actor_sync"] = {"value": us, "unit": "us"}
        results["putget_64mib"] = {"value": put_get(client, 2 if q else 5), "unit": "GB/s"}
        map_reduce(client, min(maps, 2 * group), group)  # warm up
        results["map_reduce"] = {"value": map_reduce(client, maps, group), "unit": "s"}
    finally:
        client.close()
        cluster.close()
    out = {
        "engine": "dask.distributed",
        "version": distributed.__version__,
        "processes": args.workers + 1,
        "workers": args.workers,
        "quick": q,
        "params": {"maps": maps, "maps_per_reduce": group},
        "results": results,
        "not_available": {},
    }
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    sys.exit(main())
