"""Result records grouped for display: task → row (backbone × strategy label × budget × settings) → FT size →
trials, with the paper's rows beside them. Pure data; no HTML or figures here."""

from __future__ import annotations

import hashlib
import json
import math
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field

from bench.foundation import FOUNDATIONS
from leaderboard.leakage import FOUNDATION_LABEL, TARGET_LABEL, saw_target_property, saw_test_structures
from leaderboard.records import Run
from leaderboard.reference import CITATION, COLUMN_OF_METRIC, TARGET_TASKS, PaperRow

METRIC_LABELS = {"mae": "MAE", "rmse": "RMSE", "r2": "R²", "mad_mae": "MAD:MAE"}
STRATEGY_ORDER = {"scratch": 0, "ptft": 1, "mpt": 2}
# models with no graph network, benchmarked for scale: shown as reference rows, never ranked
BASELINES = {"mean": "predicts the mean of its training targets",
             "composition-gbr": "gradient-boosted trees on composition features"}


def is_baseline(backbone: str) -> bool:
    return backbone.lower() in BASELINES


def higher_is_better(metric: str) -> bool:
    from bench.metrics import METRICS

    return METRICS[metric].higher_is_better if metric in METRICS else False


def size_label(size: int | None) -> str:
    return "full" if size is None else str(size)


def size_order(size: int | None) -> float:
    return math.inf if size is None else size


def _mean_std(values: list[float]) -> tuple[float, float]:
    vals = [v for v in values if v is not None]
    if not vals:
        return math.nan, math.nan
    if any(not math.isfinite(v) for v in vals):
        return math.nan, math.nan
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else math.nan)


# --------------------------------------------------------------------------------------------- grouping


@dataclass
class Row:
    """One table row: a strategy (with backbone and budget) on a task, values per FT size."""

    label: str
    strategy: str
    backbone: str
    budget: str
    order: tuple
    description: str = ""
    source: str | None = None
    ft_mode: str = "all"
    paper: PaperRow | None = None
    runs: dict = field(default_factory=dict)  # size -> list[Run]
    values: dict = field(default_factory=dict)  # size -> list[float] (main metric)

    def stats(self, size) -> tuple[float, float, int]:
        vals = self.values.get(size) or []
        mean, std = _mean_std(vals)
        return mean, std, len(vals)

    @property
    def all_runs(self) -> list[Run]:
        return [r for runs in self.runs.values() for r in runs]


@dataclass
class TaskBoard:
    name: str
    target: str = ""
    units: str = ""
    main_metric: str = "mae"
    family: str = ""
    rows: list[Row] = field(default_factory=list)  # ranked: this suite's learned models
    paper_rows: list[Row] = field(default_factory=list)
    baseline_rows: list[Row] = field(default_factory=list)  # this suite's baseline models (reference, unranked)

    @property
    def sizes(self) -> list:
        found = {s for r in self.rows + self.baseline_rows + self.paper_rows for s in r.values}
        return sorted(found, key=size_order)

    @property
    def n_runs(self) -> int:
        return sum(len(r.all_runs) for r in self.rows + self.baseline_rows)

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]", "_", self.name)

    def best(self, size) -> float | None:
        means = [m for m in (r.stats(size)[0] for r in self.rows) if math.isfinite(m)]
        if not means:
            return None
        return max(means) if higher_is_better(self.main_metric) else min(means)


def _row_identity(run: Run) -> tuple[tuple, str, str, str | None]:
    """(sort/group key, label, description, source) of the strategy a run belongs to."""
    pt = run.pretrain
    strategy, mode = run.strategy, run.ft_mode
    source = None
    if is_baseline(run.backbone):
        label = f"baseline: {run.backbone}"
        desc = f"baseline model ({BASELINES[run.backbone.lower()]}), trained on the FT set; a reference row, not ranked"
        strategy = "baseline"
    elif strategy == "ptft":
        source = pt.get("source")
        label = f"ptft ← {source} ({pt.get('pt_size') or 'default'})"
        desc = f"pre-trained on {source} ({pt.get('pt_size') or 'default'} structures), fine-tuned"
        if pt.get("trunk"):  # a shipped trunk (bench.foundation): pre-trained by its authors, not here
            label, desc = f"ptft ← {source} (shipped)", f"fine-tuned from the shipped {pt['trunk']} trunk"
    elif strategy == "mpt":
        sources = list(pt.get("sources") or [])
        short = "+".join(s.split("-", 1)[-1] if "-" in s else s for s in sources)
        label = f"mpt ← {short} ({pt.get('pt_size') or 'default'})"
        weighting = pt.get("weighting") or "equal"
        if weighting != "equal":
            label += f" · {weighting}"
        desc = (f"multi-property pre-training on {', '.join(sources)} ({pt.get('pt_size') or 'default'} "
                f"structures each, {weighting} weighting), fine-tuned")
        source = "mpt"
    else:
        label, desc = strategy, "trained from scratch" if strategy == "scratch" else strategy
    if mode != "all":
        label += f" · {mode}"
        desc += f" (mode {mode})"
    if strategy in ("ptft", "mpt") and saw_target_property(run):
        label += f" · {TARGET_LABEL}"
        desc += "; the trunk was pre-trained on a source of the target's own property (--allow-target-source)"
    if saw_test_structures(run):
        label += f" · ⚠ {FOUNDATION_LABEL}"
        desc += ("; the shipped trunk's pre-training (MPtrj: Materials Project) may hold this task's test "
                 "structures, labelled with energies, not the target")
    key = (STRATEGY_ORDER.get(strategy, 9), strategy, label, run.backbone, run.budget, settings_fingerprint(run))
    return key, label, desc, source


def settings_fingerprint(run: Run) -> str:
    """Hash of the settings beyond the strategy (backbone size, training recipe, data limits, graph rule):
    runs with other hyper-parameters (a tuned learning rate, ``--epochs``) are not averaged with the budget's."""
    c = run.config
    train = {k: v for k, v in (c.get("train") or {}).items() if k not in ("seed", "device", "checkpoint_every_s")}
    # What the strategy itself sets is not another recipe: whether the trunk starts from shipped weights, and a
    # foundation trunk's fine-tuning rate (the budget's times its lr_factor). Without this, CHGNet's scratch and
    # fine-tuned runs would never be paired.
    backbone = {k: v for k, v in (c.get("backbone_config") or {}).items() if k != "pretrained"}
    foundation = FOUNDATIONS.get((c.get("pretrain") or {}).get("source"))
    if isinstance(train.get("lr"), (int, float)):
        train["lr"] = round(train["lr"] / (foundation.lr_factor if foundation else 1.0), 12)
    blob = json.dumps({"backbone": backbone or None, "train": train, "limits": c.get("data_limits"),
                       "graph": c.get("graph")}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:6]


def group_runs(runs: list[Run]) -> dict[str, TaskBoard]:
    boards: dict[str, TaskBoard] = {}
    for run in runs:
        board = boards.setdefault(run.task, TaskBoard(run.task))
        key, label, desc, source = _row_identity(run)
        row = next((r for r in board.rows if r.order == key), None)
        if row is None:
            row = Row(label, run.strategy, run.backbone, run.budget, key, desc, source, run.ft_mode)
            board.rows.append(row)
        row.runs.setdefault(run.ft_size, []).append(run)
    for board in boards.values():
        runs_of_task = [r for row in board.rows for r in row.all_runs]
        # task info: the most common among the task's records (a task definition may have changed)
        info = Counter((r.record["task_info"]["main_metric"], r.record["task_info"]["target"],
                        r.record["task_info"]["units"], r.record["task_info"].get("family") or "")
                       for r in runs_of_task).most_common(1)[0][0]
        board.main_metric, board.target, board.units, board.family = info
        for row in board.rows:
            for size, rs in row.runs.items():
                rs.sort(key=lambda r: (r.trial, r.config["seed"]))
                row.values[size] = [float(r.metrics[board.main_metric]) if board.main_metric in r.metrics
                                    else math.nan for r in rs]
        board.rows.sort(key=lambda r: r.order)
        board.baseline_rows = [r for r in board.rows if is_baseline(r.backbone)]
        board.rows = [r for r in board.rows if not is_baseline(r.backbone)]
        # the same strategy with different settings: tell the rows apart
        variants = Counter(r.order[:-1] for r in board.rows + board.baseline_rows)
        for row in board.rows + board.baseline_rows:
            if variants[row.order[:-1]] > 1:
                row.label += f" · settings {row.order[-1]}"
                t = row.all_runs[0].config.get("train") or {}
                row.description += (f"; settings {row.order[-1]}: {t.get('epochs')} epochs, batch "
                                    f"{t.get('batch_size')}, lr {t.get('lr')}, weight decay {t.get('weight_decay')}")
    return boards


def add_reference(boards: dict[str, TaskBoard], reference: dict[str, list[PaperRow]]) -> None:
    """Paper rows for every task the csv covers (pages for the devi2024 targets even without runs)."""
    for task in TARGET_TASKS:
        if task in reference and task not in boards:
            boards[task] = _board_from_registry(task)
    for task, board in boards.items():
        column = COLUMN_OF_METRIC.get(board.main_metric)
        if column is None:
            continue
        for prow in reference.get(task, []):
            row = Row(prow.label, prow.strategy, "ALIGNN", "paper", (prow.order,),
                      f"{CITATION}: study '{prow.study}', their recipe (ALIGNN 4+4 layers, hidden 256, "
                      f"500 epochs), pre-training size {prow.pt_size or '—'}", prow.source, paper=prow)
            row.values = {size: metrics[board.main_metric] for size, metrics in prow.values.items()
                          if board.main_metric in metrics}
            if row.values:
                board.paper_rows.append(row)


def _board_from_registry(task: str) -> TaskBoard:
    board = TaskBoard(task)
    try:
        from tasks import all_tasks

        t = all_tasks().get(task)
    except Exception:  # a task module being edited must not break the leaderboard
        t = None
    if t is not None:
        board.target, board.units, board.main_metric, board.family = t.target, t.units, t.main_metric, t.family
    else:
        board.units, board.family = "scaled units", "devi2024"
    return board


def best_size(board: TaskBoard, row: Row):
    """The FT size at which a row scores best (ties: the larger size)."""
    hib = higher_is_better(board.main_metric)
    scored = [(row.stats(s)[0], size_order(s), s) for s in row.values if math.isfinite(row.stats(s)[0])]
    if not scored:
        return None, False
    m, _, s = (max(scored, key=lambda t: (t[0], t[1])) if hib else
               min(scored, key=lambda t: (t[0], -t[1])))
    return s, True
