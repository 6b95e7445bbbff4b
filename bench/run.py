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

from bench import paths
from bench.budgets import get_budget
from bench.checkpoint import save_model
from bench.dataset import load_splits, target_stats
from bench.estimate import estimate_seconds
from bench.graphs.build import GraphParams
from bench.graphs.cache import GraphCache
from bench.metrics import evaluate
from bench.progress import TrainingProgress
from bench.provenance import git_commit, hardware, package_versions
from bench.strategies import get_strategy
from bench.tracking import Tracker
from bench.train import TrainConfig, Trainer, predict
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
    field (lr, weight_decay, batch_size, epochs, ...); any backbone argument (hidden_features, alignn_layers...).
    """
    from bench.strategies import mpt_sources, resolve_source

    b = get_budget(budget)
    pretrain = dict(pretrain or {})
    overrides = dict(overrides or {})
    ft_mode = overrides.pop("ft_mode", ft_mode)
    if "weighting" in overrides:
        pretrain["weighting"] = overrides.pop("weighting")
    if strategy == "scratch":
        pretrain, ft_mode = {}, "all"
    elif strategy == "ptft":
        pretrain = {"source": resolve_source(pretrain.get("source") or "fe", task),
                    "pt_size": pretrain.get("pt_size") or 941}
    elif strategy == "mpt":
        pretrain = {"sources": list(mpt_sources(task, pretrain.get("sources"))),
                    "pt_size": pretrain.get("pt_size") or 941, "weighting": pretrain.get("weighting") or "equal"}
    backbone_config = _backbone_defaults(backbone) | b.backbone
    train = TrainConfig(epochs=epochs or b.epochs, batch_size=b.batch_size, lr=b.lr, weight_decay=b.weight_decay,
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
            "data_limits": {"train": b.max_train, "val": b.max_val, "test": b.max_test}, "graph": asdict(GraphParams())}


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
             pretrain: dict | None = None, ft_mode: str = "all", overrides: dict | None = None) -> RunPlan:
    """The resolved configuration of a run, its key and working directory (nothing is trained)."""
    task_obj = get_task(task)
    config = resolve_config(task, strategy, budget, seed, device, epochs,
                            split={"ft_size": ft_size, "trial": trial, "fold": fold}, pretrain=pretrain,
                            ft_mode=ft_mode, overrides=overrides)
    data_dir = paths.data_dir()
    data_hash = task_obj.data_hash(data_dir) if all(p.exists() for p in task_obj.paths(data_dir)) else ""
    key = run_key(config, data_hash)
    workdir = paths.runs_dir() / f"{task}-{strategy}-{budget}{split_label(config['split'])}-seed{seed}-{key}"
    return RunPlan(config, key, workdir, data_hash)


def run_benchmark(task: str, strategy: str = "scratch", budget: str = "quick", seed: int = 0,
                  device: str = "auto", tracking_uri: str | None = None, epochs: int | None = None,
                  fresh: bool = False, console: Console | None = None, ft_size: int | None = None,
                  trial: int = 1, fold: int | None = None, pretrain: dict | None = None,
                  ft_mode: str = "all", overrides: dict | None = None, on_epoch=None,
                  extra_tags: dict | None = None) -> RunResult:
    """``on_epoch(record)`` is called after each epoch (it may raise, e.g. optuna.TrialPruned: the MLflow run
    then ends KILLED and the exception propagates); ``extra_tags`` are set on the MLflow run."""
    console = console or Console(stderr=True)
    t_start = time.time()
    task_obj, strat, b = get_task(task), get_strategy(strategy), get_budget(budget)
    device = resolve_device(device)
    plan = plan_run(task, strategy, budget, seed, device, epochs, ft_size, trial, fold, pretrain, ft_mode, overrides)
    config, key, workdir, data_hash = plan.config, plan.key, plan.workdir, plan.data_hash
    data_dir = paths.data_dir()
    if fresh and workdir.exists():
        shutil.rmtree(workdir)
    done = workdir / "result.json"
    if done.exists():
        res = json.loads(done.read_text())
        console.print(f"This exact run already finished (MLflow run {res['run_id']}); use --fresh to train again.")
        return RunResult(res["run_id"], workdir, res["test_metrics"], res["wall_seconds"], resumed_finished=True,
                         best_val_mae=res.get("best_val_mae"), val_mae=res.get("val_mae", res.get("best_val_mae")))

    train_cfg = TrainConfig(**config["train"])
    console.print(f"[bold]{task}[/] · strategy [bold]{strategy}[/] · budget [bold]{budget}[/]: {b.summary}"
                  + (f" (epochs overridden: {train_cfg.epochs})" if epochs else ""))
    cache = GraphCache(paths.cache_dir() / "graphs", GraphParams(**config["graph"]))
    t0 = time.time()
    splits = load_splits(task_obj, data_dir, cache, config["data_limits"], seed=seed, **config["split"])
    console.print(f"Data: train {len(splits['train'])} · val {len(splits['val'])} · test {len(splits['test'])} "
                  f"structures; graphs in {time.time() - t0:.1f} s (cache: {cache.hits} hits, {cache.misses} built"
                  + (f", {cache.rebuilt} corrupt entries rebuilt" if cache.rebuilt else "") + ")")

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
            **{f"version.{k}": v for k, v in package_versions().items()},
            **{f"hardware.{k}": v for k, v in hardware(device).items()}}
    run_id = tracker.start(task, f"{strategy}-{budget}{split_label(config['split'])}-seed{seed}",
                           run_id_file.read_text().strip() if run_id_file.exists() else None,
                           {k: str(v) for k, v in tags.items()})
    run_id_file.write_text(run_id)
    if extra_tags:
        tracker.set_tags(extra_tags)
    if strategy_info:
        tracker.set_tags({f"strategy.{k}": v for k, v in strategy_info.items()})
    tracker.log_params(config | {"n_parameters": n_params,
                                 "n_train": len(splits["train"]), "n_val": len(splits["val"]),
                                 "n_test": len(splits["test"])})
    console.print(f"MLflow run {run_id} in {tracker.uri}")

    def epoch_end(r: dict) -> None:
        tracker.log_metrics({k: v for k, v in r.items() if k != "epoch"}, step=r["epoch"])
        if on_epoch:
            on_epoch(r)

    trainer = Trainer(model, train_cfg, workdir, on_epoch=epoch_end, progress=TrainingProgress(console))
    try:
        state = trainer.fit(splits["train"], splits["val"])
    except BaseException:
        tracker.finish("KILLED")
        raise

    test = splits["test"]
    pred = predict(model, test.graphs, device=device)[:, 0]
    metrics = evaluate(test.targets, pred)
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
        "git_commit": git_commit()})
    tracker.log_artifact(pred_csv)
    tracker.log_artifact(model_file, "model")
    tracker.log_json(config, "config.json")
    tracker.log_json({"split_ids": {k: v.ids for k, v in splits.items()}}, "splits.json")
    tracker.log_json(state.history, "history.json")
    result = {"run_id": run_id, "run_key": key, "test_metrics": metrics, "wall_seconds": wall,
              "train_seconds": state.train_seconds, "config": config, "data_hash": data_hash,
              "strategy_info": strategy_info, "n_parameters": n_params,
              "best_val_mae": state.best_val_mae, "val_mae": val_mae, "best_epoch": state.best_epoch,
              "epochs_run": state.epoch, "split_ids": {k: v.ids for k, v in splits.items()}, "git_commit": git_commit(),
              "task_info": {"target": task_obj.target, "units": task_obj.units, "main_metric": task_obj.main_metric,
                            "family": task_obj.family},
              "test_predictions": {"y_true": [float(v) for v in test.targets], "y_pred": [float(v) for v in pred]},
              "versions": package_versions(), "hardware": hardware(device), "finished_at": time.time()}
    tracker.log_json(result, "record.json")
    tracker.finish("FINISHED")
    done.write_text(json.dumps(result, indent=2, default=str))
    return RunResult(run_id, workdir, metrics, wall, best_val_mae=state.best_val_mae, val_mae=val_mae)


def split_label(split: dict) -> str:
    if split.get("fold") is not None:
        return f"-fold{split['fold']}"
    if split.get("ft_size") is not None:
        return f"-n{split['ft_size']}-t{split['trial']}"
    return ""

