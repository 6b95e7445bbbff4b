"""Line graph of a directed multigraph, vectorised.

PyG's ``LineGraph`` transform cannot be used: it coalesces parallel edges, and a periodic crystal graph has
many parallel bonds between the same two atoms (different images).
"""

from __future__ import annotations

import numpy as np
import torch


def line_graph(edge_index: torch.Tensor, num_nodes: int, keep: np.ndarray | None = None) -> torch.Tensor:
    r"""Pairs of consecutive bonds :math:`(e_1, e_2)` with :math:`\mathrm{dst}(e_1) = \mathrm{src}(e_2)`,
    back-tracking pairs (:math:`e_2` the reverse of :math:`e_1`) included, as in DGL's ``line_graph``.

    Returns a ``[2, T]`` tensor of bond indices, :math:`T = \sum_{e} \deg^+(\mathrm{dst}(e))`. ``keep``
    (``[E]`` booleans, e.g. bonds within the three-body cutoff): only pairs of kept bonds; the other bonds are
    in no pair, so a model's line-graph update sends them no message.
    """
    if keep is not None:
        kept = np.flatnonzero(keep)
        sub = line_graph(edge_index[:, torch.from_numpy(kept)], num_nodes).numpy()
        return torch.from_numpy(kept[sub].reshape(2, -1))
    # numpy, not torch: torch.repeat_interleave costs ~2 ms a call on tensors this small, most of a build
    src, dst = edge_index.numpy()
    num_edges = src.size
    out_deg = np.bincount(src, minlength=num_nodes)
    by_src = np.argsort(src, kind="stable")
    first_out = np.cumsum(out_deg) - out_deg  # position in `by_src` of each node's first out-bond
    n_next = out_deg[dst]
    e1 = np.repeat(np.arange(num_edges), n_next)
    group_start = np.repeat(np.cumsum(n_next) - n_next, n_next)
    rank = np.arange(e1.size) - group_start
    e2 = by_src[first_out[dst[e1]] + rank]
    return torch.from_numpy(np.stack([e1, e2]))
