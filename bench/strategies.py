"""Strategies: how the model trained on the target is initialised.

- ``scratch``: a freshly initialised backbone and linear head.
- ``ptft``: pre-train on one source (cached, see ``bench.pretrain``), keep its head, fine-tune with a mode.
- ``mpt``: pre-train one trunk on several properties with one head each (masked loss), then attach a new
  single-property head and fine-tune. Leave-target-out: the sources never include the target's property.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Strategy:
    name: str
    description: str
    build: Callable[..., tuple[Any, dict]]  # (config, console, device, tracking_uri) -> (model, info)


def resolve_source(name: str, target: str | None = None) -> str:
    """A task name, or a property code (``fe``, ``bg``…) resolved to a pre-training source task:
    the target's family first, then the paper's (devi2024) pools."""
    from tasks import all_tasks

    tasks = all_tasks()
    if name in tasks:
        return name
    family = tasks[target].family if target in tasks else None
    hits = [t for t in tasks.values() if name in t.pt_aliases and "pt_source" in t.role]
    for preferred in (family, "devi2024"):
        for t in hits:
            if t.family == preferred:
                return t.name
    if hits:
        return hits[0].name
    sources = sorted(t.name for t in tasks.values() if "pt_source" in t.role)
    raise KeyError(f"unknown pre-training source {name!r}; use a task name ({', '.join(sources)}) or a "
                   f"property code ({', '.join(sorted({a for t in tasks.values() for a in t.pt_aliases}))})")


def same_property(a: str, b: str) -> bool:
    from tasks import get_task

    ta, tb = get_task(a), get_task(b)
    return a == b or bool(set(ta.pt_aliases) & set(tb.pt_aliases))


def mpt_sources(target: str, requested: list[str] | None = None) -> tuple[str, ...]:
    """The MPT source set for ``target``, never containing the target's own property (leave-target-out)."""
    from tasks import all_tasks, get_task

    if requested:
        sources = [resolve_source(s, target) for s in requested]
    elif get_task(target).mpt_sources:
        sources = list(get_task(target).mpt_sources)
    else:
        family = get_task(target).family
        sources = [t.name for t in all_tasks().values() if "pt_source" in t.role and t.family == family]
    kept = tuple(s for s in sources if not same_property(s, target))
    if len(kept) < 2:
        raise ValueError(f"multi-property pre-training for {target} needs at least two sources other than the "
                         f"target's property; got {', '.join(kept) or 'none'}")
    return kept


def excluded_tests(target: str) -> tuple[str, ...]:
    """Tasks whose test structures pre-training for ``target`` must not see: the target and its declared
    siblings (``Task.pt_exclude``), sorted so that every sibling asks for the same cached trunk."""
    from tasks import get_task

    return tuple(sorted({target, *get_task(target).pt_exclude}))


def _fresh(config: dict):
    import torch

    from backbones import build_backbone
    from backbones.heads import LinearHead
    from bench.model import PropertyModel

    torch.manual_seed(config["seed"])
    backbone = build_backbone(config["backbone"], **config["backbone_config"])
    return PropertyModel(backbone, LinearHead(backbone.embedding_dim, 1), config["backbone"])


def _scratch(config, console, device, tracking_uri):
    return _fresh(config), {}


def _spec(config: dict, sources: tuple[str, ...]):
    from bench.pretrain import PretrainSpec

    pt = config["pretrain"]
    return PretrainSpec(sources=sources, pt_size=pt["pt_size"], budget=config["budget"], seed=config["seed"],
                        backbone=config["backbone"], backbone_config=config["backbone_config"],
                        exclude_tasks=excluded_tests(config["task"]), weighting=pt.get("weighting", "equal"))


def _ptft(config, console, device, tracking_uri):
    from bench.finetune import apply_mode
    from bench.pretrain import pretrained_model

    model, card = pretrained_model(_spec(config, (config["pretrain"]["source"],)), console, device, tracking_uri)
    counts = apply_mode(model, config["ft_mode"])
    return model, {"pretrained_key": card["key"], "pretrained_sources": config["pretrain"]["source"], **counts}


def _mpt(config, console, device, tracking_uri):
    import torch

    from backbones.heads import MLPHead
    from bench.finetune import apply_mode
    from bench.model import PropertyModel
    from bench.pretrain import pretrained_model

    sources = tuple(config["pretrain"]["sources"])
    pretrained, card = pretrained_model(_spec(config, sources), console, device, tracking_uri)
    torch.manual_seed(config["seed"])
    model = PropertyModel(pretrained.backbone, MLPHead(pretrained.backbone.embedding_dim, 1), config["backbone"])
    counts = apply_mode(model, config["ft_mode"])
    return model, {"pretrained_key": card["key"], "pretrained_sources": ",".join(sources), **counts}


STRATEGIES: dict[str, Strategy] = {
    "scratch": Strategy("scratch", "random initialisation, trained on the target only", _scratch),
    "ptft": Strategy("ptft", "pre-train on one source (--pt-source), fine-tune on the target (--ft-mode)", _ptft),
    "mpt": Strategy("mpt", "multi-property pre-training (leave-target-out), new head, fine-tune", _mpt),
}


def get_strategy(name: str) -> Strategy:
    if name not in STRATEGIES:
        raise KeyError(f"unknown strategy {name!r}; known strategies: {', '.join(STRATEGIES)}")
    return STRATEGIES[name]
