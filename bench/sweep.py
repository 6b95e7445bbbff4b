"""Sweeps: the grid of strategies x FT sizes x trials (x pre-training sources and sizes) behind the paper's
comparison. Finished runs are found in MLflow (by run key) and skipped, so an interrupted sweep resumes;
the summary gives mean ± std per strategy and size and the paired difference against scratch on the same
trial subsets."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Cell:
    strategy: str
    label: str  # strategy with its source / PT size, e.g. "ptft:devi2024-fe:941"
    ft_size: int | None
    trial: int
    pretrain: dict = field(default_factory=dict)


def parse_trials(text: str) -> list[int]:
    """'1-5' or '1,3,5'."""
    out: list[int] = []
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-")
            out += list(range(int(a), int(b) + 1))
        elif part:
            out.append(int(part))
    return out


def grid(strategies: list[str], ft_sizes: list[int | None], trials: list[int], pt_sources: list[str],
         pt_sizes: list[int | str | None], mpt_sources: list[str] | None = None) -> list[Cell]:
    cells = []
    for strategy in strategies:
        if strategy == "scratch":
            variants = [("scratch", {})]
        elif strategy == "ptft":
            variants = [(f"ptft:{s}:{n}", {"source": s, "pt_size": n})
                        for s, n in itertools.product(pt_sources or ["fe"], pt_sizes or [None])]
        elif strategy == "mpt":
            variants = [(f"mpt:{n}", {"sources": mpt_sources, "pt_size": n}) for n in pt_sizes or [None]]
        else:
            raise KeyError(f"unknown strategy {strategy!r}")
        for (label, pretrain), ft_size, trial in itertools.product(variants, ft_sizes, trials):
            cells.append(Cell(strategy, label, ft_size, trial, pretrain))
    return cells


def finished_in_mlflow(tracker, task: str, key: str) -> dict | None:
    """Test metrics of a finished MLflow run with this run key, if any."""
    exp = tracker.client.get_experiment_by_name(task)
    if exp is None:
        return None
    runs = tracker.client.search_runs([exp.experiment_id],
                                      filter_string=f"tags.run_key = '{key}' and attributes.status = 'FINISHED'",
                                      max_results=1)
    if not runs:
        return None
    m = runs[0].data.metrics
    return {k[len("test_"):]: v for k, v in m.items() if k.startswith("test_")} | {"run_id": runs[0].info.run_id}


def run_sweep(task: str, cells: list[Cell], budget: str, seed: int, device: str, tracking_uri: str | None,
              ft_mode: str, console, export_dir: Path | None = None, epochs: int | None = None,
              backbone: str = "alignn") -> list[dict]:
    from bench.records import export_record
    from bench.run import plan_run, resolve_device, run_benchmark
    from bench.tracking import Tracker

    device = resolve_device(device)
    tracker = Tracker(tracking_uri)
    rows = []
    for k, cell in enumerate(cells, 1):
        plan = plan_run(task, cell.strategy, budget, seed, device, epochs, cell.ft_size, cell.trial, None,
                        cell.pretrain, ft_mode if cell.strategy != "scratch" else "all", backbone=backbone)
        done = finished_in_mlflow(tracker, task, plan.key)
        where = f"[{k}/{len(cells)}] {cell.label} n={cell.ft_size or 'all'} trial {cell.trial}"
        if done:
            console.print(f"{where}: finished earlier (MLflow run {done['run_id']}), skipped")
            metrics = {m: done[m] for m in ("mae", "rmse", "r2", "mad_mae") if m in done}
        else:
            console.print(f"[bold]{where}[/]")
            result = run_benchmark(task, cell.strategy, budget, seed, device, tracking_uri, epochs, False,
                                   console, cell.ft_size, cell.trial, None, cell.pretrain,
                                   ft_mode if cell.strategy != "scratch" else "all", backbone=backbone)
            metrics = result.test_metrics
        if export_dir is not None and (plan.workdir / "result.json").exists():
            export_record(plan.workdir / "result.json", export_dir)
        rows.append({"label": cell.label, "strategy": cell.strategy, "ft_size": cell.ft_size,
                     "trial": cell.trial, **metrics})
    return rows


def summarise(rows: list[dict], metric: str = "mae") -> list[dict]:
    """Mean ± std per (label, ft_size), and the paired difference to scratch on the same trials."""
    out = []
    scratch = {(r["ft_size"], r["trial"]): r[metric] for r in rows if r["label"] == "scratch"}
    keys = sorted({(r["label"], r["ft_size"] or 0) for r in rows}, key=lambda x: (x[1], x[0] != "scratch", x[0]))
    for label, size in keys:
        sel = [r for r in rows if r["label"] == label and (r["ft_size"] or 0) == size]
        vals = np.array([r[metric] for r in sel])
        diffs = np.array([r[metric] - scratch[(r["ft_size"], r["trial"])] for r in sel
                          if (r["ft_size"], r["trial"]) in scratch]) if label != "scratch" else np.array([])
        out.append({"label": label, "ft_size": size or None, "n": len(vals), "mean": float(vals.mean()),
                    "std": float(vals.std(ddof=1)) if len(vals) > 1 else 0.0,
                    "paired_diff_mean": float(diffs.mean()) if len(diffs) else None,
                    "paired_diff_std": float(diffs.std(ddof=1)) if len(diffs) > 1 else None,
                    "n_paired": len(diffs)})
    return out
