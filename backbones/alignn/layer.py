"""One ALIGNN layer: a line-graph-aware update of atoms, bonds and angles."""

from __future__ import annotations

from torch import Tensor, nn

from backbones.alignn.egconv import EdgeGatedGraphConv


class ALIGNNLayer(nn.Module):
    r"""Edge-gated convolution on the crystal graph, then on its line graph:

    .. math::
        h', m &= \mathrm{EGGC}_{\text{2-body}}(G;\, h, e) \\
        e', t' &= \mathrm{EGGC}_{\text{3-body}}(L(G);\, m, t)

    :math:`h` atoms, :math:`e` bonds, :math:`t` angles. The 2-body part updates atoms from bonds; the
    3-body part updates bonds from angles (these are the groups the 2-body/3-body fine-tuning modes train).
    """

    def __init__(self, in_features: int, out_features: int, norm: str = "batch"):
        super().__init__()
        self.node_update = EdgeGatedGraphConv(in_features, out_features, norm=norm)
        self.edge_update = EdgeGatedGraphConv(out_features, out_features, norm=norm)

    def reset_parameters(self) -> None:
        self.node_update.reset_parameters()
        self.edge_update.reset_parameters()

    def forward(self, edge_index: Tensor, lg_index: Tensor, h: Tensor, e: Tensor, t: Tensor):
        h, m = self.node_update(edge_index, h, e)
        e, t = self.edge_update(lg_index, m, t)
        return h, e, t
