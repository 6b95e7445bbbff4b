"""Running a planned sweep: in this process one cell after another (``--workers 1``, no Dask needed), or on a
Dask cluster (``bench.sweep.dask_engine``). Either way pre-training runs first, once per trunk; each record is
exported as its cell completes; a cell that fails is reported at the end and the others go on."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.sweep.grid import Cell
from bench.sweep.jobs import CellJob, PretrainJob
from bench.sweep.plan import SweepPlan, plan_sweep, row
from bench.sweep.progress import SweepProgress, fmt_seconds
from bench.sweep.resume import write_record
from bench.sweep.spec import SweepSpec


@dataclass
class SweepOutcome:
    rows: list[dict] = field(default_factory=list)  # grid order
    failures: list[str] = field(default_factory=list)  # one line per failed cell: which, why, where its log is


class Collector:
    """What the engines report to: the rows and failures, the progress lines, the exported records."""

    def __init__(self, spec: SweepSpec, plan: SweepPlan, progress: SweepProgress):
        self.spec, self.plan, self.progress = spec, plan, progress
        self.failures: list[str] = []

    def pretrained(self, job: PretrainJob, result: dict) -> None:
        self.progress.console.print(f"Pre-trained {job.key} ({', '.join(job.spec.sources)}) in "
                                    f"{fmt_seconds(result['wall_seconds'])}; cells waiting for it: "
                                    f"{', '.join(map(str, job.cells))}", highlight=False)

    def done(self, job: CellJob, result: dict, running: int) -> None:
        if self.spec.export:
            write_record(result["record_text"], self.spec.results_dir)
        self.plan.rows[job.index] = row(job, result["metrics"])
        self.progress.finished(job.index, job.name, result, running)

    def fail(self, job: CellJob, error: BaseException | str, running: int) -> None:
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        log = f" (log: {job.log})" if job.log.exists() else ""  # the serial path prints to the terminal instead
        self.failures.append(f"{self.progress.tag(job.index, job.name)}: {text}{log}")
        self.progress.failed(job.index, job.name, text, running)


def _run_here(plan: SweepPlan, out: Collector) -> None:
    from bench.sweep.jobs import run_cell, run_pretrain

    console = out.progress.console
    broken: dict[str, str] = {}
    for job in plan.pretrain.values():
        try:
            out.pretrained(job, run_pretrain(job, console=console))
        except Exception as err:
            broken[job.key] = f"its pre-training {job.key} failed: {type(err).__name__}: {err}"
    for job in plan.jobs:
        if job.pretrain_key in broken:
            out.fail(job, broken[job.pretrain_key], 0)
            continue
        out.progress.started(job.index, job.name)
        try:
            result = run_cell(job, console=console)
        except Exception as err:
            out.fail(job, err, 0)
            continue
        out.done(job, result, 0)


def run_sweep(spec: SweepSpec, cells: list[Cell], console) -> SweepOutcome:
    if spec.distributed:
        from bench.sweep.dask_engine import require_dask

        require_dask()  # before planning, which reads every task's data
    progress = SweepProgress(console, len(cells))
    plan = plan_sweep(spec, cells, progress)
    out = Collector(spec, plan, progress)
    if plan.jobs:
        console.print(f"{len(plan.jobs)} of {len(cells)} cells to run"
                      + (f", after {len(plan.pretrain)} pre-training run(s) they share" if plan.pretrain else "")
                      + (f"; records go to {spec.results_dir} as cells complete" if spec.export else ""),
                      highlight=False)
        if spec.distributed:
            from bench.sweep.dask_engine import run_on_dask

            run_on_dask(spec, plan, out)
        else:
            _run_here(plan, out)
    return SweepOutcome([plan.rows[i] for i in sorted(plan.rows)], out.failures)
