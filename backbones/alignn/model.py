"""ALIGNN backbone: crystal graph + line graph -> one embedding per structure."""

from __future__ import annotations


import torch
from torch import Tensor, nn
from torch_geometric.nn import global_mean_pool

from backbones.alignn.egconv import EdgeGatedGraphConv
from backbones.alignn.features import CGCNN_DIM, cgcnn_table
from backbones.alignn.layer import ALIGNNLayer
from backbones.alignn.mlp import MLPLayer
from backbones.alignn.rbf import RBFExpansion
from backbones.base import Backbone
from backbones.sites import site_rows


class ALIGNN(Backbone):
    r"""Atomistic Line Graph Neural Network (Choudhary & DeCost 2021).

    Atoms are embedded from CGCNN features, bond lengths :math:`d_{ij}` and angle cosines
    :math:`\cos\theta_{ijk} = (-r_{ij})\cdot r_{jk} / (|r_{ij}||r_{jk}|)` from Gaussian expansions; then
    ``alignn_layers`` ALIGNN layers (atom graph + line graph), ``gcn_layers`` edge-gated convolutions on the
    atom graph, and mean pooling over atoms. With a ``Linear(hidden, 1)`` head the defaults give the
    reference 4,026,753 parameters.
    """

    name = "alignn"
    group_kinds = frozenset({"embedding", "2body", "3body", "gcn"})
    citation = "Choudhary & DeCost, npj Comput. Mater. 7, 185 (2021)"
    licence = "MIT (re-implemented here in PyTorch Geometric)"
    # int32 indices: index_add_/index_select take a faster path, and int64 index_add_ stalls badly when the CPU
    # is shared (PERFORMANCE.md). Data, cache and batching stay int64; the cast in forward costs microseconds.
    index_dtype = torch.int32

    def __init__(
        self,
        alignn_layers: int = 4,
        gcn_layers: int = 4,
        hidden_features: int = 256,
        embedding_features: int = 64,
        edge_bins: int = 80,
        angle_bins: int = 40,
        cutoff: float = 8.0,
        norm: str = "batch",
    ):
        super().__init__()
        self._config = dict(alignn_layers=alignn_layers, gcn_layers=gcn_layers, hidden_features=hidden_features,
                            embedding_features=embedding_features, edge_bins=edge_bins, angle_bins=angle_bins,
                            cutoff=cutoff, norm=norm)
        self.register_buffer("atom_features", cgcnn_table(), persistent=False)
        self.atom_embedding = MLPLayer(CGCNN_DIM, hidden_features, norm)
        self.edge_embedding = nn.Sequential(
            RBFExpansion(0.0, cutoff, edge_bins),
            MLPLayer(edge_bins, embedding_features, norm),
            MLPLayer(embedding_features, hidden_features, norm),
        )
        self.angle_embedding = nn.Sequential(
            RBFExpansion(-1.0, 1.0, angle_bins),
            MLPLayer(angle_bins, embedding_features, norm),
            MLPLayer(embedding_features, hidden_features, norm),
        )
        self.alignn_layers = nn.ModuleList(
            ALIGNNLayer(hidden_features, hidden_features, norm) for _ in range(alignn_layers))
        self.gcn_layers = nn.ModuleList(
            EdgeGatedGraphConv(hidden_features, hidden_features, norm=norm) for _ in range(gcn_layers))

    @property
    def embedding_dim(self) -> int:
        return self._config["hidden_features"]

    def layer_groups(self) -> dict[str, nn.Module]:
        groups: dict[str, nn.Module] = {
            "embedding.atom": self.atom_embedding,
            "embedding.bond": self.edge_embedding,
            "embedding.angle": self.angle_embedding,
        }
        for i, layer in enumerate(self.alignn_layers):
            groups[f"2body.alignn{i}"] = layer.node_update
            groups[f"3body.alignn{i}"] = layer.edge_update
        for i, layer in enumerate(self.gcn_layers):
            groups[f"gcn.{i}"] = layer
        return groups

    def site_features(self, batch) -> Tensor:
        r"""CGCNN features per site, occupancy-weighted on disordered sites:
        :math:`x_i = \sum_{s \in i} c_s\, f(Z_s)`."""
        return site_rows(batch, self.atom_features)

    def forward(self, batch) -> Tensor:
        edge_index, lg_index = batch.edge_index.to(self.index_dtype), batch.lg_index.to(self.index_dtype)
        vec = batch.edge_vec
        length = vec.norm(dim=1)
        r1, r2 = -vec.index_select(0, lg_index[0]), vec.index_select(0, lg_index[1])
        cos = ((r1 * r2).sum(1) / (length.index_select(0, lg_index[0]) * length.index_select(0, lg_index[1])))
        cos = cos.clamp(-1.0, 1.0)

        h = self.atom_embedding(self.site_features(batch))
        e = self.edge_embedding(length)
        t = self.angle_embedding(cos)
        for layer in self.alignn_layers:
            h, e, t = layer(edge_index, lg_index, h, e, t)
        for layer in self.gcn_layers:
            h, e = layer(edge_index, h, e)
        return global_mean_pool(h, batch.batch, size=batch.num_graphs)
