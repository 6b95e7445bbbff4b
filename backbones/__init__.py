"""Backbone registry: a name -> the class implementing ``backbones.base.Backbone``.

Adding a backbone means adding a module and one line here. Entries are import paths so that listing the
registry does not import torch.
"""

from __future__ import annotations

import importlib

BACKBONES: dict[str, str] = {
    "alignn": "backbones.alignn.model:ALIGNN",
    "cgcnn": "backbones.cgcnn:CGCNN",
    "schnet": "backbones.schnet:SchNet",
    "chgnet": "backbones.chgnet.model:CHGNetTrunk",
}


def get_backbone_class(name: str):
    try:
        path = BACKBONES[name]
    except KeyError:
        raise KeyError(f"unknown backbone {name!r}; known backbones: {', '.join(sorted(BACKBONES))}") from None
    module, attr = path.split(":")
    return getattr(importlib.import_module(module), attr)


def build_backbone(name: str, **config):
    return get_backbone_class(name)(**config)
