"""From grid cells to jobs: each cell's run key, the cells that need not run (committed record, finished in
MLflow, the same run twice in the grid), and one pre-training job per trunk that cells to run share and the
cache lacks."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace

from bench.sweep.grid import Cell
from bench.sweep.jobs import CellJob, PretrainJob
from bench.sweep.progress import SweepProgress
from bench.sweep.resume import CommittedRecords, finished_in_mlflow, write_record
from bench.sweep.spec import SweepSpec

METRICS = ("mae", "rmse", "r2", "mad_mae")


@dataclass
class SweepPlan:
    jobs: list[CellJob] = field(default_factory=list)
    pretrain: dict[str, PretrainJob] = field(default_factory=dict)  # by cache key
    rows: dict[int, dict] = field(default_factory=dict)  # by cell index: cells that need not run


def row(cell: Cell | CellJob, metrics: dict) -> dict:
    return {"label": cell.label, "strategy": cell.strategy, "ft_size": cell.ft_size, "trial": cell.trial,
            "fold": cell.fold, "backbone": cell.backbone, **{m: metrics[m] for m in METRICS if m in metrics}}


def _pretrain_spec(config: dict):
    from bench.strategies import _spec

    pt = config["pretrain"]
    return _spec(config, (pt["source"],) if config["strategy"] == "ptft" else tuple(pt["sources"]))


def plan_sweep(spec: SweepSpec, cells: list[Cell], progress: SweepProgress) -> SweepPlan:
    from bench import paths
    from bench.foundation import is_foundation
    from bench.pretrain import cache_key
    from bench.run import plan_run, resolve_device
    from bench.tracking import Tracker

    # The key leaves the device out, so a submitting machine without the workers' GPUs can plan on the CPU.
    device = resolve_device(spec.device) if spec.scheduler is None else "cpu"
    worker_device = device if spec.scheduler is None else spec.device
    committed = CommittedRecords(spec.results_dir)
    tracker = Tracker(spec.tracking_uri)
    plan, seen, keys = SweepPlan(), {}, {}
    for index, cell in enumerate(cells, 1):
        name = (f"{cell.label} n={cell.ft_size or 'all'} trial {cell.trial}" if cell.fold is None
                else f"{cell.label} fold {cell.fold}")
        ft_mode = spec.ft_mode if cell.strategy != "scratch" else "all"
        backbone = cell.backbone or spec.backbone
        run = plan_run(spec.task, cell.strategy, spec.budget, spec.seed, device, spec.epochs, cell.ft_size,
                       cell.trial, cell.fold, cell.pretrain, ft_mode, overrides=spec.overrides or None,
                       backbone=backbone)
        if run.key in seen:  # e.g. --pt-sources fe,devi2024-fe: one source under two names
            progress.skipped(index, name, f"the same run as cell {seen[run.key]} (run key {run.key})")
            continue
        seen[run.key] = index
        found = committed.find(run.key, run.config, run.data_hash)
        if found:
            progress.skipped(index, name, f"committed record {found[0].name}")
            plan.rows[index] = row(cell, found[1]["test_metrics"])
            continue
        done = finished_in_mlflow(tracker, spec.task, run.key)
        if done:
            progress.skipped(index, name, f"finished earlier (MLflow run {done['run_id']})")
            plan.rows[index] = row(cell, done)
            if spec.export and (run.workdir / "result.json").exists():
                write_record((run.workdir / "result.json").read_text(), spec.results_dir)
            continue
        pretrain_key = None
        if cell.strategy != "scratch" and not is_foundation(run.config["pretrain"].get("source")):
            pspec = _pretrain_spec(run.config)  # a shipped trunk (mptrj) needs no pre-training job
            blob = json.dumps(asdict(pspec), sort_keys=True, default=str)
            pretrain_key = keys.get(blob) or keys.setdefault(blob, cache_key(pspec, paths.data_dir()))
            folder = paths.cache_dir() / "pretrained" / pretrain_key
            cached = (folder / "model.pt").exists() and (folder / "card.json").exists()
            if not cached:
                job = plan.pretrain.get(pretrain_key) or PretrainJob(pretrain_key, pspec, worker_device,
                                                                     spec.tracking_uri, spec.worker_threads)
                plan.pretrain[pretrain_key] = replace(job, cells=job.cells + (index,))
            else:
                pretrain_key = None  # nothing to wait for
        plan.jobs.append(CellJob(index, cell.label, cell.strategy, cell.ft_size, cell.trial, cell.pretrain,
                                 ft_mode, spec.task, spec.budget, spec.seed, worker_device, spec.epochs,
                                 spec.tracking_uri, run.key, run.workdir.name, pretrain_key, spec.worker_threads,
                                 backbone, dict(spec.overrides), cell.fold))
    # Workers would otherwise race to create the experiments (MLflow's names are unique: one of them fails).
    if plan.jobs:
        tracker.experiment(spec.task)
    if plan.pretrain:
        tracker.experiment("pretraining")
    return plan
