"""ALIGNN's periodic neighbour rule, vectorised, in memory bounded by atoms x neighbours.

Rule (ALIGNN reference): neighbours within ``cutoff``; every site keeps each neighbour at or closer than
its ``max_neighbors``-th nearest (ties kept); when some site has fewer than ``max_neighbors`` neighbours the
cutoff is widened (to the longest lattice vector, else doubled) and the search repeated. Edges are then
canonised (lower site index first, source image at the origin) and de-duplicated, so a bond found from both
of its ends is one undirected edge.

Why not pymatgen's ``get_neighbor_list``: its C search lays a grid of cubes of side ~r over the bounding box
of the cell, so a 2-atom cell with a = 1000 Å asks for 27 GB at r = 0.5 Å, and a widened cutoff of 1000 Å
over a 2D material in a 1000 Å vacuum lists ~10^5 neighbours per site only to keep 12. Here the periodic
images that can lie within r are enumerated from the reciprocal lattice (a handful for a large cell) and
searched with a k-d tree, and the widened cutoff is never searched: it only truncates, so each site is
searched to its own 12th-nearest distance (plus the tie tolerance). The kept neighbours are exactly those
of the widening rule.
"""

from __future__ import annotations

import numpy as np

# Distances of symmetry-equivalent neighbours differ in the last bits; without a tolerance, ties at the
# k-th distance would be kept or dropped by rounding noise.
TIE_TOLERANCE = 1e-5
# pymatgen's convention (and so the graphs already cached): a neighbour at r + 1e-8 counts as within r.
CUTOFF_TOLERANCE = 1e-8
# Periodic image points searched at once (atoms x images); far above any real crystal at these radii.
MAX_IMAGE_POINTS = 5_000_000


class NeighborSearchError(ValueError):
    """A structure whose neighbour search would need unbounded memory (message says why)."""


def _wrapped(structure) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lattice matrix, fractional coordinates wrapped into [0, 1), and the integer shift that wrapped them."""
    lattice = np.asarray(structure.lattice.matrix, dtype=float)
    frac = np.asarray(structure.frac_coords, dtype=float)
    shift = np.floor(frac)
    wrapped = frac - shift
    wrapped[wrapped >= 1.0] = 0.0  # -1e-17 wraps to 1.0 in floating point
    shift = np.rint(frac - wrapped).astype(np.int64)
    return lattice, wrapped, shift


def _image_grid(lattice: np.ndarray, radius: float, n_atoms: int, margin: float = 0.0) -> np.ndarray:
    """Every lattice translation n that can bring a point of the cell within ``radius`` of another."""
    # The fractional extent along axis k of a sphere of radius r is r * |row k of inv(L).T|; wrapped coordinates
    # differ by less than 1, hence the extra image on each side.
    reach = (radius + margin) * np.linalg.norm(np.linalg.inv(lattice).T, axis=1)
    span = np.ceil(reach - 1e-12).astype(np.int64) + 1
    count = int(np.prod(2 * span + 1)) * n_atoms
    if count > MAX_IMAGE_POINTS:
        lengths = ", ".join(f"{x:.3g}" for x in np.linalg.norm(lattice, axis=1))
        raise NeighborSearchError(f"a neighbour search to {radius:.4g} Å needs {count:,} periodic image points "
                                  f"(lattice lengths {lengths} Å): the cell is too thin for that radius")
    axes = [np.arange(-s, s + 1) for s in span]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    # image 0 first: point p < n_atoms is site p itself, which is how a site's own zero image is recognised
    zero = int(np.flatnonzero((grid == 0).all(axis=1))[0])
    grid[[0, zero]] = grid[[zero, 0]]
    return grid


class _ImageTree:
    """A k-d tree over the periodic images of every site that can lie within ``radius`` of a site."""

    def __init__(self, structure, radius: float):
        from scipy.spatial import cKDTree

        self.lattice, self.wrapped, self.shift = _wrapped(structure)
        self.n = len(self.wrapped)
        # a margin over the radius: neighbours up to the k-th distance + TIE_TOLERANCE are read from this tree
        self.grid = _image_grid(self.lattice, radius, self.n, margin=1e-3)
        points = (self.wrapped[None, :, :] + self.grid[:, None, :]).reshape(-1, 3) @ self.lattice
        self.centers = self.wrapped @ self.lattice
        self.tree = cKDTree(points)

    def decode(self, center: np.ndarray, point: np.ndarray):
        """(neighbour site, image in the structure's own fractional coordinates) of tree points."""
        nbr = point % self.n
        image = self.grid[point // self.n] - self.shift[nbr] + self.shift[center]
        return nbr, image

    def nearest(self, k: int, radius: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per site, the distances (sorted, inf past ``radius``) and tree points of its k nearest points, the
        site itself (at image 0) excluded; and the k-th distance before that exclusion (more may lie inside it)."""
        want, k = k, min(k, self.tree.n)
        dist, idx = self.tree.query(self.centers, k=k, distance_upper_bound=radius + CUTOFF_TOLERANCE)
        dist, idx = dist.reshape(self.n, k), idx.reshape(self.n, k)
        if k < want:  # fewer points than asked for: the rest are "not within radius"
            dist = np.pad(dist, ((0, 0), (0, want - k)), constant_values=np.inf)
            idx = np.pad(idx, ((0, 0), (0, want - k)), constant_values=self.tree.n)
        last = dist[:, -1].copy()
        dist = np.where(idx == np.arange(self.n)[:, None], np.inf, dist)
        order = np.argsort(dist, axis=1, kind="stable")
        return np.take_along_axis(dist, order, axis=1), np.take_along_axis(idx, order, axis=1), last

    def within(self, radii: np.ndarray, start_k: int):
        """(center, neighbour, image, distance) of all neighbours of site i within radii[i], self excluded."""
        k = start_k
        while True:
            dist, idx, last = self.nearest(k, float(radii.max()))
            # all k found inside a site's radius: it may have more neighbours than k holds
            if k >= self.tree.n or not (last <= radii).any():
                break
            k *= 2
        mask = dist <= radii[:, None]
        center = np.nonzero(mask)[0]
        point, dist = idx[mask], dist[mask]
        nbr, image = self.decode(center, point)
        return center, nbr, image, dist


def periodic_neighbors(structure, cutoff: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All (center, neighbour, image, distance) within ``cutoff``, a site's own zero image excluded."""
    tree = _ImageTree(structure, cutoff)
    return tree.within(np.full(len(structure), cutoff + CUTOFF_TOLERANCE), 16)


def knn_within_cutoff(
    structure, cutoff: float = 8.0, max_neighbors: int = 12, cap: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Directed (center, neighbour, image) kept by the k-nearest rule, and the cutoff finally used.

    ``cap``: at most this many neighbours per site, nearest first (a tie at the cap is broken by search order,
    which is deterministic); None: every tie kept."""
    longest = float(max(structure.lattice.abc))
    # Each site's k-th nearest distance, searching wider (doubling) only while some site lacks k neighbours.
    radius = cutoff
    while True:
        tree = _ImageTree(structure, radius)
        dist, _, _ = tree.nearest(max_neighbors + 1, radius)
        kth = dist[:, max_neighbors - 1]
        if np.isfinite(kth).all():
            break
        radius *= 2.0
    # The cutoff the widening rule ends at: the first of its sequence within which every site has k neighbours.
    worst = float(kth.max())
    while worst > cutoff + CUTOFF_TOLERANCE:
        cutoff = longest if cutoff < longest else 2.0 * cutoff
    radii = np.minimum(kth + TIE_TOLERANCE, cutoff + CUTOFF_TOLERANCE)
    center, nbr, image, dist = tree.within(radii, 2 * max_neighbors)
    order = np.lexsort((dist, center))
    center, nbr, image = center[order], nbr[order], image[order]
    if cap is not None:
        first = np.searchsorted(center, center)  # rows are grouped by center: rank = row - group start
        keep = np.arange(center.size) - first < cap
        center, nbr, image = center[keep], nbr[keep], image[keep]
    return center, nbr, image, cutoff


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
