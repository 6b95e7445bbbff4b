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


def load_registered(registry: dict[str, str], name: str, kind: str, known=None):
    """The class a registry of ``"module:attr"`` import paths names, imported only now (listing stays light)."""
    try:
        path = registry[name]
    except KeyError:
        raise KeyError(f"unknown {kind} {name!r}; known {kind}s: {', '.join(known or registry)}") from None
    module, attr = path.split(":")
    return getattr(importlib.import_module(module), attr)


def get_backbone_class(name: str):
    return load_registered(BACKBONES, name, "backbone", sorted(BACKBONES))


def build_backbone(name: str, **config):
    return get_backbone_class(name)(**config)
