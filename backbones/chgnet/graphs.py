"""Structure -> CHGNet's own graph, in a PyG container the suite's loaders batch.

The graph is built by ``chgnet``'s ``CrystalGraphConverter``, not by our neighbour search: which bonds and
angles exist (6 Å atom graph, 3 Å bond graph in 0.3.0, the converter's handling of periodic images and of
directed/undirected bonds) is part of what the weights were trained on; a rewrite that differs in one edge
would give slightly wrong embeddings with no error.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch
from torch_geometric.data import Data

from backbones.chgnet.weights import require_chgnet

# Bump when the graph a structure maps to changes (a cache keyed on GraphRule.key() then never reads old ones).
CHGNET_GRAPH_VERSION = 1


@dataclass(frozen=True)
class GraphRule:
    """What a backbone needs as input: how to build one structure's graph, and a key for caching it."""

    name: str
    atom_graph_cutoff: float
    bond_graph_cutoff: float
    build: str  # "module:function", (structure, rule) -> graph; the suite batches graphs with Batch.from_data_list

    def key(self) -> str:
        blob = json.dumps({"version": CHGNET_GRAPH_VERSION, "name": self.name, "ag": self.atom_graph_cutoff,
                           "bg": self.bond_graph_cutoff}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def as_dict(self) -> dict[str, Any]:
        """What a run's config, record and model file say about its graphs (``from_dict`` reads it back)."""
        return {"rule": self.name, "atom_graph_cutoff": self.atom_graph_cutoff,
                "bond_graph_cutoff": self.bond_graph_cutoff, "build": self.build,
                "converter": CONVERTER, "version": CHGNET_GRAPH_VERSION}

    @classmethod
    def from_dict(cls, blob: dict[str, Any], source: str = "graph rule") -> "GraphRule":
        """The rule ``as_dict`` wrote; a ``ValueError`` naming ``source`` when it was written for another graph
        version (this code would build other graphs than the weights were trained on)."""
        if blob.get("version") != CHGNET_GRAPH_VERSION:
            raise ValueError(f"{source}: its graphs were built by graph version {blob.get('version')!r} of the "
                             f"{blob.get('rule')!r} rule; this tl-bench builds version {CHGNET_GRAPH_VERSION}")
        try:
            return cls(blob["rule"], float(blob["atom_graph_cutoff"]), float(blob["bond_graph_cutoff"]),
                       blob["build"])
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{source}: not a graph rule ({type(err).__name__}: {err})") from None

    @staticmethod
    def container_class() -> type:
        """The PyG container ``build`` returns (what a graph cache rebuilds a stored graph into)."""
        return CHGNetGraph

    def graph(self, structure, source: str = "structure"):
        """One structure's graph, by the rule's ``build`` function."""
        import importlib

        module, attr = self.build.split(":")
        return getattr(importlib.import_module(module), attr)(structure, self, source=source)


CONVERTER = "chgnet.graph.CrystalGraphConverter(algorithm='fast')"

#: cutoffs of the 0.3.0 checkpoint (its model_args; the 5 Å of CHGNet's paper is 0.2.0's)
CHGNET_RULE = GraphRule("chgnet", 6.0, 3.0, "backbones.chgnet.graphs:chgnet_graph")


class CHGNetGraph(Data):
    """A ``chgnet.graph.CrystalGraph``'s tensors, batched by PyG with the offsets CHGNet's batching applies.

    Attributes (per structure; ``N`` atoms, ``E`` directed bonds, ``U`` undirected bonds, ``A`` angles):
        atomic_number ``[N]``, atom_frac_coord ``[N, 3]``, lattice ``[1, 3, 3]`` (stacked to ``[B, 3, 3]``),
        atom_graph ``[E, 2]`` (center, neighbour atom), neighbor_image ``[E, 3]``,
        directed2undirected ``[E]``, undirected2directed ``[U]``,
        bond_graph ``[A, 5]`` (center atom, undirected bond i, directed bond i, undirected bond j, directed
        bond j), y ``[1, P]``.
    """

    def __inc__(self, key: str, value: Any, *args, **kwargs) -> Any:
        n_atoms, n_dir, n_undir = self.num_nodes, self.atom_graph.size(0), self.undirected2directed.size(0)
        if key == "atom_graph":
            return n_atoms
        if key == "directed2undirected":
            return n_undir
        if key == "undirected2directed":
            return n_dir
        if key == "bond_graph":
            return torch.tensor([[n_atoms, n_undir, n_dir, n_undir, n_dir]])
        return 0

    def __cat_dim__(self, key: str, value: Any, *args, **kwargs) -> Any:
        return 0


@lru_cache(maxsize=4)
def _converter(atom_graph_cutoff: float, bond_graph_cutoff: float):
    require_chgnet()
    from chgnet.graph import CrystalGraphConverter

    return CrystalGraphConverter(atom_graph_cutoff=atom_graph_cutoff, bond_graph_cutoff=bond_graph_cutoff,
                                 algorithm="fast", on_isolated_atoms="error")


def crystal_graph(structure, rule: GraphRule = CHGNET_RULE, source: str = "structure"):
    """``chgnet``'s ``CrystalGraph`` of a pymatgen structure; a structure CHGNet cannot take is a
    ``StructureError`` naming ``source`` and why."""
    from bench.structures import StructureError

    if not structure.is_ordered:
        raise StructureError(source, "CHGNet needs an ordered structure (one species per site); this one has "
                                     "partially occupied sites")
    try:
        return _converter(rule.atom_graph_cutoff, rule.bond_graph_cutoff)(structure, graph_id=source)
    except ValueError as err:  # the converter's message for an atom with no neighbour within the cutoff
        raise StructureError(source, f"CHGNet cannot build its graph: {err}") from None


def chgnet_graph(structure, rule: GraphRule = CHGNET_RULE, source: str = "structure") -> CHGNetGraph:
    """The suite's CHGNet input for one structure (see ``CHGNetGraph``)."""
    g = crystal_graph(structure, rule, source)
    atom_graph = g.atom_graph.reshape(-1, 2).long()  # an all-isolated graph comes back 1-D
    bond_graph = g.bond_graph.reshape(-1, 5).long() if g.bond_graph.numel() else torch.zeros(0, 5, dtype=torch.long)
    return CHGNetGraph(atomic_number=g.atomic_number.long(), atom_frac_coord=g.atom_frac_coord,
                       lattice=g.lattice.reshape(1, 3, 3), atom_graph=atom_graph,
                       neighbor_image=g.neighbor_image, directed2undirected=g.directed2undirected.long(),
                       undirected2directed=g.undirected2directed.long(), bond_graph=bond_graph,
                       num_nodes=int(g.atomic_number.numel()))

