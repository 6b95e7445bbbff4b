"""What a task is: declarative metadata plus a loader of (id, structure, target) records."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tasks.data import Record, Source, TaskData
from tasks.splits import KFoldSplit, RandomSplit, SplitProtocol


@dataclass(frozen=True)
class Task:
    """A prediction task. ``load(data_dir)`` returns its records in file order."""

    name: str
    description: str
    target: str
    units: str
    files: tuple[str, ...]  # paths relative to the data directory
    loader: Callable[["Task", Path], "list[Record] | TaskData"]
    citation: str = ""
    role: tuple[str, ...] = ("ft_target",)  # any of: pt_source, ft_target, ood_target
    main_metric: str = "mae"
    split: SplitProtocol = field(default_factory=RandomSplit)
    cv: SplitProtocol | None = field(default_factory=KFoldSplit)  # used when a run asks for a --fold
    target_transform: str | None = None  # e.g. "log10": applied by the loader, stated on the card
    family: str = "physical"  # tasks of one family share conventions (units, splits) and MPT source sets
    pt_aliases: tuple[str, ...] = ()  # short names for --pt-source, e.g. ("fe",)
    mpt_sources: tuple[str, ...] = ()  # default multi-property pre-training sources when this is the target
    # Other targets whose test structures pre-training for this one also leaves out (a family's FT targets):
    # one cached trunk per source then serves the whole family, as in the paper.
    pt_exclude: tuple[str, ...] = ()
    notes: str = ""  # free text for the task card (decisions, caveats, how the source was cleaned)
    sources: tuple[Source, ...] = ()  # downloadable files (``bench data fetch``), see tasks.data.Source

    def protocol(self, fold: int | None = None) -> SplitProtocol:
        if fold is None:
            return self.split
        if self.cv is None:
            raise ValueError(f"task {self.name!r} has no cross-validation protocol; drop --fold")
        return self.cv

    def paths(self, data_dir: Path) -> list[Path]:
        # A declared download stands in for a missing local file it ``replaces`` (absolute ``files`` stay absolute).
        alt = {s.replaces: s.relpath for s in self.sources if s.replaces}
        return [Path(data_dir) / f if f not in alt or (Path(data_dir) / f).exists() else Path(data_dir) / alt[f]
                for f in self.files]

    def load(self, data_dir: Path) -> TaskData:
        missing = [str(p) for p in self.paths(data_dir) if not p.exists()]
        if missing:
            raise FileNotFoundError(
                f"task {self.name!r} needs {', '.join(missing)}; "
                + (f"download it with `bench data fetch {self.name}`, or " if self.sources else "")
                + "set BENCH_DATA_DIR to the folder holding the raw data (in this repository's CI: ../shared/data)")
        out = self.loader(self, Path(data_dir))
        return out if isinstance(out, TaskData) else TaskData.from_records(out)

    def data_hash(self, data_dir: Path) -> str:
        """sha256 over the task's source files (content, in declared order)."""
        h = hashlib.sha256()
        for path in self.paths(data_dir):
            with open(path, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
        return h.hexdigest()
