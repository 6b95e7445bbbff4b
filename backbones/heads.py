"""Heads: per-structure embedding -> property predictions."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class LinearHead(nn.Module):
    r"""One linear map per output: :math:`\hat y = W h + b` (ALIGNN's ``fc``)."""

    def __init__(self, in_features: int, out_features: int = 1):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.linear = nn.Linear(in_features, out_features)

    def reset_parameters(self) -> None:
        self.linear.reset_parameters()

    def forward(self, h: Tensor) -> Tensor:
        return self.linear(h)

    def config(self) -> dict:
        return {"type": "linear", "in_features": self.in_features, "out_features": self.out_features}


class MLPHead(nn.Module):
    r"""Two-layer head :math:`\hat y = W_2\,\mathrm{SiLU}(W_1 h + b_1) + b_2` (the paper's MPT heads, 256→128→1)."""

    def __init__(self, in_features: int, out_features: int = 1, hidden: int = 128):
        super().__init__()
        self.in_features, self.out_features, self.hidden = in_features, out_features, hidden
        self.hidden_layer = nn.Linear(in_features, hidden)
        self.act = nn.SiLU()
        self.linear = nn.Linear(hidden, out_features)  # "the final linear layer" of last-layer fine-tuning

    def reset_parameters(self) -> None:
        self.hidden_layer.reset_parameters()
        self.linear.reset_parameters()

    def forward(self, h: Tensor) -> Tensor:
        return self.linear(self.act(self.hidden_layer(h)))

    def config(self) -> dict:
        return {"type": "mlp", "in_features": self.in_features, "out_features": self.out_features,
                "hidden": self.hidden}


class MultiHead(nn.Module):
    r"""One :class:`MLPHead` per property on a shared embedding (multi-property pre-training):
    :math:`\hat y_p = \mathrm{MLP}_p(h)`, concatenated to ``[B, P]``."""

    def __init__(self, in_features: int, properties: list[str], hidden: int = 128):
        super().__init__()
        self.in_features, self.properties, self.hidden = in_features, list(properties), hidden
        self.out_features = len(self.properties)
        self.heads = nn.ModuleList(MLPHead(in_features, 1, hidden) for _ in self.properties)

    def reset_parameters(self) -> None:
        for head in self.heads:
            head.reset_parameters()

    def forward(self, h: Tensor) -> Tensor:
        return torch.cat([head(h) for head in self.heads], dim=1)

    def config(self) -> dict:
        return {"type": "multi", "in_features": self.in_features, "properties": self.properties,
                "hidden": self.hidden}


def build_head(config: dict) -> nn.Module:
    """Rebuild a head from its ``config()``."""
    cfg = dict(config)
    kind = cfg.pop("type")
    return {"linear": LinearHead, "mlp": MLPHead, "multi": MultiHead}[kind](**cfg)
