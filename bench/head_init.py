r"""Starting a fresh linear head from a least-squares fit on the frozen trunk's embedding (linear probing, then
fine-tuning: "LP-FT", Kumar et al., ICLR 2022).

For a shipped foundation trunk the head is new while the trunk is not: a random head sends large, random
gradients into pre-trained layers during the first steps, and a few hundred structures give a linear head too
few optimiser steps to reach what a closed-form fit reaches at once (measured on devi2024-ph, CHGNet, N=100:
a ridge probe on the standardised embedding R² 0.73; ten epochs of head-only training from a random head 0.15).

The fit is ridge regression of the standardised targets :math:`z` on the embeddings :math:`h` of the training
structures, :math:`\min_{W,b} \lVert z - hW^\top - b\rVert^2 + \alpha\lVert W\rVert^2`, with :math:`\alpha`
chosen by scikit-learn's leave-one-out (generalised cross-validation) over a log grid: training data only.
"""

from __future__ import annotations

import numpy as np
import torch

ALPHAS = np.logspace(-3, 4, 15)


@torch.no_grad()
def ridge_head(model, graphs: list, batch_size: int = 64, device: str = "cpu") -> dict:
    """Set ``model.head.linear`` to the ridge fit on ``graphs`` (each with ``y``); returns ``alpha`` and the
    fit's training R² (of standardised targets), for the run's log. A ``ValueError`` if the head is not one
    linear layer over the embedding."""
    from sklearn.linear_model import RidgeCV

    from bench.frozen_trunk import embeddings

    head = model.head
    linear = getattr(head, "linear", None)
    if type(head).__name__ != "LinearHead" or not isinstance(linear, torch.nn.Linear):
        raise ValueError(f"head_init 'ridge' fits one linear layer on the embedding; this head is "
                         f"{type(head).__name__}")
    h = embeddings(model, graphs, batch_size, device).double().cpu().numpy()
    y = torch.cat([g.y for g in graphs]).double().cpu().numpy()
    mean, std = model.target_mean.double().cpu().numpy(), model.target_std.double().cpu().numpy()
    z = (y - mean) / std
    if not (np.isfinite(h).all() and np.isfinite(z).all()):
        raise ValueError("head_init 'ridge': the embedding or the targets of the training structures are not "
                         "finite")
    fit = RidgeCV(alphas=ALPHAS).fit(h, z)
    linear.weight.copy_(torch.as_tensor(np.atleast_2d(fit.coef_), dtype=linear.weight.dtype))
    linear.bias.copy_(torch.as_tensor(np.atleast_1d(fit.intercept_), dtype=linear.bias.dtype))
    return {"alpha": float(fit.alpha_), "train_r2": float(fit.score(h, z))}
