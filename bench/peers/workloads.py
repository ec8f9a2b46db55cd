"""What both Python peers (dask_bench.py, mpi4py_bench.py) run: the task functions and the
data they make, importable by the workers of either engine."""

import numpy as np

BIG_BYTES = 64 << 20
BLOCK_WORDS = (1 << 20) // 8  # one map output: 1 MiB of uint64


def noop(_=None):
    return None


def echo(a):
    return a


def make_block(m):
    # Element j of map m's block is m + j, so the total has one right answer.
    return np.arange(BLOCK_WORDS, dtype=np.uint64) + np.uint64(m)


def sum_blocks(blocks):
    return int(sum(int(b.sum(dtype=np.uint64)) for b in blocks))


def expected_total(maps):
    n = BLOCK_WORDS
    return sum(n * m + n * (n - 1) // 2 for m in range(maps))


def pattern(k):
    return ((np.arange(BIG_BYTES, dtype=np.uint64) * 7 + k) & 0xFF).astype(np.uint8)
