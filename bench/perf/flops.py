r"""FLOPs of one ALIGNN training step, counted analytically from the graph sizes.

The matrix products dominate: a ``Linear(i, o)`` on ``r`` rows costs :math:`2 r i o` FLOPs forward and, in
backward, :math:`2 r i o` for the weight gradient plus :math:`2 r i o` for the input gradient (only when the
input needs one: not for the first layer of each embedding, whose inputs are CGCNN features and Gaussian
expansions of fixed geometry). Element-wise work, gathers, scatters and normalisations are not counted: the
figure is a floor for a machine whose only cost were GEMMs at peak speed.

Per structure with :math:`N` atoms, :math:`E` directed bonds and :math:`T` triplets (hidden width :math:`h`,
embedding width :math:`d`), the forward FLOPs are

.. math::
    2\big[92 N h + E(80 d + d h) + T(40 d + d h)\big]
    + L_\text{alignn}\,2h^2\big[(4N + E) + (4E + T)\big] + L_\text{gcn}\,2h^2 (4N + E) + 2h

(an edge-gated convolution on ``n`` nodes and ``m`` edges has four node-side and one edge-side ``Linear(h, h)``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelShape:
    alignn_layers: int = 4
    gcn_layers: int = 4
    hidden: int = 256
    embedding: int = 64
    atom_features: int = 92
    edge_bins: int = 80
    angle_bins: int = 40
    outputs: int = 1


def linear_layers(nodes: int, edges: int, triplets: int, graphs: int, shape: ModelShape = ModelShape()):
    """``(rows, in, out, input_needs_grad)`` of every Linear applied in one forward pass."""
    h, d = shape.hidden, shape.embedding
    layers = [(nodes, shape.atom_features, h, False),
              (edges, shape.edge_bins, d, False), (edges, d, h, True),
              (triplets, shape.angle_bins, d, False), (triplets, d, h, True)]

    def eggc(n, m):
        return [(n, h, h, True)] * 4 + [(m, h, h, True)]

    for _ in range(shape.alignn_layers):
        layers += eggc(nodes, edges) + eggc(edges, triplets)
    for _ in range(shape.gcn_layers):
        layers += eggc(nodes, edges)
    layers.append((graphs, h, shape.outputs, True))
    return layers


def step_flops(nodes: int, edges: int, triplets: int, graphs: int, shape: ModelShape = ModelShape()) -> dict:
    """Forward, backward and total FLOPs of a training step on a batch with these totals."""
    fwd = bwd = 0
    for rows, i, o, needs_grad in linear_layers(nodes, edges, triplets, graphs, shape):
        f = 2 * rows * i * o
        fwd += f
        bwd += f * (2 if needs_grad else 1)
    return {"forward": fwd, "backward": bwd, "train": fwd + bwd, "inference": fwd}


def batch_flops(counts: list[dict], batch_sizes: list[int], shape: ModelShape = ModelShape()) -> list[dict]:
    """:func:`step_flops` of each consecutive batch of the per-structure ``counts``."""
    out, start = [], 0
    for bs in batch_sizes:
        chunk = counts[start:start + bs]
        start += bs
        out.append(step_flops(sum(c["nodes"] for c in chunk), sum(c["edges"] for c in chunk),
                              sum(c["triplets"] for c in chunk), len(chunk), shape))
    return out
