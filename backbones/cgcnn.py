"""CGCNN (Xie & Grossman, Phys. Rev. Lett. 120, 145301 (2018)) on the suite's atom graph."""

from __future__ import annotations


import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch_geometric.nn import global_mean_pool

from backbones.alignn.features import CGCNN_DIM, cgcnn_table
from backbones.base import Backbone
from backbones.sites import site_rows


class GaussianDistance(nn.Module):
    r"""CGCNN's bond expansion: centres :math:`\mu_k = d_{\min} + k\,\Delta` up to :math:`d_{\max}`,

    .. math:: u_k(d) = \exp\!\left(-(d - \mu_k)^2 / \Delta^2\right)

    (0–8 Å, step 0.2: 41 Gaussians, as the reference code's ``GaussianDistance(0, 8, 0.2)``).
    """

    def __init__(self, dmin: float = 0.0, dmax: float = 8.0, step: float = 0.2):
        super().__init__()
        n = int(round((dmax - dmin) / step)) + 1
        self.register_buffer("centers", dmin + step * torch.arange(n, dtype=torch.float32), persistent=False)
        self.step = step

    @property
    def bins(self) -> int:
        return self.centers.numel()

    def forward(self, d: Tensor) -> Tensor:
        return torch.exp(-((d.unsqueeze(-1) - self.centers) / self.step) ** 2)


class CGConv(nn.Module):
    r"""CGCNN's convolution (PRL eq. 5, with the batch norms of the reference code). For each bond
    :math:`i \to j` (atom :math:`i` receives from neighbour :math:`j`),
    :math:`z_{ij} = h_i \oplus h_j \oplus u_{ij}` and

    .. math::
        (f_{ij}, s_{ij}) &= \mathrm{split}\big(\mathrm{BN}_1(W z_{ij} + b)\big) \\
        h_i' &= \mathrm{softplus}\Big(h_i + \mathrm{BN}_2\Big(\sum_{j} \sigma(f_{ij}) \odot
                \mathrm{softplus}(s_{ij})\Big)\Big)

    :math:`W \in \mathbb{R}^{2F \times (2F + B)}`. Parameters: :math:`(2F + B)\,2F + 2F` (linear)
    :math:`+ 4F` (BN₁) :math:`+ 2F` (BN₂).
    """

    def __init__(self, atom_features: int, bond_features: int):
        super().__init__()
        self.fc_full = nn.Linear(2 * atom_features + bond_features, 2 * atom_features)
        self.bn1 = nn.BatchNorm1d(2 * atom_features)
        self.bn2 = nn.BatchNorm1d(atom_features)

    def forward(self, edge_index: Tensor, h: Tensor, u: Tensor) -> Tensor:
        # the graph holds both directions of every bond: aggregating on the source sums over all neighbours
        src, dst = edge_index
        z = torch.cat([h.index_select(0, src), h.index_select(0, dst), u], dim=1)
        gate, core = self.bn1(self.fc_full(z)).chunk(2, dim=1)
        messages = torch.sigmoid(gate) * F.softplus(core)
        summed = messages.new_zeros(h.shape).index_add_(0, src, messages)
        return F.softplus(h + self.bn2(summed))


class CGCNN(Backbone):
    r"""Crystal Graph Convolutional Neural Network (Xie & Grossman 2018).

    .. math::
        h^{(0)}_i &= W_e x_i + b_e \qquad (x_i: \text{92-d CGCNN one-hot features}) \\
        h^{(t+1)} &= \mathrm{CGConv}_t(h^{(t)}, u), \quad t = 0 \dots T-1 \\
        \mathrm{embedding} &= \mathrm{softplus}\Big(W_p\, \mathrm{softplus}\Big(\tfrac{1}{N}\textstyle\sum_i
                              h^{(T)}_i\Big) + b_p\Big)

    Defaults are the paper's: 92 → 64 atom features, 3 convolutions, Gaussian bond expansion 0–8 Å in steps
    of 0.2 Å, mean pooling, 128 features after pooling (the heads then add the output layer). It reads only
    the atom graph (the 12-nearest-neighbour 8 Å graph, as the reference code's ``max_num_nbr=12,
    radius=8``); the line graph is still built by the shared graph rule today and is ignored here.
    """

    name = "cgcnn"
    group_kinds = frozenset({"embedding", "2body", "readout"})
    citation = "Xie & Grossman, Phys. Rev. Lett. 120, 145301 (2018)"
    licence = "MIT (written here from the paper; reference code MIT)"
    index_dtype = torch.int32  # as ALIGNN: faster index_add_/index_select on a shared CPU (PERFORMANCE.md)
    graph_rule = "atom graph only (12-NN within 8 Å; the line graph is built, unused)"

    def __init__(self, atom_features: int = 64, conv_layers: int = 3, hidden_features: int = 128,
                 bond_dmax: float = 8.0, bond_step: float = 0.2):
        super().__init__()
        self._config = dict(atom_features=atom_features, conv_layers=conv_layers,
                            hidden_features=hidden_features, bond_dmax=bond_dmax, bond_step=bond_step)
        self.register_buffer("atom_table", cgcnn_table(), persistent=False)
        self.bond_expansion = GaussianDistance(0.0, bond_dmax, bond_step)
        self.embedding = nn.Linear(CGCNN_DIM, atom_features)
        self.convs = nn.ModuleList(CGConv(atom_features, self.bond_expansion.bins) for _ in range(conv_layers))
        self.conv_to_fc = nn.Linear(atom_features, hidden_features)

    @property
    def embedding_dim(self) -> int:
        return self._config["hidden_features"]

    def layer_groups(self) -> dict[str, nn.Module]:
        groups: dict[str, nn.Module] = {"embedding.atom": self.embedding}
        for i, conv in enumerate(self.convs):
            groups[f"2body.conv{i}"] = conv
        groups["readout.fc"] = self.conv_to_fc
        return groups

    def forward(self, batch) -> Tensor:
        u = self.bond_expansion(batch.edge_vec.norm(dim=1))
        h = self.embedding(site_rows(batch, self.atom_table))
        edge_index = batch.edge_index.to(self.index_dtype)
        for conv in self.convs:
            h = conv(edge_index, h, u)
        pooled = global_mean_pool(h, batch.batch, size=batch.num_graphs)
        return F.softplus(self.conv_to_fc(F.softplus(pooled)))  # as the reference code
