"""Strategies: how the model that gets trained on the target is initialised.

``scratch`` trains a freshly initialised backbone and head. Pre-train/fine-tune strategies (``ptft``,
``mpt``) add to this registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Strategy:
    name: str
    description: str
    build: Callable[..., object]  # (backbone_name, backbone_config, seed) -> PropertyModel


def _scratch(backbone_name: str, backbone_config: dict, seed: int):
    import torch

    from backbones import build_backbone
    from backbones.heads import LinearHead
    from bench.model import PropertyModel

    torch.manual_seed(seed)
    backbone = build_backbone(backbone_name, **backbone_config)
    return PropertyModel(backbone, LinearHead(backbone.embedding_dim, 1), backbone_name)


STRATEGIES: dict[str, Strategy] = {
    "scratch": Strategy("scratch", "random initialisation, trained on the target only", _scratch),
}


def get_strategy(name: str) -> Strategy:
    if name not in STRATEGIES:
        raise KeyError(f"unknown strategy {name!r}; known strategies: {', '.join(STRATEGIES)}")
    return STRATEGIES[name]
