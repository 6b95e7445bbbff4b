"""SchNet-style continuous-filter convolutions (Schütt et al., J. Chem. Phys. 148, 241722 (2018)) on the
suite's atom graph."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch_geometric.nn import global_mean_pool

from backbones.alignn.features import MAX_Z
from backbones.base import Backbone
from backbones.sites import site_rows


def shifted_softplus(x: Tensor) -> Tensor:
    r""":math:`\mathrm{ssp}(x) = \ln(0.5 e^x + 0.5)`, zero at zero."""
    return F.softplus(x) - math.log(2.0)


class GaussianSmearing(nn.Module):
    r""":math:`e_k(d) = \exp(-\gamma (d - \mu_k)^2)`, ``bins`` centres evenly in ``[0, cutoff]``,
    :math:`\gamma = 1 / (2 \Delta\mu^2)` (PyG's ``GaussianSmearing``)."""

    def __init__(self, cutoff: float, bins: int):
        super().__init__()
        centers = torch.linspace(0.0, cutoff, bins)
        self.register_buffer("centers", centers, persistent=False)
        self.gamma = 0.5 / float(centers[1] - centers[0]) ** 2

    def forward(self, d: Tensor) -> Tensor:
        return torch.exp(-self.gamma * (d.unsqueeze(-1) - self.centers) ** 2)


class Interaction(nn.Module):
    r"""One SchNet interaction block with a cosine cutoff :math:`C(d) = \tfrac12(\cos(\pi d / r_c) + 1)` for
    :math:`d < r_c`, else 0. For bonds :math:`i \to j`:

    .. math::
        W_{ij} &= \big(W_2\, \mathrm{ssp}(W_1 e(d_{ij}) + b_1) + b_2\big)\, C(d_{ij}) \\
        x_i &= \textstyle\sum_j (U h_j) \odot W_{ij} \\
        h_i' &= h_i + V_2\, \mathrm{ssp}(V_1 x_i + c_1) + c_2

    :math:`U` has no bias. Parameters with :math:`G` Gaussians, :math:`F` filters, :math:`H` features:
    :math:`(G F + F) + (F^2 + F) + H F + (F H + H) + (H^2 + H)`.
    """

    def __init__(self, hidden_features: int, num_filters: int, num_gaussians: int, cutoff: float):
        super().__init__()
        self.cutoff = cutoff
        self.filter1 = nn.Linear(num_gaussians, num_filters)
        self.filter2 = nn.Linear(num_filters, num_filters)
        self.in2f = nn.Linear(hidden_features, num_filters, bias=False)
        self.f2out = nn.Linear(num_filters, hidden_features)
        self.dense = nn.Linear(hidden_features, hidden_features)

    def forward(self, edge_index: Tensor, h: Tensor, rbf: Tensor, d: Tensor) -> Tensor:
        src, dst = edge_index
        envelope = 0.5 * (torch.cos(d * math.pi / self.cutoff) + 1.0) * (d < self.cutoff)
        w = self.filter2(shifted_softplus(self.filter1(rbf))) * envelope.unsqueeze(1)
        messages = self.in2f(h).index_select(0, dst) * w
        x = messages.new_zeros(h.size(0), messages.size(1)).index_add_(0, src, messages)
        return h + self.dense(shifted_softplus(self.f2out(x)))


class SchNet(Backbone):
    r"""SchNet (Schütt et al. 2018) for crystals: a learned element embedding, ``interactions`` interaction
    blocks, an atom-wise layer, mean pooling.

    .. math::
        h^{(0)}_i &= \mathrm{Emb}(Z_i) \\
        h^{(t+1)} &= \mathrm{Interaction}_t(h^{(t)}, d), \quad t = 0 \dots T-1 \\
        \mathrm{embedding} &= \tfrac{1}{N} \textstyle\sum_i \mathrm{ssp}(W_o h^{(T)}_i + b_o)

    Defaults are the paper's: 128 features and filters, 3 interaction blocks, 50 Gaussians on 0–8 Å with a
    cosine cutoff at 8 Å (the radius the suite's graph is built with; bonds of a site whose 12 neighbours
    lie farther get zero weight), shifted softplus, an atom-wise layer to 64 features. Pooling is the mean,
    not the paper's sum: the suite's targets are intensive (moduli, band gaps, energies per atom), and a sum
    would make them scale with the cell size. Disordered sites get the occupancy-weighted sum of their
    species' embeddings. Reads only the atom graph; the line graph is still built by the shared graph rule
    today and is ignored here.
    """

    name = "schnet"
    group_kinds = frozenset({"embedding", "2body", "readout"})
    citation = "Schütt, Sauceda, Kindermans, Tkatchenko & Müller, J. Chem. Phys. 148, 241722 (2018)"
    licence = "MIT (written here from the paper)"
    index_dtype = torch.int32  # as ALIGNN: faster index_add_/index_select on a shared CPU (PERFORMANCE.md)
    graph_rule = "atom graph only (12-NN within 8 Å; the line graph is built, unused)"

    def __init__(self, hidden_features: int = 128, num_filters: int = 128, interactions: int = 3,
                 num_gaussians: int = 50, cutoff: float = 8.0, readout_features: int = 64):
        super().__init__()
        self._config = dict(hidden_features=hidden_features, num_filters=num_filters, interactions=interactions,
                            num_gaussians=num_gaussians, cutoff=cutoff, readout_features=readout_features)
        self.embedding = nn.Embedding(MAX_Z + 1, hidden_features)
        self.rbf = GaussianSmearing(cutoff, num_gaussians)
        self.interactions = nn.ModuleList(
            Interaction(hidden_features, num_filters, num_gaussians, cutoff) for _ in range(interactions))
        self.atomwise = nn.Linear(hidden_features, readout_features)

    @property
    def embedding_dim(self) -> int:
        return self._config["readout_features"]

    def layer_groups(self) -> dict[str, nn.Module]:
        groups: dict[str, nn.Module] = {"embedding.atom": self.embedding}
        for i, block in enumerate(self.interactions):
            groups[f"2body.interaction{i}"] = block
        groups["readout.atomwise"] = self.atomwise
        return groups

    def forward(self, batch) -> Tensor:
        d = batch.edge_vec.norm(dim=1)
        rbf = self.rbf(d)
        h = site_rows(batch, self.embedding.weight)
        edge_index = batch.edge_index.to(self.index_dtype)
        for block in self.interactions:
            h = block(edge_index, h, rbf, d)
        return global_mean_pool(shifted_softplus(self.atomwise(h)), batch.batch, size=batch.num_graphs)
