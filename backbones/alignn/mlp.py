"""The Linear -> Norm -> SiLU block ALIGNN uses for its input embeddings."""

from __future__ import annotations

from torch import Tensor, nn


def make_norm(kind: str, features: int) -> nn.Module:
    """``"batch"`` (BatchNorm1d, the ALIGNN release the paper used) or ``"layer"`` (LayerNorm, later releases)."""
    if kind == "batch":
        return nn.BatchNorm1d(features)
    if kind == "layer":
        return nn.LayerNorm(features)
    raise ValueError(f"unknown norm {kind!r}; use 'batch' or 'layer'")


class MLPLayer(nn.Module):
    r""":math:`\mathrm{SiLU}(\mathrm{Norm}(W x + b))`."""

    def __init__(self, in_features: int, out_features: int, norm: str = "batch"):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        self.norm = make_norm(norm, out_features)
        self.act = nn.SiLU()

    def reset_parameters(self) -> None:
        self.linear.reset_parameters()
        self.norm.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.norm(self.linear(x)))
