"""Structure -> ALIGNN graph: the short path from a pymatgen ``Structure`` to model input."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import numpy as np
import torch

from bench.graphs.data import AlignnGraph
from bench.graphs.line_graph import line_graph
from bench.graphs.neighbors import canonical_edges, knn_within_cutoff

# Bump when the graph a structure maps to changes: cache entries of other versions are never read.
GRAPH_VERSION = 2


@dataclass(frozen=True)
class GraphParams:
    """Parameters of the crystal-graph rule (ALIGNN reference defaults)."""

    cutoff: float = 8.0
    max_neighbors: int = 12

    def key(self) -> str:
        blob = json.dumps({"version": GRAPH_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def build_graph(structure, params: GraphParams = GraphParams()) -> AlignnGraph:
    """Crystal graph (both directions of every canonical bond) and its line graph."""
    center, nbr, image, _ = knn_within_cutoff(structure, params.cutoff, params.max_neighbors)
    (src, dst), img = canonical_edges(center, nbr, image)
    cart = structure.cart_coords
    vec = cart[dst] + img @ structure.lattice.matrix - cart[src]
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
        lg_index=line_graph(edge_index, n),
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
