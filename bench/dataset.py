"""From a task's records to labelled graphs: parse, validate, build (through the cache), split."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bench.graphs.build import GraphParams
from bench.graphs.cache import GraphCache
from bench.graphs.data import AlignnGraph
from bench.structures import StructureError, check_targets, parse_structure
from tasks.base import Task
from tasks.data import Record


class DatasetError(ValueError):
    """Some records of a dataset cannot be used; the message lists which and why."""


@dataclass
class LabelledGraphs:
    ids: list[str]
    graphs: list[AlignnGraph]  # each with ``y`` of shape [1, 1] (another backbone's graph type, see graph_source)
    targets: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, ids: list[str]) -> "LabelledGraphs":
        index = {i: k for k, i in enumerate(self.ids)}
        keep = [index[i] for i in ids]
        return LabelledGraphs([self.ids[k] for k in keep], [self.graphs[k] for k in keep], self.targets[keep])


def check_records(records: list[Record], source: str) -> None:
    """Reject non-finite targets, all of them at once, with a count (see ``check_targets``)."""
    check_targets([r.target for r in records], [r.id for r in records], source)


class RuleGraphs(GraphCache):
    """Graphs for a backbone that declares its own ``graph_rule`` (e.g. CHGNet's, built by its package's
    converter), cached on disk under ``root`` as ``GraphCache`` caches ALIGNN's (its hit / miss / corrupt-entry
    logic, one checksummed file per structure), keyed by the structure's content hash and ``rule.key()``.
    Without ``root`` every graph is built."""

    def __init__(self, rule, root: Path | None = None):
        import importlib

        module, attr = rule.build.split(":")
        self.rule = self.params = rule
        self._build = getattr(importlib.import_module(module), attr)
        self.root = None if root is None else Path(root) / f"rule-{rule.name}-{rule.key()}"
        self.hits = self.misses = self.rebuilt = 0

    def get(self, structure, source: str = "structure"):
        def build(s, _rule):
            return self._build(s, self.rule, source=source)

        if self.root is None:
            self.misses += 1
            return build(structure, self.rule)
        return super().get(structure, build)

    def _write(self, path: Path, key: str, graph) -> None:
        from bench.graphs.cache import write_entry

        write_entry(path, {"key": key, "params": self.rule.key(),
                           "fields": {**graph.to_dict(), "num_nodes": int(graph.num_nodes)}})

    def _read(self, path: Path, key: str):
        from bench.graphs.cache import CorruptEntry, read_entry

        data = read_entry(path, key, self.rule.key())
        try:
            return self.rule.container_class()(**data["fields"])
        except (KeyError, TypeError) as err:  # checksummed, yet not this rule's graph: rebuilt like any corrupt one
            raise CorruptEntry(f"not a {self.rule.name} graph ({type(err).__name__}: {err})") from err


def _declared_rule(backbone: str):
    """``backbone``'s own graph rule, or None when it reads the shared ALIGNN graph (a plain-string
    ``graph_rule`` only describes that graph, of which CGCNN and SchNet read a part)."""
    from backbones import get_backbone_class

    rule = getattr(get_backbone_class(backbone), "graph_rule", None)
    return None if rule is None or isinstance(rule, str) else rule


def graph_config(backbone: str, params: GraphParams = GraphParams()) -> dict:
    """The ``graph`` part of a run's config: ALIGNN's ``GraphParams`` (unchanged for the backbones reading that
    graph, so their run keys stay as they were), or the backbone's own rule (CHGNet: cutoffs, converter)."""
    rule = _declared_rule(backbone)
    if rule is None:
        return params.as_dict()
    if params != GraphParams():
        raise ValueError(f"backbone {backbone} builds its own graph ({rule.name}); the ALIGNN graph levers "
                         f"{params.as_dict()} do not apply to it")
    return rule.as_dict()


def graph_source(backbone: str, root: Path, params: GraphParams | dict = GraphParams()) -> GraphCache | RuleGraphs:
    """Where ``backbone``'s input graphs come from: its declared ``graph_rule``, else the ALIGNN graph cache
    under ``root`` (exactly the ``GraphCache(root, params)`` runs have always used). ``params`` may be a run
    config's ``graph`` part (``graph_config``); for a declared rule it must be that rule's."""
    rule = _declared_rule(backbone)
    if rule is None:
        return GraphCache(root, GraphParams(**params) if isinstance(params, dict) else params)
    if isinstance(params, dict) and params != rule.as_dict():
        raise ValueError(f"graph rule {params} is not backbone {backbone}'s ({rule.as_dict()}): a run made with "
                         f"another version of its graphs; rerun it with --fresh")
    return RuleGraphs(rule, root)


def build_graphs(records: list[Record], cache: GraphCache | RuleGraphs, source: str) -> LabelledGraphs:
    """Graphs of ``records``; every unusable structure (to parse, or to the graph rule) is reported in one
    error naming its entry."""
    graphs, errors = [], []
    for record in records:
        entry = f"{source}, entry {record.id}"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                structure = parse_structure(record.structure, record.fmt, source=entry)
            graph = cache.get(structure)  # outside catch_warnings: graph building's warnings stay visible
        except StructureError as err:
            errors.append(str(err) if err.source.startswith(entry) else str(StructureError(entry, err.problem)))
            continue
        graph.y = torch.tensor([[record.target]], dtype=torch.float32)
        graphs.append(graph)
    if errors:
        shown = "\n  ".join(errors[:10])
        more = f"\n  … and {len(errors) - 10} more" if len(errors) > 10 else ""
        raise DatasetError(f"{len(errors)} of {len(records)} structures in {source} are unusable:\n  {shown}{more}")
    targets = np.array([r.target for r in records], dtype=np.float64)
    return LabelledGraphs([r.id for r in records], graphs, targets)


def load_splits(task: Task, data_dir: Path, cache: GraphCache, limits: dict[str, int | None] | None = None,
                seed: int = 0, ft_size: int | None = None, trial: int = 1,
                fold: int | None = None) -> dict[str, LabelledGraphs]:
    """The task's train/val/test graphs for one split (see ``tasks.splits``). ``limits`` caps a split's
    size with a seeded subsample (smoke budgets)."""
    parts, source = split_records(task, data_dir, limits, seed, ft_size, trial, fold)
    return {name: build_graphs(records, cache, source) for name, records in parts.items()}


def split_records(task: Task, data_dir: Path, limits: dict[str, int | None] | None = None, seed: int = 0,
                  ft_size: int | None = None, trial: int = 1,
                  fold: int | None = None) -> tuple[dict[str, list[Record]], str]:
    """The records (not yet parsed) of each part of one split, capped as ``load_splits`` caps them, and the
    source name errors cite: the baselines read these, so they see exactly the GNN runs' structures."""
    data = task.load(data_dir)
    source = f"{task.name} ({', '.join(task.files)})"
    splits = task.protocol(fold).assign(data, ft_size=ft_size, trial=trial, fold=fold)
    used = [data.records[i] for part in splits.values() for i in part]
    check_records(used, source)
    out = {}
    for name, ids in splits.items():
        cap = (limits or {}).get(name)
        if cap is not None and cap < len(ids):
            rng = np.random.default_rng(seed)
            ids = [ids[k] for k in sorted(rng.choice(len(ids), size=cap, replace=False))]
        out[name] = [data.records[i] for i in ids]
    return out, source


def target_stats(values: np.ndarray) -> tuple[float, float]:
    mean = float(np.mean(values))
    std = float(np.std(values))
    return mean, std if std > 0 and math.isfinite(std) else 1.0
