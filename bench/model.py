"""A model = backbone + head, with the target scaling that maps head outputs to physical units."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from backbones import build_backbone
from backbones.heads import build_head


class PropertyModel(nn.Module):
    r"""``backbone`` embeds each structure, ``head`` maps it to ``P`` standardised outputs :math:`z`;
    predictions in the target's units are :math:`\hat y = \mu + \sigma z` (``target_mean``, ``target_std``
    are buffers, so a checkpoint carries its own scaling)."""

    def __init__(self, backbone: nn.Module, head: nn.Module, backbone_name: str = "alignn"):
        super().__init__()
        self.backbone_name = backbone_name
        self.backbone = backbone
        self.head = head
        out = head.out_features
        self.register_buffer("target_mean", torch.zeros(out))
        self.register_buffer("target_std", torch.ones(out))
        self._frozen_modules: list[nn.Module] = []  # kept in eval mode while training (see bench.finetune)

    def set_frozen_modules(self, modules: list[nn.Module]) -> None:
        object.__setattr__(self, "_frozen_modules", list(modules))  # a plain list: not registered as children
        self.train(self.training)

    def train(self, mode: bool = True) -> "PropertyModel":
        super().train(mode)
        if mode:
            for module in self._frozen_modules:
                module.eval()
        return self

    def set_target_scaling(self, mean: Tensor, std: Tensor) -> None:
        self.target_mean.copy_(torch.as_tensor(mean, dtype=self.target_mean.dtype))
        self.target_std.copy_(torch.as_tensor(std, dtype=self.target_std.dtype).clamp_min(1e-12))

    def embed(self, batch) -> Tensor:
        """The trunk's embedding ``[B, D]``; a batch of cached embeddings (``bench.frozen_trunk``) carries it."""
        features = getattr(batch, "trunk_features", None)
        return self.backbone(batch) if features is None else features

    def forward(self, batch) -> Tensor:
        """Standardised outputs ``[B, P]`` (what the loss sees)."""
        return self.head(self.embed(batch))

    @torch.no_grad()
    def predict(self, batch) -> Tensor:
        """Predictions ``[B, P]`` in the target's units."""
        return self(batch) * self.target_std + self.target_mean

    def architecture(self) -> dict[str, Any]:
        return {"backbone": self.backbone_name, "backbone_config": self.backbone.config(),
                "head_config": self.head.config()}

    @classmethod
    def from_architecture(cls, arch: dict[str, Any]) -> "PropertyModel":
        backbone = build_backbone(arch["backbone"], **arch["backbone_config"])
        return cls(backbone, build_head(arch["head_config"]), arch["backbone"])
