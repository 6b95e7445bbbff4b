"""The graph container: a PyG ``Data`` that batches its line graph correctly."""

from __future__ import annotations

from typing import Any

from torch_geometric.data import Data


class AlignnGraph(Data):
    r"""Crystal graph with its line graph.

    Attributes:
        z: ``[N]`` atomic numbers.
        edge_index: ``[2, E]`` directed bonds ``i -> j``.
        edge_image: ``[E, 3]`` integer lattice translation ``n`` of the bond's end atom, so that
            ``edge_vec = x_j + n L - x_i``.
        edge_vec: ``[E, 3]`` bond vectors in Å.
        lg_index: ``[2, T]`` line-graph edges ``e1 -> e2`` over bonds with ``dst(e1) == src(e2)``;
            its entries index bonds, so batching shifts them by the number of bonds, not of atoms.
        species_z, species_w, species_site: ``[M]`` the species of every site with its occupancy
            (``M = N`` for an ordered structure; a disordered site lists each species it may hold), so atom
            features can be occupancy-weighted. ``z`` is the majority species.
        y: ``[1, P]`` targets (``P`` properties; NaN where a label is missing).
    """

    def __inc__(self, key: str, value: Any, *args, **kwargs) -> Any:
        if key == "lg_index":
            return self.edge_index.size(1)
        if key == "species_site":
            return self.num_nodes
        return super().__inc__(key, value, *args, **kwargs)
