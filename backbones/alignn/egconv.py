"""Edge-gated graph convolution (Bresson & Laurent 2017), as ALIGNN uses it."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from backbones.alignn.mlp import make_norm


class EdgeGatedGraphConv(nn.Module):
    r"""Edge-gated graph convolution with residual connections.

    For a directed edge :math:`j \to i` with features :math:`e_{ji}`:

    .. math::
        \hat e_{ji} &= A h_j + B h_i + C e_{ji} \\
        \sigma_{ji} &= \mathrm{sigmoid}(\hat e_{ji}) \\
        h_i' &= h_i + \mathrm{SiLU}\Big(\mathrm{Norm}\Big(U h_i
                 + \frac{\sum_{j \to i} \sigma_{ji} \odot V h_j}{\sum_{j \to i} \sigma_{ji} + \epsilon}\Big)\Big) \\
        e_{ji}' &= e_{ji} + \mathrm{SiLU}(\mathrm{Norm}(\hat e_{ji}))

    (:math:`A, B, C, U, V` are ALIGNN's ``src_gate, dst_gate, edge_gate, src_update, dst_update``.)
    On the line graph, "nodes" are bonds and "edges" are bond pairs (angles).
    """

    def __init__(self, in_features: int, out_features: int, residual: bool = True, norm: str = "batch"):
        super().__init__()
        self.residual = residual
        self.src_gate = nn.Linear(in_features, out_features)
        self.dst_gate = nn.Linear(in_features, out_features)
        self.edge_gate = nn.Linear(in_features, out_features)
        self.norm_edges = make_norm(norm, out_features)
        self.src_update = nn.Linear(in_features, out_features)
        self.dst_update = nn.Linear(in_features, out_features)
        self.norm_nodes = make_norm(norm, out_features)

    def reset_parameters(self) -> None:
        for module in (self.src_gate, self.dst_gate, self.edge_gate, self.norm_edges,
                       self.src_update, self.dst_update, self.norm_nodes):
            module.reset_parameters()

    def forward(self, edge_index: Tensor, h: Tensor, e: Tensor) -> tuple[Tensor, Tensor]:
        src, dst = edge_index
        # index_select rather than x[idx]: its backward is index_add_, not the slower index_put_(accumulate).
        # In-place adds only where autograd keeps no copy of the overwritten tensor (PERFORMANCE.md, levers).
        e_hat = self.edge_gate(e)
        e_hat.add_(self.src_gate(h).index_select(0, src)).add_(self.dst_gate(h).index_select(0, dst))
        sigma = torch.sigmoid(e_hat)
        messages = sigma * self.dst_update(h).index_select(0, src)
        num = messages.new_zeros(h.size(0), messages.size(1)).index_add_(0, dst, messages)
        den = messages.new_zeros(h.size(0), messages.size(1)).index_add_(0, dst, sigma).add_(1e-6)
        h_new = F.silu(self.norm_nodes(self.src_update(h) + num / den))
        e_new = F.silu(self.norm_edges(e_hat))
        if self.residual:
            h_new = h_new.add_(h)  # SiLU's backward uses its input, not its output
            e_new = e_new.add_(e)
        return h_new, e_new
