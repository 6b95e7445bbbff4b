r"""Training a head on a frozen trunk from the trunk's embeddings, computed once.

In the modes that train no trunk layer (``new-head``, ``last-layer``) the trunk is a fixed function during
fine-tuning: every parameter is frozen and the whole trunk runs in eval mode (``bench.finetune.apply_mode``),
so the embedding :math:`h_i = f_\theta(G_i)` of a structure is the same at every epoch. Computing it in every
step repeats the expensive part of the model (for CHGNet nearly all of a step: 10 epochs of new-head training
on 100 structures took 298 s, all-layer training 358 s) for nothing. The trainer instead embeds the
training and validation structures once and trains the head on :math:`h_i` — the same function, losses and
gradients, so the same run (same run key; equal up to floating-point summation order, tested).

A batch of cached embeddings is a PyG batch whose graphs are single nodes carrying ``trunk_features`` (shape
``[1, D]``) and ``y``; ``PropertyModel.embed`` takes the features from such a batch instead of running the
trunk. Checkpoints keep the whole model (trunk included), so a resumed or loaded model is unchanged.
"""

from __future__ import annotations

import torch
from torch_geometric.data import Data

FEATURES = "trunk_features"


def trunk_is_frozen(model) -> bool:
    """True when no trunk parameter trains and the trunk runs in eval mode while the model trains."""
    backbone = getattr(model, "backbone", None)
    if backbone is None or any(p.requires_grad for p in backbone.parameters()):
        return False
    was_training = model.training
    model.train()
    frozen = not any(m.training for m in backbone.modules())
    model.train(was_training)
    return frozen


@torch.no_grad()
def embeddings(model, graphs: list, batch_size: int = 64, device: str = "cpu") -> torch.Tensor:
    """``model.embed`` of every graph in eval mode, ``[N, D]`` (batches of cached embeddings pass through)."""
    from bench.train import batches

    was_training = model.training
    model.eval()
    try:
        out = [model.embed(batch.to(device)).detach() for batch in batches(graphs, batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, 0)


def embed_once(model, graphs: list, batch_size: int = 64, device: str = "cpu") -> list[Data]:
    """One ``Data`` per graph with the trunk's embedding as ``trunk_features`` and the graph's ``y``; a
    ``ValueError`` naming the structure if an embedding is not finite (it would poison every epoch)."""
    h = embeddings(model, graphs, batch_size, device)
    bad = (~torch.isfinite(h)).any(dim=1).nonzero().flatten().tolist()
    if bad:
        raise ValueError(f"the frozen trunk's embedding of training/validation structure #{bad[0]} is not finite")
    return [Data(**{FEATURES: h[k:k + 1].clone()}, y=g.y, num_nodes=1) for k, g in enumerate(graphs)]
