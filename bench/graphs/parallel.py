"""Build graph-cache entries in parallel over the cores with bounded memory.

Work goes to a process pool through a bounded window of outstanding chunks, so neither the input (which may
be a generator of 100,000 structures) nor the results are ever held in full: workers write entries to the
cache and return only counts.
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from bench.graphs.build import GraphParams
from bench.graphs.cache import GraphCache


@dataclass
class BuildStats:
    structures: int = 0
    built: int = 0
    hits: int = 0
    rebuilt: int = 0
    failed: int = 0

    def add(self, other: "BuildStats") -> None:
        for k in self.__dataclass_fields__:
            setattr(self, k, getattr(self, k) + getattr(other, k))


_worker_cache: GraphCache | None = None
_worker_make: Callable | None = None


def _init(root: str, params: GraphParams, make: Callable | None) -> None:
    global _worker_cache, _worker_make
    import torch

    torch.set_num_threads(1)  # one process per core already
    _worker_cache = GraphCache(Path(root), params)
    _worker_make = make


def _build_chunk(items: list) -> BuildStats:
    """``items`` are structures, or arguments of the pool's ``make`` function (cheap to send)."""
    cache = _worker_cache
    before = (cache.hits, cache.misses, cache.rebuilt)
    failed = 0
    for item in items:
        try:
            structure = _worker_make(item) if _worker_make else item
            cache.get(structure)
        except Exception:  # counted, not fatal: the caller decides what a failure means
            failed += 1
    return BuildStats(len(items), cache.misses - before[1], cache.hits - before[0], cache.rebuilt - before[2],
                      failed)


def build_parallel(items: Iterable, root: Path, params: GraphParams = GraphParams(), workers: int | None = None,
                   chunk_size: int = 64, make: Callable | None = None, window: int | None = None,
                   progress: Callable[[BuildStats], None] | None = None) -> BuildStats:
    """Cache the graph of every item. ``make`` (a picklable top-level function) turns an item into a
    Structure inside the worker, so a generator of small recipes can describe a huge dataset."""
    workers = workers or os.cpu_count() or 1
    window = window or 2 * workers
    stats = BuildStats()
    it = iter(items)
    chunks = iter(lambda: list(itertools.islice(it, chunk_size)), [])
    with ProcessPoolExecutor(workers, initializer=_init, initargs=(str(root), params, make)) as pool:
        pending = set()
        for chunk in chunks:
            pending.add(pool.submit(_build_chunk, chunk))
            if len(pending) >= window:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    stats.add(f.result())
                if progress:
                    progress(stats)
        for f in pending:
            stats.add(f.result())
    if progress:
        progress(stats)
    return stats
