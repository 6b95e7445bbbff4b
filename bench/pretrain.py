"""Pre-training as a cached artifact.

A pre-trained model is identified by everything that determines it: backbone configuration, the source
tasks and their data hashes, the PT size, seed, budget, the structures excluded for the target's sake, and
the code version. The checkpoint lives under ``<cache>/pretrained/<key>/`` with a model card; a second
request with the same key loads it instead of training again. Training resumes if interrupted. A key that a
trunk shipped with the package has (the model zoo, ``bench.zoo``) loads that trunk and trains nothing.

Leakage: when pre-training serves a fine-tuning target, every source structure that matches one of the
test structures of the run's own protocol (the fold's test set for ``--fold``, else the fixed test set) or of
the target's declared siblings (``tasks.cleaning.matching_ids``) is removed; the card states the exclusion
(tasks, protocol, fold, count) and the key holds the excluded ids' digest (``bench.leakage``).
Several sources (MPT) are merged by structure: a material labelled in several sources becomes one entry
carrying all its labels (``tasks.cleaning.find_duplicates``), NaN where a label is missing.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console

from bench import paths
from bench.artifacts import stamp_json
from bench.budgets import get_budget
from bench.checkpoint import load_model, save_model
from bench.dataset import LabelledGraphs
from bench.graphs.build import GRAPH_VERSION, GraphParams
from bench.graphs.cache import GraphCache
from bench.structures import parse_structure
from bench.train import NonFiniteError, TrainConfig, Trainer

PRETRAIN_VERSION = 2  # 2: the exclusion follows the run's evaluated split (fold test sets)
# Extra candidates drawn per source so that removing target-test matches still leaves ``pt_size`` structures.
_OVERDRAW = 1.25


@dataclass
class PretrainSpec:
    sources: tuple[str, ...]
    pt_size: int | str = 941  # per source: at most N drawn from its pool (all of a smaller pool), "1000" or "all"
    budget: str = "quick"
    seed: int = 0
    backbone: str = "alignn"
    backbone_config: dict[str, Any] = field(default_factory=dict)
    # Targets whose test structures never enter pre-training: the fine-tuning target, and with it the targets
    # it declares in ``Task.pt_exclude`` (its family), so that one cached trunk serves every one of them.
    exclude_tasks: tuple[str, ...] = ()
    weighting: str = "equal"  # several sources: see bench.train.masked_loss
    # (task, fold) pairs: an excluded task evaluated on a cross-validation fold contributes that fold's test set
    # rather than its fixed one (a fold's test set is mostly the fixed split's pool, which sources draw from).
    exclude_folds: tuple[tuple[str, int], ...] = ()

    @property
    def head(self) -> str:
        return "multi" if len(self.sources) > 1 else "linear"


def _source_records(task, data, spec: PretrainSpec, limit: int | None, excluded_refs: dict | None):
    """Records drawn from one source's pool, with target-test matches removed."""
    from tasks.cleaning import matching_ids
    from tasks.pretraining import pretraining_ids

    want = spec.pt_size
    if isinstance(want, int) and limit:
        want = min(want, limit)
    if isinstance(want, int):
        pool = task.split.pool(data)
        ranked = pretraining_ids(task, data, len(pool), spec.seed)  # prefix of length n = the draw of n
        chosen, start, dropped = [], 0, 0
        while len(chosen) < want and start < len(ranked):
            stop = min(len(ranked), start + max(int((want - len(chosen)) * _OVERDRAW), 8))
            block = ranked[start:stop]
            structures = _parse({i: data.records[i] for i in block}, task.name)
            bad = matching_ids(structures, excluded_refs) if excluded_refs else set()
            dropped += len(bad)
            chosen += [(i, structures[i]) for i in block if i not in bad]
            start = stop
        # A pool smaller than pt_size is used whole (PZ's pool is 847 < 941): the card records the count used.
        return chosen[:want], dropped
    ids = pretraining_ids(task, data, want, spec.seed)
    if limit:
        ids = ids[:limit]
    structures = _parse({i: data.records[i] for i in ids}, task.name)
    bad = matching_ids(structures, excluded_refs) if excluded_refs else set()
    return [(i, structures[i]) for i in ids if i not in bad], len(bad)


def _parse(records: dict, source: str) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {i: parse_structure(r.structure, r.fmt, source=f"{source}, entry {i}") for i, r in records.items()}


def collect(spec: PretrainSpec, data_dir: Path, console: Console) -> tuple[list, np.ndarray, list[str], dict]:
    """(structures, targets [N, P], entry ids, report) of the merged pre-training data."""
    from tasks import get_task
    from tasks.cleaning import find_duplicates

    budget = get_budget(spec.budget)
    limit = (budget.max_train + (budget.max_val or 0)) if budget.max_train else None
    excluded_refs, report = None, {"sources": {}}
    if spec.exclude_tasks:
        from bench.leakage import excluded_tests, exclusion_summary

        tests = excluded_tests(spec.exclude_tasks, spec.exclude_folds, data_dir)
        excluded_refs = {}
        for name, t in tests.items():
            tdata = get_task(name).load(data_dir)
            refs = _parse({i: tdata.records[i] for i in t["ids"]}, name)
            excluded_refs |= {f"{name}:{i}": s for i, s in refs.items()}
        report["exclusion"] = {"tasks": exclusion_summary(tests)}

    entries = []
    for p, name in enumerate(spec.sources):
        task = get_task(name)
        data = task.load(data_dir)
        chosen, dropped = _source_records(task, data, spec, limit, excluded_refs)
        report["sources"][name] = {"used": len(chosen), "requested": spec.pt_size,
                                   "excluded_matching_target_test": dropped, "data_hash": task.data_hash(data_dir)}
        if isinstance(spec.pt_size, int) and len(chosen) < min(spec.pt_size, limit or spec.pt_size):
            console.print(f"[yellow]{name}: only {len(chosen)} usable structures (pt_size {spec.pt_size}); "
                          f"using all of them[/]")
        entries += [(p, f"{name}:{i}", s, data.records[i].target) for i, s in chosen]

    n_props = len(spec.sources)
    structures = [e[2] for e in entries]
    targets = np.full((len(entries), n_props), np.nan)
    for k, (p, _, _, y) in enumerate(entries):
        targets[k, p] = y
    keep = np.ones(len(entries), dtype=bool)
    merged = 0
    if n_props > 1:
        for a, b in find_duplicates(structures):
            if keep[b]:
                keep[b] = False
                merged += 1
                fill = np.isnan(targets[a]) & ~np.isnan(targets[b])
                targets[a, fill] = targets[b, fill]
    report["merged_duplicates"] = merged
    report["n_structures"] = int(keep.sum())
    ids = [entries[k][1] for k in np.flatnonzero(keep)]
    if excluded_refs:
        report["exclusion"]["n_excluded"] = sum(s["excluded_matching_target_test"]
                                                for s in report["sources"].values())
        _assert_no_leak(dict(zip(ids, (structures[k] for k in np.flatnonzero(keep)))), excluded_refs)
    console.print(f"Pre-training data: {report['n_structures']} structures from {', '.join(spec.sources)}"
                  + (f" ({merged} labelled in several sources merged)" if merged else "")
                  + (f"; {sum(s['excluded_matching_target_test'] for s in report['sources'].values())} "
                     f"matching the test sets of {', '.join(_named(spec))} excluded"
                     if spec.exclude_tasks else ""))
    return [structures[k] for k in np.flatnonzero(keep)], targets[keep], ids, report


def _named(spec: PretrainSpec) -> list[str]:
    folds = dict(spec.exclude_folds)
    return [name + (f" (fold {folds[name]})" if name in folds else "") for name in spec.exclude_tasks]


def _assert_no_leak(chosen: dict, excluded_refs: dict) -> None:
    """The drawn set, re-matched as a whole against the excluded test structures: the per-block removal above
    must have left nothing (a guard against a wrong draw or merge, not a second filter)."""
    from bench.leakage import LeakageError
    from tasks.cleaning import matches

    leaked = matches(chosen, excluded_refs)
    if leaked:
        shown = ", ".join(f"{c} ~ {r}" for c, r in list(leaked.items())[:5])
        raise LeakageError(f"{len(leaked)} pre-training structures match excluded test structures after "
                           f"collection ({shown}); refusing to pre-train")


def cache_key(spec: PretrainSpec, data_dir: Path) -> str:
    from bench.leakage import excluded_tests, exclusion_summary
    from tasks import get_task

    hashes = {name: get_task(name).data_hash(data_dir) for name in spec.sources}
    for name in spec.exclude_tasks:
        hashes["exclude:" + name] = get_task(name).data_hash(data_dir)
    # the excluded test ids themselves, not only the files they come from: a fold, or a changed split
    # protocol, changes which structures are left out while the data hashes stay the same
    exclusion = {name: {"fold": e["fold"], "test_ids_sha256": e["test_ids_sha256"]} for name, e in
                 exclusion_summary(excluded_tests(spec.exclude_tasks, spec.exclude_folds, data_dir)).items()}
    budget = get_budget(spec.budget).as_dict()
    blob = json.dumps({"spec": asdict(spec), "hashes": hashes, "exclusion": exclusion, "budget": budget,
                       "graph": GRAPH_VERSION, "version": PRETRAIN_VERSION}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def pretrained_model(spec: PretrainSpec, console: Console | None = None, device: str = "cpu",
                     tracking_uri: str | None = None):
    """The pre-trained model for ``spec``: loaded from the cache, or trained and cached first.
    Returns ``(model, card)``. A cached entry is verified first (``_load_cached``)."""
    from bench.spec import check_pt_size

    console = console or Console(stderr=True)
    check_pt_size(spec.pt_size)  # before any folder exists: a bad size must leave no partial entry
    data_dir = paths.data_dir()
    key = cache_key(spec, data_dir)
    folder = paths.cache_dir() / "pretrained" / key
    from bench import zoo

    shipped = zoo.find(key)
    if shipped is not None:  # read in place, verified; a damaged copy is refused (ArtifactError), not retrained
        model, card = zoo.load(shipped, device)
        console.print(f"Using the shipped pre-trained trunk {shipped.name} ({key}; card: `bench models show "
                      f"{shipped.name}`): no pre-training")
        return model, card
    from bench.locks import folder_lock, hold

    # One process trains an entry; another that needs it meanwhile waits, then loads what the first cached.
    lock = folder_lock(paths.cache_dir(), "pretrained", key)
    with hold(lock, what=f"pre-training {key}", log=console.print):
        loaded = _load_cached(key, folder, console, device)
        if loaded is not None:
            model, card = loaded
            console.print(f"Reusing pre-trained checkpoint {key} ({', '.join(spec.sources)}, "
                          f"{card['data']['n_structures']} structures, val MAE {card['metrics']['best_val_mae']:.4g})")
            return model, card
        return _train(spec, key, folder, console, device, tracking_uri)


def _load_cached(key: str, folder: Path, console: Console, device: str):
    """``(model, card)`` of a verified cache entry; None when there is none or it must be rebuilt (corrupt,
    unreadable, without a content hash: said, and the bad files removed; training resumes from the entry's
    verified checkpoints, so a rebuild is quick). An intact trunk or card of *another* key sitting in this
    entry is refused (ForeignArtifactError): something put it there, and overwriting it would hide that."""
    from rich.markup import escape

    from bench.artifacts import ArtifactError, ForeignArtifactError, read_json, verify_json

    model_file, card_file = folder / "model.pt", folder / "card.json"
    if not model_file.exists():
        return None  # never trained, or interrupted: _train resumes
    identity = {"cache_key": key}
    remedy = f"delete the entry (rm -r {folder}) and run again to pre-train it"
    try:
        if not card_file.exists():
            raise ArtifactError(card_file, "is missing")
        card = read_json(card_file, remedy)
        verify_json(card_file, card, identity, remedy)
        model, _, _ = load_model(model_file, device, identity, remedy)
        return model, card
    except ForeignArtifactError:
        raise
    except ArtifactError as err:
        found = _declared_key(model_file)
        if found not in (None, key):
            raise ForeignArtifactError(model_file, f"holds the pre-trained trunk {found}, not {key}",
                                       {"cache_key": found}, remedy) from None
        console.print(f"[yellow]warning: cached pre-trained trunk {key} is not usable "
                      f"({escape(f'{err.path}: {err.reason}')}); pre-training it again[/]", highlight=False)
        model_file.unlink(missing_ok=True)
        card_file.unlink(missing_ok=True)
        return None


def _declared_key(model_file: Path) -> str | None:
    """The cache key a trunk file says it belongs to, even when its content fails verification."""
    from bench.artifacts import ArtifactError, identity_of

    found = identity_of(model_file)
    if found:
        return found.get("cache_key")
    try:  # written before content hashes: the key is in its meta
        return load_model(model_file)[2].get("card")
    except ArtifactError:
        return None


def _train(spec: PretrainSpec, key: str, folder: Path, console: Console, device: str, tracking_uri: str | None):
    from backbones import build_backbone
    from backbones.heads import LinearHead, MultiHead
    from bench.model import PropertyModel
    from bench.tracking import Tracker

    t_start = time.time()
    budget = get_budget(spec.budget)
    console.print(f"[bold]Pre-training[/] on {', '.join(spec.sources)} (pt_size {spec.pt_size}, budget "
                  f"{spec.budget}, seed {spec.seed}) -> cache {key}")
    structures, targets, ids, report = collect(spec, paths.data_dir(), console)
    cache = GraphCache(paths.cache_dir() / "graphs", GraphParams())
    graphs = []
    for s, y in zip(structures, targets):
        g = cache.get(s)
        g.y = torch.tensor(y, dtype=torch.float32).unsqueeze(0)
        graphs.append(g)
    ranked = sorted(range(len(ids)), key=lambda k: hashlib.sha256(f"{spec.seed}:pt:{ids[k]}".encode()).hexdigest())
    n_val = max(1, round(0.1 * len(ranked)))
    parts = {"train": ranked[n_val:], "val": ranked[:n_val]}
    data = {name: LabelledGraphs([ids[k] for k in idx], [graphs[k] for k in idx], targets[idx].squeeze(1)
                                 if targets.shape[1] == 1 else targets[idx]) for name, idx in parts.items()}

    torch.manual_seed(spec.seed)
    backbone = build_backbone(spec.backbone, **spec.backbone_config)
    head = (LinearHead(backbone.embedding_dim, 1) if spec.head == "linear"
            else MultiHead(backbone.embedding_dim, list(spec.sources)))
    model = PropertyModel(backbone, head, spec.backbone)
    train_t = targets[parts["train"]]
    mean = np.nanmean(train_t, axis=0)
    std = np.nanstd(train_t, axis=0)
    std = np.where(np.isfinite(std) & (std > 0), std, 1.0)
    model.set_target_scaling(torch.tensor(mean, dtype=torch.float32), torch.tensor(std, dtype=torch.float32))

    cfg = TrainConfig(epochs=budget.epochs, batch_size=budget.batch_size, lr=budget.lr,
                      weight_decay=budget.weight_decay, loss=budget.loss, patience=budget.patience,
                      select=budget.select, seed=spec.seed, device=device, weighting=spec.weighting)
    from bench.estimate import estimate_seconds

    console.print(f"Estimated pre-training time "
                  f"{estimate_seconds(model.to(device), data['train'].graphs, cfg, len(parts['val'])).describe()}")
    tracker = Tracker(tracking_uri)
    try:
        return _train_tracked(spec, key, folder, console, device, model, data, parts, report, cfg, tracker, t_start)
    except BaseException as err:  # never leave the MLflow run RUNNING: Ctrl-C -> KILLED, an error -> FAILED
        tracker.end_on_error(err)
        raise


def _train_tracked(spec, key, folder, console, device, model, data, parts, report, cfg, tracker, t_start):
    from bench.progress import TrainingProgress
    from bench.provenance import git_commit, hardware, package_versions

    budget = get_budget(spec.budget)
    folder.mkdir(parents=True, exist_ok=True)
    run_id_file = folder / "mlflow_run_id"
    run_id = tracker.start("pretraining", f"{'+'.join(spec.sources)}-{spec.budget}-seed{spec.seed}",
                           run_id_file.read_text().strip() if run_id_file.exists() else None,
                           {"kind": "pretraining", "cache_key": key, "budget": spec.budget, "seed": str(spec.seed),
                            "sources": ",".join(spec.sources), "git_commit": git_commit()})
    run_id_file.write_text(run_id)
    tracker.log_params({"spec": asdict(spec), "train": asdict(cfg), "n_train": len(parts["train"]),
                        "n_val": len(parts["val"])})
    trainer = Trainer(model, cfg, folder / "train",
                      on_epoch=lambda r: tracker.log_metrics({k: v for k, v in r.items() if k != "epoch"},
                                                             step=r["epoch"]),
                      progress=TrainingProgress(console), identity={"cache_key": key})
    try:
        state = trainer.fit(data["train"], data["val"])
        if not math.isfinite(state.best_val_mae):
            raise NonFiniteError(f"pre-training {key} ({', '.join(spec.sources)}) never reached a finite "
                                 f"validation MAE; nothing was cached")
    except NonFiniteError as err:  # _train then ends the MLflow run FAILED
        tracker.set_tags({"error": str(err)})
        raise
    wall = time.time() - t_start
    card = {
        "key": key, "spec": asdict(spec), "budget": budget.as_dict(),
        "data": {**report, "n_train": len(parts["train"]), "n_val": len(parts["val"]),
                 "properties": list(spec.sources)},
        "metrics": {"best_val_mae": state.best_val_mae, "best_epoch": state.best_epoch,
                    "epochs_run": state.epoch, "final": state.history[-1] if state.history else {}},
        "n_parameters": sum(p.numel() for p in model.parameters()),
        "wall_seconds": wall, "train_seconds": state.train_seconds, "mlflow_run_id": run_id,
        "git_commit": git_commit(), "versions": package_versions(), "hardware": hardware(device),
    }
    tracker.log_metrics({"best_val_mae": state.best_val_mae, "wall_seconds": wall})
    identity = {"cache_key": key}
    save_model(folder / "model.pt.tmp", model.cpu(), GraphParams(), {"kind": "pretrained", "card": key}, identity)
    card = stamp_json(card, identity)
    (folder / "card.json.tmp").write_text(json.dumps(card, indent=2))
    (folder / "card.json.tmp").replace(folder / "card.json")
    (folder / "model.pt.tmp").replace(folder / "model.pt")  # last: its presence means the entry is complete
    tracker.log_artifact(folder / "card.json")
    tracker.finish("FINISHED")
    console.print(f"Pre-trained in {wall:.0f} s; best val MAE {state.best_val_mae:.4g}; cached as {key}")
    return model.to(device), card
