"""The time a compare will take, printed before it starts.

Per backbone among the cells to run, ``bench.estimate.time_steps`` times real optimizer steps of that
backbone at the budget on the task's own training structures (the first cell's split); each cell's shape
(its train/validation/test sizes, the budget's epochs) then goes through ``bench.estimate.predict_seconds``.
A trunk to pre-train is reckoned with the same per-structure timings on its number of structures — an
approximation, since source structures differ in size — and cells already finished count nothing. With
``--workers N`` the cells share N slots. Early stopping may end runs sooner: the figure is then an upper bound.
"""

from __future__ import annotations

from bench.estimate import RunShape, fmt_seconds, predict_seconds


def _split_sizes(task, data, job, limits: dict) -> tuple[int, int, int]:
    parts = task.protocol(job.fold).assign(data, ft_size=job.ft_size, trial=job.trial, fold=job.fold)
    n = {k: len(v) if limits.get(k) is None else min(len(v), limits[k]) for k, v in parts.items()}
    return n["train"], n["val"], n["test"]


def _timings(spec, job, console):
    """Timed steps of ``job``'s backbone (as a scratch model) on the task's structures of ``job``'s split."""
    import torch

    from bench import paths
    from bench.dataset import load_splits, target_stats
    from bench.estimate import time_steps
    from bench.graphs.build import GraphParams
    from bench.graphs.cache import GraphCache
    from bench.run import resolve_config, resolve_device
    from bench.strategies import get_strategy
    from bench.train import TrainConfig
    from tasks import get_task

    device = resolve_device(spec.device)
    config = resolve_config(spec.task, "scratch", spec.budget, spec.seed, device, spec.epochs, job.backbone,
                            split={"ft_size": job.ft_size, "trial": job.trial, "fold": job.fold})
    cache = GraphCache(paths.cache_dir() / "graphs", GraphParams(**config["graph"]))
    splits = load_splits(get_task(spec.task), paths.data_dir(), cache, config["data_limits"], seed=spec.seed,
                         **config["split"])
    model, _ = get_strategy("scratch").build(config, console, device, None)
    mean, std = target_stats(splits["train"].targets)
    model.set_target_scaling(torch.tensor([mean]), torch.tensor([std]))
    cfg = TrainConfig(**config["train"])
    return time_steps(model.to(device), splits["train"].graphs, cfg, len(splits["val"])), cfg


def _pretrain_structures(pjob, limits: dict) -> int:
    size = pjob.spec.pt_size
    per = 941 if size in (None, "all", "1000") else int(size)  # "all": unknown before loading; the default size
    cap = (limits["train"] + (limits["val"] or 0)) if limits.get("train") else None
    return len(pjob.spec.sources) * (min(per, cap) if cap else per)


def estimate_total(spec, grid: list, plan, console) -> float | None:
    """Print the estimate and return its seconds (None when no backbone could be timed)."""
    from bench import paths
    from bench.budgets import get_budget
    from tasks import get_task

    done = len(grid) - len(plan.jobs)
    if not plan.jobs:
        console.print(f"Estimate: every one of the {len(grid)} runs has finished before; nothing to train",
                      highlight=False)
        return 0.0
    task = get_task(spec.task)
    data = task.load(paths.data_dir())
    b = get_budget(spec.budget)
    limits = {"train": b.max_train, "val": b.max_val, "test": b.max_test}
    timed, untimed, cell_s, pre_s, bound = {}, {}, 0.0, 0.0, False
    for job in plan.jobs:
        if job.backbone not in timed and job.backbone not in untimed:
            try:
                timed[job.backbone] = _timings(spec, job, console)
            except Exception as err:  # an estimate must not stop the comparison; say why it is missing
                untimed[job.backbone] = f"{type(err).__name__}: {err}"
        if job.backbone not in timed:
            continue
        t, cfg = timed[job.backbone]
        est = predict_seconds(t, RunShape(*_split_sizes(task, data, job, limits), cfg.batch_size, cfg.epochs,
                                          cfg.patience))
        cell_s += est.seconds
        bound = bound or est.upper_bound
    for pjob in plan.pretrain.values():
        if pjob.spec.backbone in timed:
            t, cfg = timed[pjob.spec.backbone]
            n = _pretrain_structures(pjob, limits)
            n_val = max(1, round(0.1 * n))
            pre_s += predict_seconds(t, RunShape(n - n_val, n_val, 0, cfg.batch_size, cfg.epochs,
                                                 cfg.patience)).seconds
    slots = max(1, spec.workers)
    total = pre_s + cell_s / slots
    parts = [f"{len(plan.jobs)} run(s) to train" + (f" ({done} finished before, reused)" if done else "")]
    if plan.pretrain:
        parts.append(f"{len(plan.pretrain)} trunk(s) to pre-train first (≈ {fmt_seconds(pre_s)}, reckoned from "
                     "the target's timings)")
    if slots > 1:
        parts.append(f"runs on {slots} workers")
    console.print(f"Estimate: {'≤ ' if bound else ''}{fmt_seconds(total)} in all — " + "; ".join(parts)
                  + ("; early stopping may end runs sooner" if bound else ""), highlight=False)
    for backbone, why in untimed.items():
        console.print(f"Estimate: no timing for backbone {backbone} ({why}); its runs are not counted",
                      highlight=False)
    return total if timed else None
