"""One run of a classical baseline (``backbones/baselines``): the GNN run's protocol without a network.

The same split (``bench.dataset.split_records``: the structures, FT subsets, test sets and smoke caps the GNN
runs see), the same leakage checks, the same metrics code, the same MLflow tags and the same record, so the
leaderboard and ``bench leaderboard compare`` show a baseline as one more row (its backbone field naming it).

What differs: a baseline fits on the training split only (strategy scratch; nothing is pre-trained), trains
no epochs (there is no checkpoint to resume: a rerun refits, in seconds), and keeps no model file: a fitted
scikit-learn model is a pickle, and loading a pickle can run code, so ``bench predict`` refuses baseline runs
(it names the record's train ids to refit from instead).
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np

BASELINE_STRATEGIES = ("scratch",)


def baseline_config(task: str, strategy: str, budget: str, seed: int, backbone: str,
                    split: dict | None) -> dict[str, Any]:
    """The run configuration of a baseline, with the keys of ``bench.run.resolve_config``'s: the budget only
    caps the data (smoke); the model is the same at every budget."""
    from backbones.baselines import get_baseline_class
    from bench.budgets import get_budget

    if strategy not in BASELINE_STRATEGIES:
        raise ValueError(refusal(backbone, strategy))
    cls, b = get_baseline_class(backbone), get_budget(budget)
    return {"task": task, "strategy": strategy, "budget": budget, "seed": seed, "backbone": backbone,
            "split": {"ft_size": None, "trial": 1, "fold": None} | (split or {}),
            "pretrain": {}, "ft_mode": "all",
            "backbone_config": {"kind": "baseline", "features": cls.features, **cls.hyper_parameters()},
            "train": {"seed": seed},
            "data_limits": {"train": b.max_train, "val": b.max_val, "test": b.max_test}}


def refusal(backbone: str, strategy: str) -> str:
    return (f"--strategy {strategy}: {backbone} is a baseline, trained on the target alone; it has no trunk to "
            f"pre-train or fine-tune. Use --strategy scratch (the default) with --backbone {backbone}")


def run_baseline(spec, plan, device: str, tracking_uri: str | None, console, extra_tags: dict | None,
                 t_start: float, guard):
    """Fit, evaluate, track and record one baseline run (``bench.run._run_planned``'s arguments)."""
    from threadpoolctl import threadpool_limits

    from backbones.baselines import get_baseline_class
    from bench import paths
    from bench.artifacts import non_finite, stamp_json
    from bench.dataset import split_records
    from bench.leakage import check_disjoint, twin_flags
    from bench.metrics import evaluate
    from bench.provenance import git_commit, hardware, package_versions
    from bench.run import RunResult, check_split_sizes, split_label
    from bench.tracking import Tracker
    from bench.train import NonFiniteError
    from tasks import get_task

    config, key, workdir, data_hash = plan.config, plan.key, plan.workdir, plan.data_hash
    task, backbone, seed = spec.task, spec.backbone, spec.seed
    task_obj, cls, data_dir = get_task(task), get_baseline_class(backbone), paths.data_dir()
    console.print(f"[bold]{task}[/] · baseline [bold]{backbone}[/] · budget [bold]{spec.budget}[/]: {cls.size()}; "
                  f"reads {cls.reads}")
    t0 = time.time()
    parts, source = split_records(task_obj, data_dir, config["data_limits"], seed, **config["split"])
    ids = {name: [r.id for r in records] for name, records in parts.items()}
    check_disjoint(ids, task)
    check_split_sizes(task, parts)
    x = _inputs(cls, parts, source, task, data_hash, console)
    y = {name: np.array([r.target for r in records], dtype=np.float64) for name, records in parts.items()}
    console.print(f"Data: train {len(ids['train'])} · val {len(ids['val'])} · test {len(ids['test'])} structures; "
                  f"inputs in {time.time() - t0:.1f} s")

    tracker = Tracker(tracking_uri)
    workdir.mkdir(parents=True, exist_ok=True)
    tags = {"task": task, "strategy": spec.strategy, "backbone": backbone, "budget": spec.budget, "seed": seed,
            **{k: v for k, v in config["split"].items() if v is not None}, "data_hash": data_hash,
            "git_commit": git_commit(), "run_key": key, "model": "not saved (baseline: a fitted model is a pickle)",
            **{f"version.{k}": v for k, v in _versions(package_versions()).items()},
            **{f"hardware.{k}": v for k, v in hardware("cpu").items()}}
    # a baseline has no checkpoint: an interrupted one starts a new MLflow run (the old one ended KILLED)
    run_id = tracker.start(task, f"{spec.strategy}-{backbone}-{spec.budget}{split_label(config['split'])}-seed{seed}",
                           None, {k: str(v) for k, v in tags.items()})
    guard.tracker = tracker
    (workdir / "mlflow_run_id").write_text(run_id)
    if extra_tags:
        tracker.set_tags(extra_tags)
    tracker.log_params(config | {"n_train": len(ids["train"]), "n_val": len(ids["val"]), "n_test": len(ids["test"])})
    console.print(f"MLflow run {run_id} in {tracker.uri}")

    t_fit = time.time()
    with threadpool_limits(_threads()):  # a sweep's --threads-per-worker holds for the trees too
        model = cls(seed=seed).fit(x["train"], y["train"])
        pred = model.predict(x["test"])
        val_pred = model.predict(x["val"])
    fit_seconds = time.time() - t_fit
    metrics, val = evaluate(y["test"], pred), evaluate(y["val"], val_pred)
    bad = non_finite(metrics) + (["predictions"] if not np.isfinite(pred).all() else [])
    if bad:
        err = NonFiniteError(f"test {', '.join(bad)} not finite: the baseline's predictions are unusable; the "
                             f"run is not recorded as finished")
        tracker.set_tags({"error": str(err)})
        raise err
    wall = time.time() - t_start
    tracker.log_metrics({f"test_{k}": v for k, v in metrics.items()} | {"val_mae": val["mae"], "val_r2": val["r2"],
                                                                       "train_seconds": fit_seconds})
    tracker.set_tags({"wall_time_s": f"{wall:.1f}", "train_seconds": f"{fit_seconds:.1f}",
                      **{f"baseline.{k}": v for k, v in model.info().items()}})

    import pandas as pd

    pred_csv = workdir / "test_predictions.csv"
    pd.DataFrame({"id": ids["test"], "y_true": y["test"], "y_pred": pred}).to_csv(pred_csv, index=False)
    tracker.log_artifact(pred_csv)
    tracker.log_json(config, "config.json")
    tracker.log_json({"split_ids": ids}, "splits.json")
    result = {"run_id": run_id, "run_key": key, "test_metrics": metrics, "wall_seconds": wall,
              "train_seconds": fit_seconds, "config": config, "data_hash": data_hash,
              "strategy_info": {"pretrained_properties": [], "trunk_saw_target_property": False},
              "baseline": {"name": backbone, "reads": cls.reads, "citation": cls.citation, "licence": cls.licence,
                           "fitted_on": "train split only (validation not used for fitting)",
                           "model_saved": False, **model.info()},
              "n_parameters": None, "best_val_mae": val["mae"], "val_mae": val["mae"], "best_epoch": None,
              "epochs_run": 0, "split_ids": ids, "git_commit": git_commit(),
              "leakage": twin_flags(task, ids, data_dir),
              "task_info": {"target": task_obj.target, "units": task_obj.units, "main_metric": task_obj.main_metric,
                            "family": task_obj.family},
              "test_predictions": {"y_true": [float(v) for v in y["test"]], "y_pred": [float(v) for v in pred]},
              "versions": _versions(package_versions()), "hardware": hardware("cpu"), "finished_at": time.time()}
    result = stamp_json(result, {"run_key": key})
    tracker.log_json(result, "record.json")
    tracker.finish("FINISHED")
    done = workdir / "result.json"
    tmp = done.with_name(done.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2))
    tmp.replace(done)
    return RunResult(run_id, workdir, metrics, wall, best_val_mae=val["mae"], val_mae=val["mae"])


def _inputs(cls, parts: dict, source: str, task: str, data_hash: str, console) -> dict[str, np.ndarray]:
    """Each part's input matrix: composition features for a baseline that reads them, else no columns."""
    if cls.features is None:
        return {name: np.zeros((len(records), 0)) for name, records in parts.items()}
    from backbones.baselines.features import FeatureCache
    from bench import paths

    cache = FeatureCache(paths.cache_dir(), task, data_hash)
    if cache.note:
        console.print(f"[yellow]note:[/] {cache.note}", highlight=False)
    out = {name: cache.features(records, source) for name, records in parts.items()}
    console.print(f"Magpie features: {cache.hits} cached, {cache.misses} computed ({cache.path})", highlight=False)
    return out


def _versions(versions: dict[str, str]) -> dict[str, str]:
    import importlib.metadata

    out = dict(versions)
    for name in ("scikit-learn", "matminer"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _threads() -> int:
    import torch

    return torch.get_num_threads()
