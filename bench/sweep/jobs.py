"""What a sweep hands to a worker: one grid cell, or one pre-training run that several cells share. Jobs are
small picklable values and the functions that run them are importable, so a Dask worker on any machine can take
them; everything heavy is imported inside the functions."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Test hook: a path. The first cell to finish an epoch while this is set creates the file and SIGKILLs its own
# process, as a lost machine would; the sweep must then retry the cell, which resumes from its checkpoint.
KILL_ONCE_ENV = "BENCH_SWEEP_KILL_ONCE"


@dataclass(frozen=True)
class CellJob:
    index: int  # position in the grid, 1-based: what progress lines call the cell
    label: str
    strategy: str
    ft_size: int | None
    trial: int
    pretrain: dict
    ft_mode: str
    task: str
    budget: str
    seed: int
    device: str
    epochs: int | None
    tracking_uri: str | None
    key: str  # run key, as planned on the submitting machine
    run_name: str  # its working directory's name, under the runs folder of whichever machine runs it
    pretrain_key: str | None = None
    threads: int | None = None  # torch threads in the worker; None leaves torch's default
    backbone: str = "alignn"
    overrides: dict = field(default_factory=dict)
    fold: int | None = None  # a CV fold instead of the FT subset ft_size/trial

    @property
    def name(self) -> str:
        if self.fold is not None:
            return f"{self.label} fold {self.fold}"
        return f"{self.label} n={self.ft_size or 'all'} trial {self.trial}"

    @property
    def log(self) -> Path:
        from bench import paths

        return paths.runs_dir() / self.run_name / "sweep.log"


@dataclass(frozen=True)
class PretrainJob:
    key: str
    spec: Any  # bench.pretrain.PretrainSpec
    device: str
    tracking_uri: str | None
    threads: int | None = None
    cells: tuple[int, ...] = field(default=())  # indices of the cells waiting for it

    @property
    def log(self) -> Path:
        from bench import paths

        return paths.cache_dir() / "pretrained" / self.key / "sweep.log"


def _threads(n: int | None) -> None:
    if n:
        import torch

        torch.set_num_threads(n)


def _log_console(path: Path):
    from rich.console import Console

    path.parent.mkdir(parents=True, exist_ok=True)
    return Console(file=path.open("a"), width=120, force_terminal=False, highlight=False)


def _kill_hook(job: CellJob):
    marker = os.environ.get(KILL_ONCE_ENV)
    if not marker:
        return None

    def after_epoch(_record: dict) -> None:
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.write(fd, f"{job.index} {job.run_name}\n".encode())
        os.close(fd)
        os.kill(os.getpid(), signal.SIGKILL)

    return after_epoch


def run_pretrain(job: PretrainJob, console=None) -> dict:
    """Train (or, if it is there already, load) the cached trunk of ``job.spec``. Without ``console`` the
    output goes to ``job.log``."""
    from bench.pretrain import pretrained_model

    _threads(job.threads)
    t0 = time.time()
    own = console is None
    console = _log_console(job.log) if own else console
    try:
        _, card = pretrained_model(job.spec, console, job.device, job.tracking_uri)
    finally:
        if own:
            console.file.close()
    return {"key": card["key"], "wall_seconds": time.time() - t0}


def run_cell(job: CellJob, *pretrained: dict, console=None) -> dict:
    """Run one cell (resuming it if a checkpoint is there). ``pretrained`` are the results of the pre-training
    jobs it waits for (Dask passes them; the trunk itself is read from the cache). Without ``console`` the run's
    output goes to ``job.log``."""
    from bench.run import run_benchmark

    _threads(job.threads)
    t0 = time.time()
    own = console is None
    console = _log_console(job.log) if own else console
    if own:
        import torch

        console.print(f"sweep: cell {job.index} ({job.name}) in process {os.getpid()} with "
                      f"{torch.get_num_threads()} torch thread(s)")
    try:
        result = run_benchmark(job.task, job.strategy, job.budget, job.seed, job.device, job.tracking_uri,
                               job.epochs, False, console, job.ft_size, job.trial, job.fold, job.pretrain,
                               job.ft_mode, overrides=job.overrides or None, on_epoch=_kill_hook(job),
                               backbone=job.backbone)
    finally:
        if own:
            console.file.close()
    record = result.workdir / "result.json"
    return {"index": job.index, "key": job.key, "metrics": result.test_metrics, "wall_seconds": time.time() - t0,
            "already_finished": result.resumed_finished, "record_text": record.read_text()}
