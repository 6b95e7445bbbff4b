"""How a sweep runs (the grid itself is ``bench.sweep.grid``): one value, checked when it is made."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench.records import RESULTS_DIR


class SweepError(Exception):
    """The sweep could not start: no Dask for --workers N, no scheduler at the address."""


@dataclass(frozen=True)
class SweepSpec:
    task: str
    budget: str = "quick"
    seed: int = 0
    device: str = "auto"
    epochs: int | None = None
    ft_mode: str = "all"
    tracking_uri: str | None = None
    # Committed records: cells found here are skipped; with ``export`` each finished cell's record goes here.
    results_dir: Path = RESULTS_DIR
    export: bool = False
    workers: int = 1  # 1 without a scheduler: cells run one after another in this process, no Dask needed
    threads_per_worker: int | None = None  # torch threads per worker; None: 1 with Dask, torch's default without
    scheduler: str | None = None  # address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786
    backbone: str = "alignn"
    overrides: dict = field(default_factory=dict)  # --params of every cell (e.g. a graph lever)
    retries: int = 2  # a cell that raises is run again this often (it resumes); a lost worker is separate

    def __post_init__(self):
        if self.workers < 1:
            raise ValueError(f"--workers must be at least 1; got {self.workers}")
        if self.threads_per_worker is not None and self.threads_per_worker < 1:
            raise ValueError(f"--threads-per-worker must be at least 1; got {self.threads_per_worker}")
        if self.epochs is not None and self.epochs < 1:
            raise ValueError(f"--epochs must be at least 1; got {self.epochs}")
        if self.scheduler is not None and "://" not in self.scheduler:
            raise ValueError(f"--scheduler takes a Dask scheduler address such as tcp://HOST:8786; "
                             f"got {self.scheduler!r}")
        if self.retries < 0:
            raise ValueError(f"retries must be 0 or more; got {self.retries}")

    @property
    def distributed(self) -> bool:
        return self.workers > 1 or self.scheduler is not None

    @property
    def worker_threads(self) -> int | None:
        return self.threads_per_worker or (1 if self.distributed else None)
