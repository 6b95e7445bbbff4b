"""ALIGNN's periodic neighbour rule, vectorised.

Rule (ALIGNN reference): neighbours within ``cutoff``; every site keeps each neighbour at or closer than
its ``max_neighbors``-th nearest (ties kept); when some site has fewer than ``max_neighbors`` neighbours the
cutoff is widened (to the longest lattice vector, else doubled) and the search repeated. Edges are then
canonised (lower site index first, source image at the origin) and de-duplicated, so a bond found from both
of its ends is one undirected edge.
"""

from __future__ import annotations

import numpy as np

# Distances of symmetry-equivalent neighbours differ in the last bits; without a tolerance, ties at the
# k-th distance would be kept or dropped by rounding noise.
TIE_TOLERANCE = 1e-5


def periodic_neighbors(structure, cutoff: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All (center, neighbour, image, distance) within ``cutoff`` (pymatgen's C neighbour list)."""
    center, nbr, image, dist = structure.get_neighbor_list(cutoff)
    return center.astype(np.int64), nbr.astype(np.int64), np.rint(image).astype(np.int64), dist


def knn_within_cutoff(
    structure, cutoff: float = 8.0, max_neighbors: int = 12
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Directed (center, neighbour, image) kept by the k-nearest rule, and the cutoff finally used."""
    n = len(structure)
    longest = float(max(structure.lattice.abc))
    while True:
        center, nbr, image, dist = periodic_neighbors(structure, cutoff)
        counts = np.bincount(center, minlength=n)
        if counts.min() >= max_neighbors:
            break
        cutoff = longest if cutoff < longest else 2.0 * cutoff
    order = np.lexsort((dist, center))
    center, nbr, image, dist = center[order], nbr[order], image[order], dist[order]
    start = np.concatenate(([0], np.cumsum(counts)[:-1]))
    kth = dist[start + max_neighbors - 1]
    keep = dist <= kth[center] + TIE_TOLERANCE
    return center[keep], nbr[keep], image[keep], cutoff


def canonical_edges(center: np.ndarray, nbr: np.ndarray, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Undirected edges ``(src, dst)`` with ``src <= dst`` and the image of ``dst``; duplicates removed."""
    swap = nbr < center
    src = np.where(swap, nbr, center)
    dst = np.where(swap, center, nbr)
    img = np.where(swap[:, None], -image, image)
    if src.size == 0:
        return np.zeros((2, 0), dtype=np.int64), np.zeros((0, 3), dtype=np.int64)
    # One int64 key per row, ordered as the rows (src, dst, image) are: a 1-D unique gives np.unique(axis=0)'s
    # rows in its order, without sorting a structured view (the slow part of a build).
    n = int(max(src.max(), dst.max())) + 1
    lo = int(img.min())
    span = int(img.max()) - lo + 1
    key = src * n + dst
    for axis in range(3):
        key = key * span + (img[:, axis] - lo)
    _, first = np.unique(key, return_index=True)
    return np.stack([src[first], dst[first]]), img[first].copy()
