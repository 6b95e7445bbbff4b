"""Structure -> ALIGNN graph: the short path from a pymatgen ``Structure`` to model input."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch

from bench.graphs.data import AlignnGraph
from bench.graphs.line_graph import line_graph
from bench.graphs.neighbors import CUTOFF_TOLERANCE, canonical_edges, knn_within_cutoff

# Bump when the graph a structure maps to changes: cache entries of other versions are never read.
GRAPH_VERSION = 2


# Fields added after graphs and runs were first keyed: they enter a key only when set, so every cache entry and
# run key of the reference rule stays what it was.
_OPTIONAL = ("three_body_cutoff", "neighbor_cap")


class GraphParamsError(ValueError):
    """A graph parameter out of range; the message names it."""


@dataclass(frozen=True)
class GraphParams:
    """Parameters of the crystal-graph rule (ALIGNN reference defaults).

    ``three_body_cutoff`` (Å): the line graph joins only bonds at most this long (the 2-body graph keeps every
    bond); None: all bonds, as ALIGNN. ``neighbor_cap``: each site keeps at most this many of its nearest
    neighbours even where ties at the ``max_neighbors``-th distance would keep more; None: ties kept, as ALIGNN.
    """

    cutoff: float = 8.0
    max_neighbors: int = 12
    three_body_cutoff: float | None = None
    neighbor_cap: int | None = None

    def __post_init__(self) -> None:
        r3, cap = self.three_body_cutoff, self.neighbor_cap
        if r3 is not None and (isinstance(r3, bool) or not isinstance(r3, (int, float))
                               or not (math.isfinite(r3) and r3 > 0)):
            raise GraphParamsError(f"three_body_cutoff must be a length in Å > 0, or None; got {r3!r}")
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
            raise GraphParamsError(f"neighbor_cap must be an integer ≥ 1, or None; got {cap!r}")

    def as_dict(self) -> dict[str, Any]:
        """The fields that name this rule: the optional ones only where set (see ``_OPTIONAL``)."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name not in _OPTIONAL or getattr(self, f.name) is not None}

    def key(self) -> str:
        blob = json.dumps({"version": GRAPH_VERSION, **self.as_dict()}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def build_graph(structure, params: GraphParams = GraphParams()) -> AlignnGraph:
    """Crystal graph (both directions of every canonical bond) and its line graph."""
    center, nbr, image, _ = knn_within_cutoff(structure, params.cutoff, params.max_neighbors, params.neighbor_cap)
    (src, dst), img = canonical_edges(center, nbr, image)
    cart = structure.cart_coords
    vec = cart[dst] + img @ structure.lattice.matrix - cart[src]
    three_body = None
    if params.three_body_cutoff is not None:
        short = np.linalg.norm(vec, axis=1) <= params.three_body_cutoff + CUTOFF_TOLERANCE
        three_body = np.concatenate([short, short])
    edge_index = torch.from_numpy(np.stack([np.concatenate([src, dst]), np.concatenate([dst, src])]))
    edge_image = torch.from_numpy(np.concatenate([img, -img]).astype(np.int32))
    edge_vec = torch.from_numpy(np.concatenate([vec, -vec]).astype(np.float32))
    n = len(structure)
    species_z, species_w, species_site = site_species(structure)
    return AlignnGraph(
        # ordered sites hold one species: the majority species is the species list itself
        z=species_z if species_z.numel() == n else torch.tensor(atomic_numbers(structure), dtype=torch.long),
        species_z=species_z,
        species_w=species_w,
        species_site=species_site,
        edge_index=edge_index,
        edge_image=edge_image,
        edge_vec=edge_vec,
        lg_index=line_graph(edge_index, n, three_body),
        num_nodes=n,
    )


def atomic_numbers(structure) -> list[int]:
    """Atomic number per site; a disordered site takes its majority species."""
    return [max(site.species.items(), key=lambda kv: kv[1])[0].Z for site in structure]


def site_species(structure) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(atomic number, occupancy, site index) of every species on every site: a partially occupied site
    contributes each of its species weighted by occupancy (a half-filled Li site is 0.5 Li)."""
    if structure.is_ordered:
        n = len(structure)
        return (torch.tensor(structure.atomic_numbers, dtype=torch.long), torch.ones(n),
                torch.arange(n))
    z, w, site = [], [], []
    for i, s in enumerate(structure):
        for species, occupancy in s.species.items():
            z.append(species.Z)
            w.append(float(occupancy))
            site.append(i)
    return torch.tensor(z, dtype=torch.long), torch.tensor(w, dtype=torch.float32), torch.tensor(site)


def structure_fingerprint(structure) -> str:
    """Content hash of a structure: lattice, species with occupancies, fractional coordinates."""
    h = hashlib.sha256()
    h.update(np.round(structure.lattice.matrix, 6).astype(np.float64).tobytes())
    h.update("|".join(site.species_string for site in structure).encode())
    h.update(np.round(structure.frac_coords, 6).astype(np.float64).tobytes())
    return h.hexdigest()
