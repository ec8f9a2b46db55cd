"""The workloads of Manta's peer benchmark (bench/peer_bench.cpp) on mpi4py.futures.

Run on N MPI ranks; rank 0 runs this script and ranks 1..N-1 are the pool's workers:
    mpirun -n N /usr/bin/python3 -m mpi4py.futures bench/peers/mpi4py_bench.py [--quick] [--json F]
Prints one JSON object (and writes it to F): the measured value of each workload.

mpi4py.futures has no actors and no object store: a "put" is a task argument and a "get" its
result, and every map output returns to the driver, which sends it on to a reduce task.
"""

import argparse
import json
import os
import statistics
import sys
import time

import mpi4py
import numpy as np
from mpi4py import MPI
from mpi4py.futures import MPIPoolExecutor

# The workloads' functions live in a module of their own, so the workers can import them.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from workloads import (BIG_BYTES, echo, expected_total, make_block, noop,  # noqa: E402
                       pattern, sum_blocks)


def tasks_async(ex, n):
    for f in [ex.submit(noop) for _ in range(min(n, 200))]:
        f.result()
    t0 = time.perf_counter()
    futures = [ex.submit(noop) for _ in range(n)]
    for f in futures:
        f.result()
    return n / (time.perf_counter() - t0)


def tasks_sync(ex, n, runs=5):
    for _ in range(min(n, 50)):
        ex.submit(noop).result()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for _ in range(n):
            ex.submit(noop).result()
        times.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(times)


def put_get(ex, iters):
    times = []
    for k in range(iters + 1):
        a = pattern(k)
        t0 = time.perf_counter()
        back = ex.submit(echo, a).result()
        s = time.perf_counter() - t0
        if back.nbytes != BIG_BYTES or not np.array_equal(back[::4093], a[::4093]):
            raise RuntimeError("put/get round trip: wrong contents")
        if k >= 1:  # the first one warms up buffers
            times.append(s)
    return 2 * BIG_BYTES / statistics.median(times) / 1e9


def map_reduce(ex, maps, group):
    t0 = time.perf_counter()
    blocks = [ex.submit(make_block, m) for m in range(maps)]
    partials = []
    # A reduce can start when its maps are done: their outputs come back here and go out again.
    for g in range(0, maps, group):
        inputs = [f.result() for f in blocks[g:g + group]]
        blocks[g:g + group] = [None] * len(inputs)
        partials.append(ex.submit(sum_blocks, inputs))
        del inputs
    total = sum(p.result() for p in partials)
    s = time.perf_counter() - t0
    if total != expected_total(maps):
        raise RuntimeError("map-reduce: wrong total")
    return s


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", default="")
    p.add_argument("--maps", type=int, default=0)
    args = p.parse_args()
    q = args.quick
    maps = args.maps or (40 if q else 1000)
    group = min(10 if q else 50, maps)
    processes = MPI.COMM_WORLD.Get_size()
    if processes < 2:
        sys.exit("mpi4py_bench: needs 2 or more ranks (rank 0 drives, the others work)")

    results = {}
    with MPIPoolExecutor() as ex:
        ex.bootup()
        results["tasks_async"] = {"value": tasks_async(ex, 200 if q else 10000), "unit": "tasks/s"}
        results["tasks_sync"] = {"value": tasks_sync(ex, 20 if q else 200), "unit": "us"}
        results["putget_64mib"] = {"value": put_get(ex, 2 if q else 5), "unit": "GB/s"}
        map_reduce(ex, min(maps, 2 * group), group)  # warm up
        results["map_reduce"] = {"value": map_reduce(ex, maps, group), "unit": "s"}
    out = {
        "engine": "mpi4py.futures",
        "version": mpi4py.__version__,
        "processes": processes,
        "workers": processes - 1,
        "quick": q,
        "params": {"maps": maps, "maps_per_reduce": group},
        "results": results,
        "not_available": {
            "actor_async": "mpi4py.futures has no actors",
            "actor_sync": "mpi4py.futures has no actors",
        },
    }
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
