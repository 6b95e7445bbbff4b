"""What a task is: declarative metadata plus a loader of (id, structure, target) records."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable


@dataclass(frozen=True)
class Record:
    """One labelled structure as the source gives it: ``structure`` is raw (CIF/POSCAR text, dict…)."""

    id: str
    structure: Any
    target: float
    fmt: str | None = None  # structure format if known; None = auto-detect


@dataclass(frozen=True)
class RandomSplit:
    """A fixed seeded test fraction; the rest split into train/validation.

    Membership is decided by hashing ``(seed, id)``, not by a random generator, so it is identical on every
    machine and library version, and adding records never moves existing ones between test and train.
    """

    test_fraction: float = 0.1
    val_fraction: float = 0.1
    seed: int = 42

    def assign(self, ids: Iterable[str]) -> dict[str, list[str]]:
        ids = list(ids)
        if len(set(ids)) != len(ids):
            raise ValueError("split ids must be unique")
        ranked = sorted(ids, key=lambda i: hashlib.sha256(f"{self.seed}:{i}".encode()).hexdigest())
        n_test = round(self.test_fraction * len(ranked))
        test, rest = ranked[:n_test], ranked[n_test:]
        n_val = round(self.val_fraction * len(rest))
        return {"train": rest[n_val:], "val": rest[:n_val], "test": test}


@dataclass(frozen=True)
class Task:
    """A prediction task. ``load(data_dir)`` returns its records in file order."""

    name: str
    description: str
    target: str
    units: str
    files: tuple[str, ...]  # paths relative to the data directory
    loader: Callable[["Task", Path], list[Record]]
    citation: str = ""
    role: tuple[str, ...] = ("ft_target",)  # any of: pt_source, ft_target, ood_target
    main_metric: str = "mae"
    split: RandomSplit = field(default_factory=RandomSplit)

    def paths(self, data_dir: Path) -> list[Path]:
        return [Path(data_dir) / f for f in self.files]

    def load(self, data_dir: Path) -> list[Record]:
        missing = [str(p) for p in self.paths(data_dir) if not p.exists()]
        if missing:
            raise FileNotFoundError(
                f"task {self.name!r} needs {', '.join(missing)}; set BENCH_DATA_DIR to the folder holding "
                f"the raw data (in this repository's CI: ../shared/data)")
        return self.loader(self, Path(data_dir))

    def data_hash(self, data_dir: Path) -> str:
        """sha256 over the task's source files (content, in declared order)."""
        h = hashlib.sha256()
        for path in self.paths(data_dir):
            with open(path, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
        return h.hexdigest()
