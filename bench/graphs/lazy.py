"""A list of graphs that lives on disk: training streams from the cache instead of holding every graph."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from bench.graphs.cache import GraphCache


class CachedGraphs(Sequence):
    """Graphs read from ``cache`` on access (by structure key), with their labels attached."""

    def __init__(self, cache: GraphCache, keys: list[str], targets: torch.Tensor):
        self.cache, self.keys, self.targets = cache, list(keys), targets

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        key = self.keys[i]
        graph = self.cache._read(self.cache.path(key), key)
        graph.y = self.targets[i].reshape(1, -1)
        return graph
