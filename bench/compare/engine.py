"""``bench compare``'s engine: candidates × FT sizes × trials (or folds) as sweep cells, run through the sweep
(``bench.sweep``: shared cached trunks, MLflow tracking, ``--workers N`` on Dask, finished cells skipped), then
each cell's record read back and the paired statistics of ``bench.compare.stats`` computed per FT size.

Nothing here schedules or trains by itself: a cell is a ``bench.sweep.Cell`` and runs as ``bench sweep`` would
run it, so a compare and a sweep of the same runs share their results (the run key is the same)."""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from bench.compare.candidates import Candidate, reference_of
from bench.compare.stats import Table, compare
from bench.records import RESULTS_DIR

DEFAULT_TRIALS = 3
# The default FT size: 80 % of the task's pool (so trials draw different subsets; the whole pool would make
# every trial the same run), at most 800 (a quick-budget run on 800 structures takes ~4 min on 2 CPU cores).
DEFAULT_FRACTION, DEFAULT_CAP = 0.8, 800


@dataclass(frozen=True)
class CompareSpec:
    """What ``bench compare`` is asked: checked on construction (``ValueError`` names the option)."""

    task: str
    candidates: tuple[Candidate, ...]
    ft_sizes: tuple[int, ...] | None = None  # None: the default size (see default_ft_size)
    trials: int | None = None  # None: DEFAULT_TRIALS (or folds, for a task whose split is cross-validation)
    folds: int | None = None  # CV folds 0..folds-1 instead of FT subsets
    budget: str = "quick"
    seed: int = 0
    device: str = "auto"
    epochs: int | None = None
    workers: int = 1
    tracking_uri: str | None = None
    results_dir: Path = RESULTS_DIR  # committed records: cells found there are reused, not rerun

    def __post_init__(self):
        if self.trials is not None and self.folds is not None:
            raise ValueError("give --trials N (random FT subsets) or --folds K (cross-validation), not both")
        if self.trials is not None and (not isinstance(self.trials, int) or self.trials < 1):
            raise ValueError(f"--trials must be a number of trials ≥ 1; got {self.trials!r}")
        if self.folds is not None and (not isinstance(self.folds, int) or self.folds < 1):
            raise ValueError(f"--folds must be a number of folds ≥ 1; got {self.folds!r}")
        if self.folds is not None and self.ft_sizes:
            raise ValueError("--folds trains on each fold's whole training part: drop --ft-size/--ft-sizes")
        for n in self.ft_sizes or ():
            if not isinstance(n, int) or n < 2:
                raise ValueError(f"--ft-size/--ft-sizes take numbers of structures ≥ 2; got {n!r}")
        if self.workers < 1:
            raise ValueError(f"--workers must be at least 1; got {self.workers}")


@dataclass(frozen=True)
class Design:
    """The resolved grid: which sizes, which pairs (trial numbers or fold numbers), how to ask for more."""

    sizes: tuple[int | None, ...]  # None with folds
    pairs: tuple[int, ...]
    by_fold: bool
    max_pairs: int | None  # the most trials (folds) the task's protocol has
    default_size: bool  # the size was chosen here, not given

    @property
    def pair_word(self) -> str:
        return "folds" if self.by_fold else "trials"

    def more(self) -> str | None:
        """The option that adds pairs, or None where the protocol has no more."""
        n = len(self.pairs)
        if self.max_pairs is not None and n >= self.max_pairs:
            return None
        want = n + 2 if self.max_pairs is None else min(n + 2, self.max_pairs)
        return f"--{self.pair_word} {want}"


@dataclass
class CellResult:
    candidate: str
    ft_size: int | None
    pair: int  # trial or fold
    run_key: str
    metrics: dict | None = None  # None: the cell has no finished run (it failed)
    run_id: str | None = None
    record_path: Path | None = None  # result.json or committed record (predictions: parity plots)


@dataclass
class CompareResult:
    spec: CompareSpec
    design: Design
    metric: str
    units: str
    target: str
    reference: str
    tables: list[tuple[int | None, Table]] = field(default_factory=list)
    cells: list[CellResult] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    estimate_seconds: float | None = None


def _pool_size(task) -> int:
    from bench import paths

    return len(task.protocol().pool(task.load(paths.data_dir())))


def default_ft_size(task) -> int:
    """80 % of the pool, at most 800; on a task with fixed FT subsets (the paper's files) the largest of them
    up to that."""
    from tasks.splits import GroupSplit

    protocol = task.protocol()
    want = min(DEFAULT_CAP, math.floor(DEFAULT_FRACTION * _pool_size(task)))
    if isinstance(protocol, GroupSplit):
        fits = [n for n in protocol.ft_sizes if n <= max(want, min(protocol.ft_sizes))]
        return max(fits)
    if want < 2:
        raise ValueError(f"task {task.name!r} has too few structures beside its test set for fine-tuning subsets")
    return want


def _check_size(task, n: int) -> None:
    from tasks.splits import GroupSplit, RandomSplit

    protocol = task.protocol()
    if isinstance(protocol, GroupSplit) and n not in protocol.ft_sizes:
        raise ValueError(f"--ft-size {n}: task {task.name!r} has fine-tuning subsets of "
                         f"{', '.join(map(str, protocol.ft_sizes))} structures only")
    if isinstance(protocol, RandomSplit):
        pool = _pool_size(task)
        if n > pool:
            raise ValueError(f"--ft-size {n}: task {task.name!r} has {pool} structures beside its test set; "
                             f"choose at most {pool}")


def design(spec: CompareSpec) -> Design:
    from bench.spec import check_task

    task = check_task(spec.task)
    protocol = task.protocol()
    cv_only = not protocol.ft_sizes and spec.trials is None  # the task's own split is cross-validation
    if spec.folds is not None or cv_only:
        if task.cv is None:
            raise ValueError(f"--folds: task {spec.task!r} has no cross-validation protocol; use --trials")
        n_splits = getattr(task.cv, "n_splits", None)
        folds = spec.folds or min(DEFAULT_TRIALS, n_splits or DEFAULT_TRIALS)
        if n_splits is not None and folds > n_splits:
            raise ValueError(f"--folds {folds}: task {spec.task!r} has {n_splits} folds")
        return Design((None,), tuple(range(folds)), True, n_splits, False)
    if not protocol.ft_sizes:
        raise ValueError(f"--trials: task {spec.task!r} is split by cross-validation, not FT subsets; use "
                         "--folds K")
    trials = spec.trials or DEFAULT_TRIALS
    if protocol.trials and trials > protocol.trials:
        raise ValueError(f"--trials {trials}: task {spec.task!r} has {protocol.trials} trials per FT size")
    sizes = tuple(spec.ft_sizes) if spec.ft_sizes else (default_ft_size(task),)
    for n in sizes:
        _check_size(task, n)
    return Design(sizes, tuple(range(1, trials + 1)), False, protocol.trials or None, not spec.ft_sizes)


def cells(spec: CompareSpec, d: Design) -> list:
    """One sweep cell per candidate × size × pair, each checked as a run (``SpecError`` names the candidate)."""
    from bench.spec import RunSpec, SpecError
    from bench.sweep import Cell

    out = []
    for cand in spec.candidates:
        try:
            RunSpec.from_options(spec.task, cand.strategy, spec.budget, spec.seed, spec.device, spec.epochs,
                                 d.sizes[0], d.pairs[0] if not d.by_fold else 1,
                                 d.pairs[0] if d.by_fold else None, cand.pretrain, backbone=cand.backbone)
        except SpecError as err:
            raise SpecError(f"candidate {cand.label}: {err}") from None
        for size in d.sizes:
            for pair in d.pairs:
                out.append(Cell(cand.strategy, cand.label, size, 1 if d.by_fold else pair, cand.pretrain,
                                backbone=cand.backbone, fold=pair if d.by_fold else None))
    return out


def sweep_spec(spec: CompareSpec):
    from bench.compare.candidates import DEFAULT_BACKBONE
    from bench.sweep import SweepSpec

    return SweepSpec(spec.task, spec.budget, spec.seed, spec.device, spec.epochs, "all", spec.tracking_uri,
                     spec.results_dir, False, spec.workers, None, None, DEFAULT_BACKBONE)


def plan(spec: CompareSpec, grid: list):
    """The sweep's own plan (which cells must run, which trunks to pre-train), its progress lines kept quiet:
    the real run prints them."""
    from rich.console import Console

    from bench.sweep.plan import plan_sweep
    from bench.sweep.progress import SweepProgress

    return plan_sweep(sweep_spec(spec), grid, SweepProgress(Console(file=io.StringIO()), len(grid)))


def run_compare(spec: CompareSpec, console, estimate: bool = True) -> CompareResult:
    from bench.sweep import run_sweep
    from tasks import get_task

    d = design(spec)
    grid = cells(spec, d)
    task = get_task(spec.task)
    reference = reference_of(spec.candidates).label
    result = CompareResult(spec, d, task.main_metric, task.units, task.target, reference)
    what = (f"{len(spec.candidates)} candidates × {len(d.pairs)} {d.pair_word}"
            + (f" × {len(d.sizes)} FT sizes" if len(d.sizes) > 1 else "")
            + (f" at FT size {d.sizes[0]}" + (" (default: 80 % of the pool, at most 800)" if d.default_size else "")
               if len(d.sizes) == 1 and not d.by_fold else "")
            + f" = {len(grid)} runs, budget {spec.budget}")
    console.print(f"bench compare {spec.task}: {what}", highlight=False)
    if estimate:
        from bench.compare.estimate import estimate_total

        result.estimate_seconds = estimate_total(spec, grid, plan(spec, grid), console)
    outcome = run_sweep(sweep_spec(spec), grid, console)
    result.failures = list(outcome.failures)
    result.cells = collect(spec, grid)
    result.tables = tables(result)
    return result


def collect(spec: CompareSpec, grid: list) -> list[CellResult]:
    """Each cell's finished run, found as the sweep finds it: its run folder's result.json, a committed record,
    or a finished MLflow run (metrics only: no predictions for the parity plot)."""
    from bench.run import plan_run
    from bench.sweep.resume import CommittedRecords, finished_in_mlflow
    from bench.tracking import Tracker

    committed = CommittedRecords(spec.results_dir)
    tracker = None
    out = []
    for cell in grid:
        # the run key leaves the device out: planning on the CPU names the same run
        run = plan_run(spec.task, cell.strategy, spec.budget, spec.seed, "cpu", spec.epochs, cell.ft_size,
                       cell.trial, cell.fold, cell.pretrain, "all", backbone=cell.backbone)
        res = CellResult(cell.label, cell.ft_size, cell.fold if cell.fold is not None else cell.trial, run.key)
        path = run.workdir / "result.json"
        found = committed.find(run.key, run.config, run.data_hash)
        if path.exists():
            record = json.loads(path.read_text())
            res.metrics, res.run_id, res.record_path = record["test_metrics"], record.get("run_id"), path
        elif found:
            res.metrics, res.run_id, res.record_path = found[1]["test_metrics"], found[1].get("run_id"), found[0]
        else:
            tracker = tracker or Tracker(spec.tracking_uri)
            done = finished_in_mlflow(tracker, spec.task, run.key)
            if done:
                res.run_id = done.pop("run_id")
                res.metrics = done
        out.append(res)
    return out


def tables(result: CompareResult) -> list[tuple[int | None, Table]]:
    """One ranked table per FT size, over the cells that finished."""
    out = []
    d = result.design
    for size in d.sizes:
        values: dict[str, dict] = {c.label: {} for c in result.spec.candidates}
        for cell in result.cells:
            if cell.ft_size == size and cell.metrics and result.metric in cell.metrics:
                values[cell.candidate][cell.pair] = float(cell.metrics[result.metric])
        if not values[result.reference]:
            continue  # every scratch run failed: nothing to pair with (the failures say why)
        out.append((size, compare(values, result.reference, result.metric, d.pair_word, d.more())))
    return out
