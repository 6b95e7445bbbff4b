"""The upstream side of ``bench perf``: PyPI ``alignn`` (pure-PyTorch, no DGL), run as a script by the python of
the separate virtual environment :mod:`bench.perf.peer` creates. Imports only torch, numpy, jarvis-tools, alignn
and the shared loop (``_worker_common``, found next to this file); never ``bench``.

Graph building (the timed part) is upstream's reference k-nearest rule and its DGL-free line graph:
``nearest_neighbor_edges(cutoff=8, max_neighbors=12, use_canonize=True)`` + ``build_undirected_edgedata`` +
``torch_graph_builder._line_graph_edges(allowed=None)`` (every triplet, like ours) + ``torch_bond_cosines``.
The model is ``ALIGNNAtomWisePure`` at the measured size's widths (default the paper's) with gradients (forces), ZBL and penalties off, so
its forward is the same network as ours (LayerNorm where ours uses BatchNorm).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from _worker_common import Side, Worker  # noqa: E402


class PeerSide(Side):
    name = "peer"

    def load(self, structures: list[dict]) -> None:
        from jarvis.core.atoms import Atoms
        from jarvis.core.specie import get_node_attributes

        self.atoms, self.features = [], []
        for s in structures:
            atoms = Atoms(lattice_mat=s["lattice"], coords=s["frac_coords"], elements=s["elements"], cartesian=False)
            self.atoms.append(atoms)
            feats = np.array([list(get_node_attributes(e, atom_features="cgcnn")) for e in atoms.elements])
            self.features.append(torch.as_tensor(feats, dtype=torch.float32))
        self.n_structures = len(self.atoms)

    def build(self, i: int):
        from alignn.graphs import build_undirected_edgedata, nearest_neighbor_edges
        from alignn.torch_graph_builder import TorchGraph, _line_graph_edges, torch_bond_cosines

        atoms = self.atoms[i]
        edges, _ = nearest_neighbor_edges(atoms=atoms, cutoff=8.0, max_neighbors=12, use_canonize=True)
        u, v, r, images = build_undirected_edgedata(atoms, edges)
        lg_src, lg_dst = _line_graph_edges(u, v, atoms.num_atoms, allowed=None)
        h = torch_bond_cosines(r[lg_src], r[lg_dst])
        g = TorchGraph(num_nodes=atoms.num_atoms, src=u, dst=v, ndata={"atom_features": self.features[i]},
                       edata={"r": r, "images": images})
        lg = TorchGraph(num_nodes=g.num_edges, src=lg_src, dst=lg_dst, ndata={"r": r}, edata={"h": h})
        return (i, g, lg)

    def edges(self, graph) -> list[list[int]]:
        # The lattice image of each directed edge's end atom, recovered from its bond vector: upstream stores the
        # canonical edge's image on both directions, so the reverse edge's image is the negated one.
        i, g, _ = graph
        atoms = self.atoms[i]
        frac = np.asarray(atoms.frac_coords, dtype=np.float64)
        src, dst = g.src.numpy(), g.dst.numpy()
        r_frac = g.edata["r"].double().numpy() @ np.linalg.inv(np.asarray(atoms.lattice_mat, dtype=np.float64))
        image = np.rint(r_frac - (frac[dst] - frac[src])).astype(np.int64)
        return np.column_stack([src, dst, image]).tolist()

    def counts(self, graph) -> dict:
        _, g, lg = graph
        return {"nodes": int(g.num_nodes), "edges": int(g.num_edges), "triplets": int(lg.num_edges)}

    def collate(self, graphs):
        from alignn.torch_graph_builder import batch_torch_graph_pairs

        g, lg = batch_torch_graph_pairs([(gg, ll) for _, gg, ll in graphs])
        return (g, lg, torch.zeros(1))

    def make_model(self, options: dict):
        from alignn.models.alignn_atomwise_pure import ALIGNNAtomWisePure, ALIGNNAtomWisePureConfig

        # options["alignn"]: the size measured (bench.perf.sizes; the same argument names as ours); default paper
        sizes = {"alignn_layers": 4, "gcn_layers": 4, "hidden_features": 256, "embedding_features": 64,
                 **options.get("alignn", {})}
        config = ALIGNNAtomWisePureConfig(
            name="alignn_atomwise_pure", **sizes, atom_input_features=92, edge_input_features=80, triplet_input_features=40,
            output_features=1, calculate_gradient=False, gradwise_weight=0.0, atomwise_output_features=0,
            use_zbl=False, use_penalty=False, energy_mult_natoms=False, three_body_cutoff=8.0, lg_on_fly=True)
        return ALIGNNAtomWisePure(config)

    def predict(self, model, batch):
        return model(batch)["out"].reshape(-1)

    def info(self) -> dict:
        from importlib.metadata import version

        return {"side": "peer", "alignn": version("alignn"), "jarvis_tools": version("jarvis-tools")}


if __name__ == "__main__":
    Worker(PeerSide()).serve()
