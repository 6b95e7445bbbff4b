"""Our committed runs beside the paper's runs on the same cells: same target, FT size and trial subsets.

The paper's table (``devi2024_test_metrics.csv``) has one row per trial, so a strategy of ours is compared with
the paper's same strategy on exactly the trials we ran (the FT subset files are the paper's), and with the
paper's mean over all of its trials. Differences are paired by trial where both sides have it.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path

from leaderboard.records import Run
from leaderboard.reference import COLUMN_OF_METRIC, TASK_OF_CODE, read_rows

CODE_OF_TASK = {task: code for code, task in TASK_OF_CODE.items()}


@dataclass
class Cell:
    """One strategy on one target at one FT size: per-trial metrics of ours and of the paper."""

    task: str
    ft_size: int | None
    label: str  # "scratch", "ptft ← devi2024-fe", "mpt"
    budget: str
    ours: dict[int, dict[str, float]] = field(default_factory=dict)  # trial -> metric -> value
    paper: dict[int, dict[str, float]] = field(default_factory=dict)

    def stats(self, metric: str) -> dict:
        trials = sorted(self.ours)
        same = [t for t in trials if t in self.paper]
        ours = [self.ours[t][metric] for t in trials if metric in self.ours[t]]
        paper_same = [self.paper[t][metric] for t in same]
        paper_all = [p[metric] for p in self.paper.values()]
        diffs = [self.ours[t][metric] - self.paper[t][metric] for t in same]
        return {"trials": trials, "ours": _mean_std(ours), "paper_same_trials": _mean_std(paper_same),
                "paper_all": _mean_std(paper_all), "n_paper_all": len(paper_all),
                "paired_diff": _mean_std(diffs), "n_paired": len(diffs)}


def _mean_std(values: list[float]) -> tuple[float, float] | None:
    if not values:
        return None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _label(strategy: str, pretrain: dict, backbone: str = "alignn") -> str:
    from backbones.baselines import is_baseline

    if is_baseline(backbone):  # its own cell: never averaged with (or overwriting) ALIGNN's scratch trials
        return f"baseline {backbone}"
    label = f"ptft ← {pretrain.get('source')}" if strategy == "ptft" else strategy
    # another backbone's runs are their own cell, with no paper counterpart (the paper trained ALIGNN only)
    return label if backbone in (None, "alignn") else f"{label} @ {backbone}"


def _paper_key(label: str) -> tuple[str, str] | None:
    """(strategy, pt_source code) of the paper's row matching one of our labels (the paper's main study:
    PT-941 for ptft, the other six properties for mpt, every layer fine-tuned)."""
    if label == "scratch":
        return "scratch", ""
    if label == "mpt":
        return "mpt", "MPT"
    if label.startswith("ptft ← "):
        code = CODE_OF_TASK.get(label.removeprefix("ptft ← "))
        return ("ptft", code) if code else None
    return None


def compare(runs: list[Run], reference_csv: Path, tasks: list[str] | None = None,
            ft_sizes: list[int] | None = None) -> list[Cell]:
    """Cells of every (task, FT size, strategy) we have runs for (default fine-tuning mode only)."""
    cells: dict[tuple, Cell] = {}
    for run in runs:
        if run.ft_mode != "all" or (tasks and run.task not in tasks) or (ft_sizes and run.ft_size not in ft_sizes):
            continue
        key = (run.task, run.ft_size, _label(run.strategy, run.pretrain, run.backbone), run.budget)
        cell = cells.setdefault(key, Cell(*key))
        cell.ours[run.trial] = dict(run.metrics)
    paper = _paper_trials(Path(reference_csv))
    for cell in cells.values():
        pk = _paper_key(cell.label)
        code = CODE_OF_TASK.get(cell.task)
        if pk and code:
            cell.paper = paper.get((code, cell.ft_size, *pk), {})
    return sorted(cells.values(), key=lambda c: (c.task, c.ft_size or 0, c.budget,
                                                  {"scratch": 0, "mpt": 2}.get(c.label, 1), c.label))


def _paper_trials(csv_path: Path) -> dict[tuple, dict[int, dict[str, float]]]:
    out: dict[tuple, dict[int, dict[str, float]]] = {}
    for r in read_rows(csv_path):  # the shipped table is gzipped (and pinned): read it as the site does
        if r["study"] != "main" or r.get("ft_mode") not in ("", "ALL-UF", None):
            continue
        if r["strategy"] == "ptft" and r["pt_size"] != "941":
            continue
        key = (r["target"], int(r["ft_size"]), r["strategy"], r["pt_source"] if r["strategy"] != "scratch" else "")
        out.setdefault(key, {})[int(r["trial"])] = {
            m: float(r[c]) for m, c in COLUMN_OF_METRIC.items() if r.get(c) not in (None, "")}
    return out
