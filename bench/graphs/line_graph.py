"""Line graph of a directed multigraph, vectorised.

PyG's ``LineGraph`` transform cannot be used: it coalesces parallel edges, and a periodic crystal graph has
many parallel bonds between the same two atoms (different images).
"""

from __future__ import annotations

import torch


def line_graph(edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    r"""Pairs of consecutive bonds :math:`(e_1, e_2)` with :math:`\mathrm{dst}(e_1) = \mathrm{src}(e_2)`,
    back-tracking pairs (:math:`e_2` the reverse of :math:`e_1`) included, as in DGL's ``line_graph``.

    Returns a ``[2, T]`` tensor of bond indices, :math:`T = \sum_{e} \deg^+(\mathrm{dst}(e))`.
    """
    src, dst = edge_index
    num_edges = src.numel()
    out_deg = torch.bincount(src, minlength=num_nodes)
    by_src = torch.argsort(src, stable=True)
    first_out = torch.cumsum(out_deg, 0) - out_deg  # position in `by_src` of each node's first out-bond
    n_next = out_deg[dst]
    e1 = torch.repeat_interleave(torch.arange(num_edges), n_next)
    group_start = torch.repeat_interleave(torch.cumsum(n_next, 0) - n_next, n_next)
    rank = torch.arange(e1.numel()) - group_start
    e2 = by_src[first_out[dst[e1]] + rank]
    return torch.stack([e1, e2])
