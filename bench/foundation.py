"""Shipped foundation trunks as pre-training sources: ``--pt-source mptrj`` is CHGNet 0.3.0 as its authors
trained it on MPtrj, loaded from the ``chgnet`` wheel (its sha256 checked against the model card); nothing is
pre-trained here, so there is no cache entry, no pre-training run and no exclusion of the target's test set.

Leakage: MPtrj is Materials Project relaxations, and the suite's MP-derived targets draw their test structures
from the same Materials Project, so such a trunk may have seen test structures (labelled with energies, forces,
stresses and magnetic moments, not with the target). The suite cannot remove them: records say so
(``strategy_info.trunk_saw_test_structures`` and the card's statement) and the leaderboard marks them ⚠.

Light to import (no torch): ``RunSpec`` checks options with it before any work starts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Foundation:
    source: str  # the --pt-source name
    backbone: str  # the only backbone whose architecture the weights fit
    card: str  # leaderboard/pretrained/<card>.json: data, licence, weights' sha256, leakage statement
    model_name: str  # the checkpoint's name in backbones.chgnet.weights
    # Fine-tuning recipe (bench.run.resolve_config): the budget's learning rate times lr_factor, and the new
    # head started from a ridge fit (bench.head_init). Why, measured on devi2024-ph (N=100, 10 epochs, mode
    # all): at the quick budget's 2e-3 the training loss jumped 1.5 -> 2.8 -> 1.2 (the pre-trained features
    # are being overwritten); at 2e-4 it fell smoothly.
    lr_factor: float = 0.1
    head_init: str = "ridge"


FOUNDATIONS: dict[str, Foundation] = {"mptrj": Foundation("mptrj", "chgnet", "chgnet-0.3.0-mptrj", "0.3.0")}

# Backbones that cannot be pre-trained here, and why: their --strategy ptft uses a shipped trunk only.
NOT_PRETRAINED_HERE: dict[str, str] = {
    "chgnet": "pre-training builds the ALIGNN graph (bench/pretrain.py), not CHGNet's own, so a CHGNet trunk "
              "is not pre-trained here; its pre-trained trunk is the shipped one, --pt-source mptrj",
}
# Constructor arguments the strategy decides: `--params pretrained true` would make a scratch run fine-tune the
# shipped weights under the name scratch, and another checkpoint would not be the one the card describes.
STRATEGY_ARGS: dict[str, tuple[str, ...]] = {"chgnet": ("pretrained", "model_name")}

TEST_STRUCTURES_LABEL = "trunk's pre-training (MPtrj) may hold test structures"


def is_foundation(source: str | None) -> bool:
    return source in FOUNDATIONS


def default_pt_source(backbone: str) -> str:
    """``--pt-source`` when none is given: ``fe`` (the paper's), or the shipped trunk of a backbone that is
    not pre-trained here (so ``bench tune --backbone chgnet --strategy ptft`` fine-tunes from MPtrj)."""
    if backbone in NOT_PRETRAINED_HERE:
        return next(f.source for f in FOUNDATIONS.values() if f.backbone == backbone)
    return "fe"


def check_options(strategy: str, backbone: str, pt_source: str | None, mpt_sources, pt_size,
                  overrides: dict) -> None:
    """``ValueError`` naming the option when a shipped trunk is asked of the wrong backbone, or a backbone that
    is not pre-trained here is asked to be."""
    for name in STRATEGY_ARGS.get(backbone, ()):
        if name in overrides:
            raise ValueError(f"--params {name}: for backbone {backbone} the strategy decides it (scratch: fresh "
                             f"weights; ptft --pt-source {default_pt_source(backbone)}: the shipped ones); drop it")
    if strategy == "ptft":
        source = pt_source or default_pt_source(backbone)
        if source in FOUNDATIONS:
            f = FOUNDATIONS[source]
            if backbone != f.backbone:
                raise ValueError(f"--pt-source {source} is the shipped {f.backbone} trunk ({f.card}), pre-trained "
                                 f"by its authors: it serves --backbone {f.backbone} only, not {backbone}. Choose "
                                 f"another source (fe, bg, ...) or --backbone {f.backbone}")
            if pt_size is not None:
                raise ValueError(f"--pt-size: the {source} trunk is shipped as trained on the whole of "
                                 f"{source}; there is nothing to draw; drop --pt-size")
        elif backbone in NOT_PRETRAINED_HERE:
            raise ValueError(f"--pt-source {source} with --backbone {backbone}: {NOT_PRETRAINED_HERE[backbone]} "
                             f"(bench sweep: --pt-sources {default_pt_source(backbone)})")
    if strategy == "mpt":
        if backbone in NOT_PRETRAINED_HERE:
            raise ValueError(f"--strategy mpt with --backbone {backbone}: multi-property pre-training is not "
                             f"supported for it: {NOT_PRETRAINED_HERE[backbone]} (--strategy ptft)")
        shipped = [s for s in mpt_sources or () if s in FOUNDATIONS]
        if shipped:
            raise ValueError(f"--mpt-sources: {', '.join(shipped)} is a shipped trunk, not a dataset to pre-train "
                             f"on; use --strategy ptft --pt-source {shipped[0]}")


def check_pretrain_command(backbone: str, sources) -> None:
    """``bench pretrain``'s refusals, before anything loads."""
    shipped = [s for s in sources if s in FOUNDATIONS]
    if shipped:
        f = FOUNDATIONS[shipped[0]]
        raise ValueError(f"--source {f.source} is shipped pre-trained ({f.card}, in the {f.backbone} wheel): "
                         f"nothing to pre-train; bench run --backbone {f.backbone} --strategy ptft --pt-source "
                         f"{f.source} fine-tunes from it")
    if backbone in NOT_PRETRAINED_HERE:
        raise ValueError(f"--backbone {backbone}: {NOT_PRETRAINED_HERE[backbone]}")


def pretrain_config(source: str) -> dict[str, Any]:
    """A run config's ``pretrain`` part for a shipped trunk: its source and the card naming the weights."""
    return {"source": source, "trunk": FOUNDATIONS[source].card}


def backbone_args(source: str) -> dict[str, Any]:
    """The backbone arguments a run from a shipped trunk is built with (``backbone_config`` of its config)."""
    return {"model_name": FOUNDATIONS[source].model_name, "pretrained": True}


def card_path(key: str) -> Path:
    import leaderboard

    return Path(leaderboard.__file__).parent / "pretrained" / f"{key}.json"


def load_card(key: str) -> dict[str, Any]:
    path = card_path(key)
    try:
        card = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"model card {path} of the shipped trunk {key} is not readable: {err}") from None
    if card.get("key") != key or "leakage" not in card or "weight_file_sha256" not in card.get("model", {}):
        raise ValueError(f"model card {path} is not the card of {key} (key, model.weight_file_sha256, leakage)")
    return card


def foundation_model(config: dict[str, Any]):
    """``(model, strategy_info)``: the shipped trunk under a fresh one-output linear head (the shipped energy
    head reads atom features, not the pooled embedding, and predicts energy), seeded by the run's seed."""
    import importlib.metadata

    import torch

    from backbones import build_backbone
    from backbones.chgnet.weights import PACKAGE, SHA256, load_checkpoint
    from backbones.heads import LinearHead
    from bench.model import PropertyModel

    f = FOUNDATIONS[config["pretrain"]["source"]]
    card = load_card(f.card)
    if card["model"]["weight_file_sha256"] != SHA256[f.model_name]:
        raise ValueError(f"{card_path(f.card)} records sha256 {card['model']['weight_file_sha256']} for the "
                         f"{f.model_name} weights; backbones/chgnet/weights.py expects {SHA256[f.model_name]}")
    load_checkpoint(f.model_name)  # refuses a weight file whose sha256 is not the card's
    torch.manual_seed(config["seed"])
    trunk = build_backbone(f.backbone, **(config["backbone_config"] | backbone_args(f.source)))
    model = PropertyModel(trunk, LinearHead(trunk.embedding_dim, 1), f.backbone)
    info = {"pretrained_properties": list(card["data"].get("labels") or []),
            "trunk_saw_target_property": False,  # energies, forces, stresses, magmoms: not the target's label
            "pretrained_key": f.card, "pretrained_sources": f.source,
            "pretrained_exclusion": {"tasks": [], "fold": config["split"].get("fold"), "n_excluded": 0,
                                     "note": "none: the trunk is shipped pre-trained; the target's test "
                                             "structures cannot be removed from its pre-training"},
            "trunk_saw_test_structures": True,
            "test_structure_leakage": card["leakage"]["statement"],
            "foundation": {"card": f.card, "weight_file": card["model"]["weight_file"],
                           "weight_file_sha256": SHA256[f.model_name], "package": PACKAGE,
                           "installed": f"chgnet=={importlib.metadata.version('chgnet')}"}}
    return model, info
