"""Gaussian radial basis expansion."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class RBFExpansion(nn.Module):
    r"""Expand a scalar on ``bins`` Gaussians with evenly spaced centres :math:`\mu_k` in ``[vmin, vmax]``:

    .. math:: \phi_k(d) = \exp\!\left(-\gamma (d - \mu_k)^2\right), \qquad \gamma = 1 / \overline{\Delta\mu}.

    Used on bond lengths (0–8 Å, 80 bins) and bond-angle cosines (−1–1, 40 bins).
    """

    def __init__(self, vmin: float = 0.0, vmax: float = 8.0, bins: int = 40):
        super().__init__()
        centers = torch.linspace(vmin, vmax, bins)
        self.register_buffer("centers", centers)
        self.gamma = 1.0 / float(torch.diff(centers).mean())

    def forward(self, d: Tensor) -> Tensor:
        return torch.exp(-self.gamma * (d.unsqueeze(-1) - self.centers) ** 2)
