"""Fine-tuning modes: which parts of a pre-trained model train on the target.

Freezing acts on parameters (``requires_grad``), not on module objects: the paper's production code set
``requires_grad`` on modules, which freezes nothing. Frozen parts also keep their normalisation statistics:
``PropertyModel.train()`` leaves frozen modules in eval mode, so a frozen BatchNorm keeps the running
mean/variance it learned in pre-training instead of drifting to the small target set.
"""

from __future__ import annotations

from torch import nn

MODES: dict[str, str] = {
    "all": "everything trains from the pre-trained weights (the paper's ALL-UF; default)",
    "last-layer": "only the final linear layer of the head trains (LAST-LAY)",
    "new-head": "a freshly initialised head trains on a frozen trunk (NPH)",
    "2-body": "atom-graph updates (ALIGNN 2-body parts), GCN layers and the head train (2B)",
    "3-body": "line-graph updates (ALIGNN 3-body parts) and the head train (3B)",
    "all-but-embedding": "everything but the atom/bond/angle input embeddings trains",
}
# The group kinds (``Backbone.group_kinds``) a mode exists to train: a backbone with none of them cannot run the
# mode (it would silently train the head alone). Atom-graph-only backbones (CGCNN, SchNet) have no 3-body part.
MODE_NEEDS: dict[str, tuple[str, ...]] = {"2-body": ("2body", "gcn"), "3-body": ("3body",)}


def check_mode_applies(mode: str, backbone: str, kinds) -> None:
    """``ValueError`` naming the backbone when ``mode`` has no group of ``backbone`` to train."""
    needs = MODE_NEEDS.get(mode, ())
    if needs and not set(needs) & set(kinds):
        others = ", ".join(m for m, n in MODE_NEEDS.items() if set(n) & set(kinds))
        raise ValueError(f"fine-tuning mode {mode} trains the {' / '.join(n + '.*' for n in needs)} layer groups, and backbone "
                         f"{backbone} has none (its groups: {', '.join(sorted(kinds))}); use all, last-layer, "
                         f"new-head, all-but-embedding" + (f" or {others}" if others else ""))


def trainable_groups(mode: str, group_names: list[str]) -> set[str]:
    """Backbone layer groups that train in ``mode`` (the head is handled separately)."""
    if mode == "all":
        return set(group_names)
    if mode in ("last-layer", "new-head"):
        return set()
    # a readout (trunk output map) trains whenever some message-passing group does
    if mode == "2-body":
        return {g for g in group_names if g.startswith(("2body.", "gcn.", "readout."))}
    if mode == "3-body":
        return {g for g in group_names if g.startswith(("3body.", "readout."))}
    if mode == "all-but-embedding":
        return {g for g in group_names if not g.startswith("embedding.")}
    raise ValueError(f"unknown fine-tuning mode {mode!r}; known modes: {', '.join(MODES)}")


def apply_mode(model, mode: str) -> dict[str, int]:
    """Freeze ``model`` (a PropertyModel) for ``mode``; returns trainable/frozen parameter counts."""
    groups = model.backbone.layer_groups()
    check_mode_applies(mode, model.backbone_name, {name.split(".", 1)[0] for name in groups})
    train = trainable_groups(mode, list(groups))
    for p in model.parameters():
        p.requires_grad_(False)
    frozen_modules: list[nn.Module] = []
    for name, module in groups.items():
        if name in train:
            module.requires_grad_(True)
        else:
            frozen_modules.append(module)
    if not train:
        # no trunk layer trains: the whole trunk (its parameter-free parts too) is a fixed function, which lets
        # the trainer embed each structure once (bench.frozen_trunk)
        frozen_modules.append(model.backbone)
    if mode == "new-head":
        model.head.reset_parameters()
    if mode == "last-layer":
        model.head.linear.requires_grad_(True)
        frozen_modules += [m for n, m in model.head.named_children() if n != "linear"]
    else:
        model.head.requires_grad_(True)
    model.set_frozen_modules(frozen_modules)
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"trainable": n_train, "frozen": sum(p.numel() for p in model.parameters()) - n_train}
