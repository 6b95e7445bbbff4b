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
    """Whether two tasks label the same property: the same task, or a shared property code (``pt_aliases``),
    which is how a physical task and its devi2024 copy are tied (piezo ~ devi2024-pz, log-gvrh ~ devi2024-gv)."""
    from tasks import get_task

    a, b = same_structures(a), same_structures(b)
    ta, tb = get_task(a), get_task(b)
    return a == b or bool(set(ta.pt_aliases) & set(tb.pt_aliases))


def same_structures(name: str) -> str:
    """The task whose structures and splits ``name`` uses (``Task.structures_of``), else ``name``."""
    from tasks import get_task

    return get_task(name).structures_of or name


TARGET_SOURCE_LABEL = "trunk saw the target's property"


def check_target_source(target: str, requested: list[str], resolved: list[str], allow: bool) -> None:
    """Refuse a pre-training source that labels the target's own property (unless ``allow``): pre-training on
    it trains the trunk on labelled target structures, so an FT subset no longer says how much target data
    the model saw (``--ft-size 10`` on piezo with ``--pt-source pz`` would see ~840)."""
    if allow:
        return
    same = [(r, s) for r, s in zip(requested, resolved) if same_property(s, target)]
    if same:
        which = ", ".join(f"{r!r} (-> {s})" if r != s else repr(s) for r, s in same)
        raise ValueError(f"pre-training source {which} is the target's own property ({target}): the trunk would "
                         f"be trained on labelled {target} structures (only the test set is left out), so the "
                         f"fine-tuning size would not be the amount of target data the model saw. Choose another "
                         f"source, or pass --allow-target-source to run it anyway (the record and the "
                         f"leaderboard then mark it \"{TARGET_SOURCE_LABEL}\")")


def mpt_sources(target: str, requested: list[str] | None = None, allow_target: bool = False) -> tuple[str, ...]:
    """The MPT source set for ``target``. Default sets never contain the target's own property
    (leave-target-out); an explicitly requested source of that property is refused unless ``allow_target``."""
    from tasks import all_tasks, get_task

    if requested:
        sources = [resolve_source(s, target) for s in requested]
        check_target_source(target, list(requested), sources, allow_target)
        kept = tuple(dict.fromkeys(sources))
    else:
        if get_task(target).mpt_sources:
            sources = list(get_task(target).mpt_sources)
        else:
            family = get_task(target).family
            sources = [t.name for t in all_tasks().values() if "pt_source" in t.role and t.family == family]
        kept = tuple(s for s in sources if not same_property(s, target))
    if len(kept) < 2 or (not allow_target and any(same_property(s, target) for s in kept)):
        raise ValueError(f"multi-property pre-training for {target} needs at least two sources"
                         + ("" if allow_target else " other than the target's property")
                         + f"; got {', '.join(kept) or 'none'}")
    return kept


def pretrained_properties(config: dict) -> list[str]:
    """The source tasks (one property each) a run's trunk was pre-trained on; empty for scratch."""
    pt = config.get("pretrain") or {}
    return [pt["source"]] if pt.get("source") else list(pt.get("sources") or [])


def saw_target_property(config: dict) -> bool:
    return any(same_property(s, config["task"]) for s in pretrained_properties(config))


def excluded_tests(target: str) -> tuple[str, ...]:
    """Tasks whose test structures pre-training for ``target`` must not see: the target and its declared
    siblings (``Task.pt_exclude``), sorted so that every sibling asks for the same cached trunk."""
    from tasks import get_task

    return tuple(sorted({same_structures(target), *get_task(target).pt_exclude}))


def _fresh(config: dict):
    import torch

    from backbones import build_backbone
    from backbones.heads import LinearHead
    from bench.model import PropertyModel

    torch.manual_seed(config["seed"])
    backbone = build_backbone(config["backbone"], **config["backbone_config"])
    return PropertyModel(backbone, LinearHead(backbone.embedding_dim, 1), config["backbone"])


def _scratch(config, console, device, tracking_uri):
    return _fresh(config), _trunk_info(config)


def _trunk_info(config: dict, card: dict | None = None) -> dict:
    """What every record says about its trunk: the properties it saw, whether one is the target's own, and
    which test structures its pre-training left out."""
    info = {"pretrained_properties": pretrained_properties(config),
            "trunk_saw_target_property": saw_target_property(config)}
    if card is not None:
        exclusion = card["data"].get("exclusion") or {}
        info["pretrained_key"] = card["key"]
        if card.get("zoo"):  # shipped with the package: its pre-training run lives in another MLflow store
            info["pretrained_zoo"] = card["zoo"]
        elif card.get("mlflow_run_id"):  # cards written before runs were tracked have none
            info["pretrained_run_id"] = card["mlflow_run_id"]
        info["pretrained_exclusion"] = {"tasks": sorted(exclusion.get("tasks") or {}),
                                        "fold": config["split"].get("fold"),
                                        "n_excluded": exclusion.get("n_excluded")}
    return info


def _spec(config: dict, sources: tuple[str, ...]):
    from bench.pretrain import PretrainSpec

    pt = config["pretrain"]
    return PretrainSpec(sources=sources, pt_size=pt["pt_size"], budget=config["budget"], seed=config["seed"],
                        backbone=config["backbone"], backbone_config=config["backbone_config"],
                        exclude_tasks=excluded_tests(config["task"]), weighting=pt.get("weighting", "equal"),
                        # the run's own test set follows its protocol: a fold's test set, else the fixed one
                        exclude_folds=((same_structures(config["task"]), fold),) if (fold := config["split"].get("fold")) is not None
                        else ())


def pretrain_spec(config: dict):
    """The pre-training request of a ptft or mpt run's ``config`` (what its cache key is computed from)."""
    pt = config["pretrain"]
    return _spec(config, (pt["source"],) if pt.get("source") else tuple(pt["sources"]))


def _pretrained(config: dict, sources: tuple[str, ...], console, device, tracking_uri):
    from bench import paths
    from bench.leakage import check_trunk_covers_run
    from bench.pretrain import pretrained_model

    model, card = pretrained_model(_spec(config, sources), console, device, tracking_uri)
    check_trunk_covers_run(card, config, paths.data_dir())
    return model, card


def _ptft(config, console, device, tracking_uri):
    from bench.finetune import apply_mode
    from bench.foundation import foundation_model, is_foundation

    if is_foundation(config["pretrain"]["source"]):  # a shipped trunk (mptrj): loaded, nothing pre-trained
        model, info = foundation_model(config)
        console.print(f"Trunk: the shipped {info['pretrained_key']} weights (sha256 "
                      f"{info['foundation']['weight_file_sha256'][:12]}… verified); [yellow]its pre-training may "
                      f"hold this task's test structures[/] (the record says so)")
        return model, {**info, **apply_mode(model, config["ft_mode"])}
    model, card = _pretrained(config, (config["pretrain"]["source"],), console, device, tracking_uri)
    counts = apply_mode(model, config["ft_mode"])
    return model, {**_trunk_info(config, card), "pretrained_sources": config["pretrain"]["source"], **counts}


def _mpt(config, console, device, tracking_uri):
    import torch

    from backbones.heads import MLPHead
    from bench.finetune import apply_mode
    from bench.model import PropertyModel

    sources = tuple(config["pretrain"]["sources"])
    pretrained, card = _pretrained(config, sources, console, device, tracking_uri)
    torch.manual_seed(config["seed"])
    model = PropertyModel(pretrained.backbone, MLPHead(pretrained.backbone.embedding_dim, 1), config["backbone"])
    counts = apply_mode(model, config["ft_mode"])
    return model, {**_trunk_info(config, card), "pretrained_sources": ",".join(sources), **counts}


STRATEGIES: dict[str, Strategy] = {
    "scratch": Strategy("scratch", "random initialisation, trained on the target only", _scratch),
    "ptft": Strategy("ptft", "pre-train on one source (--pt-source), fine-tune on the target (--ft-mode)", _ptft),
    "mpt": Strategy("mpt", "multi-property pre-training (leave-target-out), new head, fine-tune", _mpt),
}


def get_strategy(name: str) -> Strategy:
    if name not in STRATEGIES:
        raise KeyError(f"unknown strategy {name!r}; known strategies: {', '.join(STRATEGIES)}")
    return STRATEGIES[name]
