"""Scale check: build the graph cache for N generated structures in parallel with bounded memory, then
stream a training epoch from the cache.

Structures are perturbed (0.05 Å random displacements) and 2x1x1-supercell variants of the 941 piezo
crystals, generated inside the workers from (base, seed, kind) recipes, so the parent never holds them.
"""

from __future__ import annotations

import functools
import os
import resource
import time
from pathlib import Path

import numpy as np


@functools.lru_cache(maxsize=1)
def _bases():
    import warnings

    import pandas as pd
    from pymatgen.core import Structure

    from bench.paths import data_file

    frame = pd.read_csv(data_file("raw/matminer_v0.4.0/piezoelectric_tensor.csv.gz"), skiprows=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [Structure.from_str(s, fmt="cif") for s in frame["structure"]]


def make_variant(recipe: tuple[int, int, int]):
    """(base index, seed, kind) -> a new structure; kind 1 doubles the cell along a."""
    base, seed, kind = recipe
    s = _bases()[base].copy()
    if kind == 1:
        s.make_supercell([2, 1, 1])
    rng = np.random.default_rng(seed)
    disp = rng.normal(size=(len(s), 3))
    disp *= 0.05 / np.linalg.norm(disp, axis=1, keepdims=True)
    return type(s)(s.lattice, s.species, s.cart_coords + disp, coords_are_cartesian=True)


def recipes(n: int, n_bases: int = 941):
    for k in range(n):
        yield (k % n_bases, k, (k // n_bases) % 2)


def rss_mb(who=resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def scale_check(n: int, root: Path, workers: int | None = None, train_structures: int = 5000,
                batch_size: int = 32, log=print) -> dict:
    from bench.graphs.build import GraphParams
    from bench.graphs.parallel import build_parallel

    workers = workers or os.cpu_count() or 1
    t0 = time.perf_counter()
    last = [0.0]

    def progress(stats):
        if time.perf_counter() - last[0] > 10:
            last[0] = time.perf_counter()
            log(f"  {stats.structures:,}/{n:,} structures ({stats.structures / (last[0] - t0):.0f}/s), "
                f"parent RSS {rss_mb():.0f} MB")

    stats = build_parallel(recipes(n), root, GraphParams(), workers, make=make_variant, progress=progress)
    if stats.failed:
        log(f"  {stats.failed} structures failed to build")
    build_s = time.perf_counter() - t0
    files = list(Path(root).rglob("*.pt"))
    disk_mb = sum(f.stat().st_size for f in files) / 2**20
    out = {"structures": n, "workers": workers, "built": stats.built, "hits": stats.hits, "failed": stats.failed,
           "build_seconds": build_s, "structures_per_second": n / build_s, "cache_files": len(files),
           "cache_mb": disk_mb, "parent_peak_rss_mb": rss_mb(), "worker_peak_rss_mb": rss_mb(resource.RUSAGE_CHILDREN)}
    log(f"built {n:,} structures in {build_s:.0f} s ({out['structures_per_second']:.0f}/s) with {workers} workers; "
        f"{len(files):,} files, {disk_mb:.0f} MB; peak RSS parent {out['parent_peak_rss_mb']:.0f} MB, "
        f"worker {out['worker_peak_rss_mb']:.0f} MB")
    if train_structures:
        out.update(_stream_epoch(files[:train_structures], root, batch_size, log))
    return out


def _stream_epoch(files: list[Path], root: Path, batch_size: int, log) -> dict:
    import torch

    from backbones.alignn import ALIGNN
    from backbones.heads import LinearHead
    from bench.graphs.build import GraphParams
    from bench.graphs.cache import GraphCache
    from bench.graphs.lazy import CachedGraphs
    from bench.model import PropertyModel
    from bench.train import batches, masked_loss

    cache = GraphCache(root, GraphParams())
    keys = [f.stem for f in files]
    graphs = CachedGraphs(cache, keys, torch.zeros(len(keys), 1))
    torch.manual_seed(0)
    model = PropertyModel(ALIGNN(alignn_layers=1, gcn_layers=1, hidden_features=32, embedding_features=16),
                          LinearHead(32))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    rss_before = rss_mb()
    t0 = time.perf_counter()
    # Peak RSS after the first fifth of the epoch and at its end: equal when memory does not grow with the
    # number of graphs streamed (a list holding every graph would add its whole size by the end).
    n_batches = -(-len(keys) // batch_size)
    rss_fifth = None
    for b, batch in enumerate(batches(graphs, batch_size)):
        opt.zero_grad()
        masked_loss(model(batch), batch.y, "mse").backward()
        opt.step()
        if b + 1 == max(1, n_batches // 5):
            rss_fifth = rss_mb()
    seconds = time.perf_counter() - t0
    log(f"streamed one training epoch over {len(keys):,} cached graphs (ALIGNN 1+1, hidden 32, batch "
        f"{batch_size}) in {seconds:.0f} s ({len(keys) / seconds:.0f} structures/s); peak RSS "
        f"{rss_before:.0f} MB before, {rss_fifth:.0f} MB after a fifth of the epoch, {rss_mb():.0f} MB at its end")
    return {"stream_structures": len(keys), "stream_seconds": seconds, "stream_rss_before_mb": rss_before,
            "stream_rss_fifth_mb": rss_fifth, "stream_rss_after_mb": rss_mb()}
