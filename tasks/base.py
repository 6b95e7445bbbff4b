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
    # Another task whose structures, cleaning and splits this one shares, with the same property on another
    # scale (piezo-log ~ piezo): pre-training leaves out that task's test structures (so both ask for the same
    # cached trunk) and a source of its property is this target's own property too.
    structures_of: str | None = None
    notes: str = ""  # free text for the task card (decisions, caveats, how the source was cleaned)
    sources: tuple[Source, ...] = ()  # downloadable files (``bench data fetch``), see tasks.data.Source

    def protocol(self, fold: int | None = None) -> SplitProtocol:
        if fold is None:
            return self.split
        if self.cv is None:
            raise ValueError(f"task {self.name!r} has no cross-validation protocol; drop --fold")
        return self.cv

    def paths(self, data_dir: Path) -> list[Path]:
        # Each file is looked up on its own (bench.paths.data_file: the folder, else the shipped copy unless
        # BENCH_DATA_DIR overrides). A declared download stands in for a missing file it ``replaces``; a download
        # the user made is preferred to the shipped copy it replaces. Absolute ``files`` stay absolute.
        from bench.paths import data_file

        alt = {s.replaces: s.relpath for s in self.sources if s.replaces}
        out = []
        for f in self.files:
            local, download = Path(data_dir) / f, Path(data_dir) / alt[f] if f in alt else None
            if local.exists() or (download is not None and download.exists()):
                out.append(local if local.exists() else download)
                continue
            found = data_file(f, data_dir)
            out.append(found if found.exists() or download is None else data_file(alt[f], data_dir))
        return out

    def load(self, data_dir: Path) -> TaskData:
        missing = [p for p in self.paths(data_dir) if not p.exists()]
        if missing:
            raise FileNotFoundError(missing_files_message(self, Path(data_dir), missing))
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


def missing_files_message(task: Task, data_dir: Path, missing: list[Path]) -> str:
    """Which folder was searched and what is missing there, a file of the same name with another extension,
    and the next command to type; advice the user has already followed (setting BENCH_DATA_DIR) is not
    repeated."""
    import os

    from bench.paths import data_dir as configured, data_dir_origin

    folder = Path(os.path.abspath(data_dir))
    local = {s.relpath: s.replaces for s in task.sources if s.replaces}  # download -> the local file it replaces
    names = []
    for path in missing:
        try:
            shown = str(path.relative_to(data_dir))
        except ValueError:  # an absolute entry of ``files`` (user tasks)
            shown = str(path)
        accepted = {path.name}
        if shown in local:
            accepted.add(Path(local[shown]).name)
            shown += f" (or a local {local[shown]})"
        stem = path.name.split(".", 1)[0]
        others = sorted(p.name for p in path.parent.glob(f"{stem}.*") if p.name not in accepted) \
            if path.parent.is_dir() else []
        names.append(shown + (f" (found {', '.join(others)} there instead: another format, which this task does "
                              f"not read; it needs {path.name})" if others else ""))
    what = f"task {task.name!r} needs {'; '.join(names)}, missing from the data folder {folder}"
    fetch = f"`bench data fetch {task.name}` downloads {'it' if len(missing) == 1 else 'them'} there"
    if folder != configured():  # a folder the caller chose (e.g. `bench perf --data-dir`), not the setting
        return (f"{what}: " + (f"{fetch} (with BENCH_DATA_DIR={folder}), or " if task.sources else "")
                + f"give the folder whose raw/ holds it (BENCH_DATA_DIR sets the default folder, now "
                f"{configured()})")
    origin = data_dir_origin()
    if os.environ.get("BENCH_DATA_DIR"):
        return (f"{what} ({origin}): "
                + (fetch if task.sources else "copy the file there, or set BENCH_DATA_DIR to the folder whose raw/ "
                   "holds it")
                + "; `bench data status` lists what that folder holds for every task")
    return (f"{what} ({origin}): " + (f"{fetch}, or " if task.sources else "")
            + "set BENCH_DATA_DIR to the folder holding the raw data (in this repository's CI: ../shared/data)")
