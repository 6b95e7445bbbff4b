"""One benchmark run: task + strategy + budget + seed -> trained model, test metrics, an MLflow run."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from rich.console import Console

from backbones.baselines import is_baseline
from bench import paths
from bench.artifacts import non_finite, stamp_json
from bench.budgets import get_budget
from bench.checkpoint import save_model
from bench.dataset import graph_config, graph_source, load_splits, target_stats
from bench.estimate import estimate_seconds
from bench.graphs.build import GraphParams
from bench.leakage import check_disjoint, twin_flags
from bench.metrics import evaluate, untransformed, untransformed_units
from bench.progress import TrainingProgress
from bench.provenance import git_commit, hardware, package_versions
from bench.spec import GRAPH_OVERRIDES, RunSpec
from bench.strategies import get_strategy
from bench.tracking import Tracker
from bench.train import NonFiniteError, TrainConfig, Trainer, predict
from tasks import get_task


@dataclass
class RunResult:
    run_id: str
    workdir: Path
    test_metrics: dict[str, float]
    wall_seconds: float
    resumed_finished: bool = False
    best_val_mae: float | None = None
    val_mae: float | None = None  # validation MAE of the evaluated model (best epoch, or last for select="last")


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available here")
    return device


def resolve_config(task: str, strategy: str, budget: str, seed: int, device: str,
                   epochs: int | None = None, backbone: str = "alignn", split: dict | None = None,
                   pretrain: dict | None = None, ft_mode: str = "all",
                   overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything that determines a run's result; its hash names the run's working directory.

    ``overrides`` (hyper-parameter tuning): ``ft_mode``; ``weighting`` (mpt pre-training); any TrainConfig
    field (lr, weight_decay, batch_size, epochs, ...); any backbone argument (hidden_features, alignn_layers...);
    the graph levers ``three_body_cutoff``, ``neighbor_cap`` (GraphParams; in ``config["graph"]`` only when set).
    ``pretrain["allow_target_source"]``: accept a source of the target's own property (refused otherwise); it
    stays in the config (so in the run key) only when set.
    """
    from bench.foundation import FOUNDATIONS, backbone_args, default_pt_source, is_foundation, pretrain_config
    from bench.strategies import check_target_source, mpt_sources, resolve_source

    if is_baseline(backbone):  # no network: backbones/baselines, bench/baseline_run.py
        from bench.baseline_run import baseline_config

        return baseline_config(task, strategy, budget, seed, backbone, split)
    b = get_budget(budget)
    pretrain = dict(pretrain or {})
    overrides = dict(overrides or {})
    ft_mode = overrides.pop("ft_mode", ft_mode)
    if "weighting" in overrides:
        pretrain["weighting"] = overrides.pop("weighting")
    graph = GraphParams(**{k: overrides.pop(k) for k in GRAPH_OVERRIDES if k in overrides})
    allow = {"allow_target_source": True} if pretrain.get("allow_target_source") else {}
    if strategy == "scratch":
        pretrain, ft_mode = {}, "all"
    elif strategy == "ptft" and is_foundation(pretrain.get("source") or default_pt_source(backbone)):
        pretrain = pretrain_config(pretrain.get("source") or default_pt_source(backbone))  # shipped: no PT here
    elif strategy == "ptft":
        source = resolve_source(pretrain.get("source") or "fe", task)
        check_target_source(task, [pretrain.get("source") or "fe"], [source], bool(allow))
        pretrain = {"source": source, "pt_size": pretrain.get("pt_size") or 941} | allow
    elif strategy == "mpt":
        pretrain = {"sources": list(mpt_sources(task, pretrain.get("sources"), bool(allow))),
                    "pt_size": pretrain.get("pt_size") or 941,
                    "weighting": pretrain.get("weighting") or "equal"} | allow
    backbone_config = budget_backbone_config(backbone, budget)
    foundation = FOUNDATIONS.get(pretrain.get("source"))
    if foundation:
        backbone_config |= backbone_args(pretrain["source"])  # the config says which weights the trunk starts from
    lr = b.lr * (foundation.lr_factor if foundation else 1.0)
    train = TrainConfig(epochs=epochs or b.epochs, batch_size=b.batch_size, lr=lr, weight_decay=b.weight_decay,
                        loss=b.loss, patience=b.patience, select=b.select, seed=seed, device=device)
    for name, value in overrides.items():
        if name in backbone_config:
            backbone_config[name] = value
        elif name in TrainConfig.__dataclass_fields__ and name not in ("seed", "device"):
            setattr(train, name, value)
        else:
            raise KeyError(f"unknown override {name!r}: not a training setting nor a {backbone} argument")
    return {"task": task, "strategy": strategy, "budget": budget, "seed": seed, "backbone": backbone,
            "split": {"ft_size": None, "trial": 1, "fold": None} | (split or {}),
            "pretrain": pretrain, "ft_mode": ft_mode,
            "backbone_config": backbone_config, "train": asdict(train),
            "data_limits": {"train": b.max_train, "val": b.max_val, "test": b.max_test},
            "graph": graph_config(backbone, graph)} | ({"head_init": foundation.head_init} if foundation else {})


def budget_backbone_config(backbone: str, budget: str) -> dict[str, Any]:
    """``backbone``'s constructor arguments at ``budget``: its defaults, then the budget's sizes."""
    return _backbone_defaults(backbone) | get_budget(budget).backbone_config(backbone)


def _backbone_defaults(name: str) -> dict[str, Any]:
    import inspect

    from backbones import get_backbone_class

    sig = inspect.signature(get_backbone_class(name).__init__)
    return {k: p.default for k, p in sig.parameters.items() if k != "self"}


def run_key(config: dict[str, Any], data_hash: str) -> str:
    blob = json.dumps({k: v for k, v in config.items() if k != "train"} | {
        "train": {k: v for k, v in config["train"].items() if k not in ("device", "checkpoint_every_s")}},
        sort_keys=True)
    return hashlib.sha256((blob + data_hash).encode()).hexdigest()[:12]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class RunPlan:
    config: dict[str, Any]
    key: str
    workdir: Path
    data_hash: str


def plan_run(task: str, strategy: str = "scratch", budget: str = "quick", seed: int = 0, device: str = "cpu",
             epochs: int | None = None, ft_size: int | None = None, trial: int = 1, fold: int | None = None,
             pretrain: dict | None = None, ft_mode: str = "all", overrides: dict | None = None,
             backbone: str = "alignn") -> RunPlan:
    """The resolved configuration of a run, its key and working directory (nothing is trained)."""
    task_obj = get_task(task)
    config = resolve_config(task, strategy, budget, seed, device, epochs, backbone,
                            split={"ft_size": ft_size, "trial": trial, "fold": fold}, pretrain=pretrain,
                            ft_mode=ft_mode, overrides=overrides)
    data_dir = paths.data_dir()
    data_hash = task_obj.data_hash(data_dir) if all(p.exists() for p in task_obj.paths(data_dir)) else ""
    key = run_key(config, data_hash)
    workdir = paths.runs_dir() / f"{task}-{strategy}-{budget}{split_label(config['split'])}-seed{seed}-{key}"
    return RunPlan(config, key, workdir, data_hash)


def run_benchmark(task: str | None = None, strategy: str = "scratch", budget: str = "quick", seed: int = 0,
                  device: str = "auto", tracking_uri: str | None = None, epochs: int | None = None,
                  fresh: bool = False, console: Console | None = None, ft_size: int | None = None,
                  trial: int = 1, fold: int | None = None, pretrain: dict | None = None,
                  ft_mode: str = "all", overrides: dict | None = None, on_epoch=None,
                  extra_tags: dict | None = None, *, spec: RunSpec | None = None, wait: bool = True,
                  backbone: str = "alignn") -> RunResult:
    """One run, given as ``spec`` or as the keyword options ``RunSpec.from_options`` takes; every option is
    validated (``SpecError``) before any data loads or folder is created.

    ``on_epoch(record)`` is called after each epoch (it may raise, e.g. optuna.TrialPruned: the MLflow run
    then ends KILLED and the exception propagates); ``extra_tags`` are set on the MLflow run. The MLflow run
    never stays RUNNING: Ctrl-C ends it KILLED, an error FAILED.

    One process at a time works in a run's folder: an identical run started meanwhile waits for it (``wait``;
    it then reports the finished result) or raises ``LockBusy`` naming the holder (``wait=False``).
    """
    from bench.locks import folder_lock, hold

    console = console or Console(stderr=True)
    t_start = time.time()
    if spec is not None and task is not None:
        raise TypeError("run_benchmark takes a spec or the options (task, strategy, ...), not both")
    if spec is None:
        spec = RunSpec.from_options(task, strategy, budget, seed, device, epochs, ft_size, trial, fold, pretrain,
                                    ft_mode, overrides, backbone)
    device = resolve_device(spec.device)
    plan = plan_run(spec.task, spec.strategy, spec.budget, spec.seed, device, spec.epochs, spec.ft_size,
                    spec.trial, spec.fold, spec.pretrain, spec.ft_mode, spec.overrides, spec.backbone)
    guard = _RunGuard()
    try:
        lock = folder_lock(paths.user_data_dir(), "run", plan.workdir.name)
        with hold(lock, what=f"run {plan.workdir.name}", wait=wait, log=console.print):
            return _run_planned(spec, plan, device, tracking_uri, fresh, console, on_epoch, extra_tags, t_start,
                                guard)
    except BaseException as err:
        if guard.tracker is not None:
            guard.tracker.end_on_error(err, stopped_by_caller=guard.stopped_by_caller)
        raise


@dataclass
class _RunGuard:
    """What an exception leaving a run must clean up: its MLflow run, once started."""
    tracker: Any = None
    stopped_by_caller: bool = False  # on_epoch raised: the caller stopped the run on purpose (KILLED)


def _run_planned(spec: RunSpec, plan: RunPlan, device: str, tracking_uri: str | None, fresh: bool,
                 console: Console, on_epoch, extra_tags: dict | None, t_start: float, guard: _RunGuard) -> RunResult:
    task, strategy, budget, seed, epochs = spec.task, spec.strategy, spec.budget, spec.seed, spec.epochs
    task_obj, strat, b = get_task(task), get_strategy(strategy), get_budget(budget)
    config, key, workdir, data_hash = plan.config, plan.key, plan.workdir, plan.data_hash
    data_dir = paths.data_dir()
    if fresh and workdir.exists():
        shutil.rmtree(workdir)
    done = workdir / "result.json"
    if done.exists():
        res = read_result(done, key, console)
        console.print(f"This exact run already finished (MLflow run {res['run_id']}); use --fresh to train again.")
        return RunResult(res["run_id"], workdir, res["test_metrics"], res["wall_seconds"], resumed_finished=True,
                         best_val_mae=res.get("best_val_mae"), val_mae=res.get("val_mae", res.get("best_val_mae")))
    if is_baseline(spec.backbone):
        from bench.baseline_run import run_baseline

        return run_baseline(spec, plan, device, tracking_uri, console, extra_tags, t_start, guard)

    train_cfg = TrainConfig(**config["train"])
    console.print(f"[bold]{task}[/] · strategy [bold]{strategy}[/] · budget [bold]{budget}[/]: {b.describe(spec.backbone)}"
                  + (f" (epochs overridden: {train_cfg.epochs})" if epochs else ""))
    cache = graph_source(config["backbone"], paths.cache_dir() / "graphs", config["graph"])
    t0 = time.time()
    splits = load_splits(task_obj, data_dir, cache, config["data_limits"], seed=seed, **config["split"])
    check_disjoint({k: v.ids for k, v in splits.items()}, task)
    console.print(f"Data: train {len(splits['train'])} · val {len(splits['val'])} · test {len(splits['test'])} "
                  f"structures; graphs in {time.time() - t0:.1f} s (cache: {cache.hits} hits, {cache.misses} built"
                  + (f", {cache.rebuilt} corrupt entries rebuilt" if cache.rebuilt else "") + ")")
    check_split_sizes(task, splits)
    if isinstance(cache.params, GraphParams) and cache.params != GraphParams():
        console.print(f"Graph rule: {cache.params.as_dict()} (not the ALIGNN reference)")

    seed_everything(seed)
    model, strategy_info = strat.build(config, console, device, tracking_uri)
    seed_everything(seed)
    mean, std = target_stats(splits["train"].targets)
    model.set_target_scaling(torch.tensor([mean]), torch.tensor([std]))
    n_params = sum(p.numel() for p in model.parameters())
    est = estimate_seconds(model.to(device), splits["train"].graphs, train_cfg, len(splits["val"]), len(splits["test"]))
    console.print(f"Model: {config['backbone']} with {n_params:,} parameters on {device}; "
                  f"estimated training time {est.describe()}")

    tracker = Tracker(tracking_uri)
    run_id_file = workdir / "mlflow_run_id"
    workdir.mkdir(parents=True, exist_ok=True)
    tags = {"task": task, "strategy": strategy, "backbone": config["backbone"], "budget": budget,
            "seed": seed, **{k: v for k, v in config["split"].items() if v is not None}, "data_hash": data_hash, "git_commit": git_commit(), "run_key": key,
            **{f"graph.{k}": v for k, v in config["graph"].items() if k in GRAPH_OVERRIDES},
            **{f"version.{k}": v for k, v in package_versions().items()},
            **{f"hardware.{k}": v for k, v in hardware(device).items()}}
    run_id = tracker.start(task, f"{strategy}-{budget}{split_label(config['split'])}-seed{seed}",
                           run_id_file.read_text().strip() if run_id_file.exists() else None,
                           {k: str(v) for k, v in tags.items()})
    guard.tracker = tracker
    run_id_file.write_text(run_id)
    if extra_tags:
        tracker.set_tags(extra_tags)
    if strategy_info:
        tracker.set_tags({f"strategy.{k}": v for k, v in strategy_info.items()})
    if strategy_info.get("pretrained_run_id"):
        tracker.link_pretraining(strategy_info["pretrained_run_id"], console)
    tracker.log_params(config | {"n_parameters": n_params,
                                 "n_train": len(splits["train"]), "n_val": len(splits["val"]),
                                 "n_test": len(splits["test"])})
    console.print(f"MLflow run {run_id} in {tracker.uri}")

    def epoch_end(r: dict) -> None:
        tracker.log_metrics({k: v for k, v in r.items() if k != "epoch"}, step=r["epoch"])
        if on_epoch:
            try:
                on_epoch(r)
            except BaseException:
                guard.stopped_by_caller = True
                raise

    trainer = Trainer(model, train_cfg, workdir, on_epoch=epoch_end, progress=TrainingProgress(console),
                      identity={"run_key": key}, head_init=config.get("head_init", "random"))
    try:
        state = trainer.fit(splits["train"], splits["val"])
        test = splits["test"]
        pred = predict(model, test.graphs, device=device)[:, 0]
        metrics = evaluate(test.targets, pred)
        bad = non_finite(metrics) + (["predictions"] if not np.isfinite(pred).all() else [])
        if bad:
            values = ", ".join(f"{k} {v}" for k, v in metrics.items())
            raise NonFiniteError(f"test {', '.join(bad)} not finite ({values}): the model's predictions are "
                                 f"unusable; the run is not recorded as finished")
    except NonFiniteError as err:  # the run guard then ends the MLflow run FAILED
        tracker.set_tags({"error": str(err)})
        raise
    wall = time.time() - t_start
    val_mae = state.best_val_mae if train_cfg.select == "best" or not state.history else state.history[-1]["val_mae"]
    tracker.log_metrics({f"test_{k}": v for k, v in metrics.items()} | {
        "best_val_mae": state.best_val_mae, "best_epoch": state.best_epoch, "epochs_run": state.epoch,
        "train_seconds": state.train_seconds})
    tracker.set_tags({"wall_time_s": f"{wall:.1f}", "train_seconds": f"{state.train_seconds:.1f}",
                      "stopped_early": state.stopped_early})

    pred_csv = workdir / "test_predictions.csv"
    pd.DataFrame({"id": test.ids, "y_true": test.targets, "y_pred": pred}).to_csv(pred_csv, index=False)
    model_file = save_model(workdir / "model.pt", model.cpu(), cache.params, {
        "task": task, "target": task_obj.target, "units": task_obj.units, "strategy": strategy,
        "budget": budget, "seed": seed, "run_id": run_id, "test_metrics": metrics, "data_hash": data_hash,
        "git_commit": git_commit()}, {"run_key": key})
    tracker.log_artifact(pred_csv)
    tracker.log_artifact(model_file, "model")
    tracker.log_json(config, "config.json")
    tracker.log_json({"split_ids": {k: v.ids for k, v in splits.items()}}, "splits.json")
    tracker.log_json(state.history, "history.json")
    result = {"run_id": run_id, "run_key": key, "test_metrics": metrics, "wall_seconds": wall,
              "train_seconds": state.train_seconds, "config": config, "data_hash": data_hash,
              "strategy_info": strategy_info | ({"head_fit": trainer.head_fit} if trainer.head_fit else {})
              | ({"trunk_embedded_once": True} if trainer.embedded_once else {}),
              "n_parameters": n_params,
              "best_val_mae": state.best_val_mae, "val_mae": val_mae, "best_epoch": state.best_epoch,
              "epochs_run": state.epoch, "split_ids": {k: v.ids for k, v in splits.items()}, "git_commit": git_commit(),
              "leakage": twin_flags(task, {k: v.ids for k, v in splits.items()}, data_dir),
              "task_info": {"target": task_obj.target, "units": task_obj.units, "main_metric": task_obj.main_metric,
                            "family": task_obj.family},
              "test_predictions": {"y_true": [float(v) for v in test.targets], "y_pred": [float(v) for v in pred]},
              "versions": package_versions(), "hardware": hardware(device), "finished_at": time.time()}
    if task_obj.target_transform:  # errors in the property's own units too (e.g. C/m² for a log10 target)
        result["test_metrics_untransformed"] = untransformed(task_obj.target_transform, test.targets, pred)
        result["task_info"]["untransformed_units"] = untransformed_units(task_obj.target_transform, task_obj.units)
        tracker.log_metrics({f"test_untransformed_{k}": v for k, v in result["test_metrics_untransformed"].items()})
    result = stamp_json(result, {"run_key": key})  # the record exported from it carries the same hash
    tracker.log_json(result, "record.json")
    tracker.finish("FINISHED")
    tmp = done.with_name(done.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2))
    tmp.replace(done)  # a run is finished once result.json exists: never a half-written one
    return RunResult(run_id, workdir, metrics, wall, best_val_mae=state.best_val_mae, val_mae=val_mae)


def read_result(path: Path, key: str, console: Console) -> dict:
    """A finished run's ``result.json``, verified: readable, this run's (its run key), its content hash, finite
    test metrics. Anything else is refused (ArtifactError, a ValueError) with the folder to delete. A result
    from before content hashes is accepted with a note (its run key and metrics are still checked)."""
    from rich.markup import escape

    from bench.artifacts import ArtifactError, read_json, verify_json

    remedy = f"delete the run folder (rm -r {path.parent}) or rerun with --fresh to train it again"
    res = read_json(path, remedy)
    if not verify_json(path, res, {"run_key": key}, remedy, require_hash=False):
        if res.get("run_key") != key:
            raise ArtifactError(path, f"belongs to run {res.get('run_key')!r}, not {key}", remedy)
        console.print(f"[yellow]note:[/] {escape(str(path))} has no content hash (written by an older tl-bench); "
                      "not verified", highlight=False)
    metrics = res.get("test_metrics")
    if not isinstance(metrics, dict) or not isinstance(res.get("run_id"), str):
        raise ArtifactError(path, "lacks test_metrics or run_id", remedy)
    if non_finite(metrics):
        raise ArtifactError(path, f"records non-finite test metrics ({', '.join(non_finite(metrics))}): not a "
                                  f"finished run", remedy)
    return res


# The least a split part must hold for the run to mean something: a standard deviation to scale targets by,
# an epoch to select on, a test set whose R² and MAD:MAE are defined.
MIN_SPLIT = {"train": 2, "val": 1, "test": 2}


def check_split_sizes(task: str, splits: dict) -> None:
    """Refuse a split too small to train and evaluate on (before any MLflow run exists)."""
    from bench.dataset import DatasetError

    sizes = {name: len(part) for name, part in splits.items()}
    short = [name for name, least in MIN_SPLIT.items() if sizes.get(name, 0) < least]
    if short:
        raise DatasetError(
            f"task {task!r} is too small for its split: " + ", ".join(f"{k} {v}" for k, v in sizes.items())
            + " structures; a run needs at least " + ", ".join(f"{v} {k}" for k, v in MIN_SPLIT.items())
            + f" ({', '.join(short)} short); add structures to the task")


def split_label(split: dict) -> str:
    if split.get("fold") is not None:
        return f"-fold{split['fold']}"
    if split.get("ft_size") is not None:
        return f"-n{split['ft_size']}-t{split['trial']}"
    return ""

