"""Readers shared by task files: one function per source format, and the cleaned, cached loader.

A cleaned task is ``loader=cleaned(reader, transform=..., positive=...)`` where ``reader(task, data_dir)``
returns :class:`tasks.cleaning.SourceRows`: the loader validates, transforms and de-duplicates them
(:func:`tasks.cleaning.clean`) and caches the result per (task, data directory) for the process, because
runs call ``task.load`` repeatedly. Every call returns a fresh copy of the cached ``TaskData``.
"""

from __future__ import annotations

import functools
import gzip
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from tasks.base import Task
from tasks.data import Record

if TYPE_CHECKING:
    from tasks.cleaning import Cleaned, SourceRows


def matminer_csv(structure_column: str = "structure", fmt: str = "cif", id_column: str | None = None):
    """Loader for matminer's CSV dumps (a ``# ref:`` line, then a header; structures as CIF text).
    Returns the rows as they are (no cleaning)."""

    def load(task: Task, data_dir: Path) -> list[Record]:
        import pandas as pd

        records: list[Record] = []
        for path in task.paths(data_dir):
            frame = pd.read_csv(path, skiprows=1)
            ids = frame[id_column].astype(str) if id_column else frame.index.astype(str)
            for rid, structure, target in zip(ids, frame[structure_column], frame[task.target]):
                records.append(Record(id=str(rid), structure=structure, target=float(target), fmt=fmt))
        return records

    return load


# ---------------------------------------------------------------------------------------------------------------
# cleaned loaders


def cleaned(reader: Callable[[Task, Path], "SourceRows"], transform: str | None = None, positive: bool = False,
            dedup: bool = True):
    """A task loader that cleans what ``reader`` returns (see the module docstring). ``positive`` drops
    values <= 0 (always on for ``transform="log10"``)."""

    def load(task: Task, data_dir: Path):
        from tasks.cleaning import copy_data

        return copy_data(load_cleaned(task, data_dir).data)

    load.cleans = True  # task cards: this loader reports what it removed
    load.options = (reader, transform, positive or transform == "log10", dedup)
    return load


def load_cleaned(task: Task, data_dir: Path) -> "Cleaned":
    """The cached cleaning result of a task with a :func:`cleaned` loader (do not modify it)."""
    if not getattr(task.loader, "cleans", False):
        raise TypeError(f"task {task.name!r} does not use a cleaned loader")
    data_dir = Path(data_dir).resolve()
    stamp = tuple((p.stat().st_mtime_ns, p.stat().st_size) for p in task.paths(data_dir))
    return _load_cleaned(task, str(data_dir), stamp)


@functools.lru_cache(maxsize=32)
def _load_cleaned(task: Task, data_dir: str, stamp: tuple) -> "Cleaned":
    from tasks.cleaning import clean

    reader, transform, positive, dedup = task.loader.options
    return clean(reader(task, Path(data_dir)), task.name, transform=transform, positive=positive, dedup=dedup)


def task_structures(task: Task, data_dir: Path) -> dict:
    """``{id: pymatgen Structure}`` of a task's records: the cached parse for cleaned tasks, else parsed now."""
    if getattr(task.loader, "cleans", False):
        return dict(load_cleaned(task, data_dir).structures)
    import warnings

    from bench.structures import parse_structure

    data = task.load(data_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {i: parse_structure(r.structure, r.fmt, source=f"{task.name}, entry {i}")
                for i, r in data.records.items()}


# ---------------------------------------------------------------------------------------------------------------
# readers


def read_csv(path: Path, **kwargs):
    """A CSV (gzip by name); matminer dumps start with a ``# ref:`` line, which is skipped."""
    import pandas as pd

    with (gzip.open(path, "rt") if str(path).endswith(".gz") else open(path)) as fh:
        first = fh.readline()
    skip = 1 if first.startswith("#") else 0
    return pd.read_csv(path, skiprows=skip, **kwargs)


def frame_rows(frame, structure_column: str, target_column: str, fmt: str | None,
               id_column: str | None = None) -> list[tuple[str, Any, Any, str | None]]:
    """``(id, structure, target, fmt)`` per row; ids from ``id_column`` or the row index (as text)."""
    ids = frame[id_column].astype(str) if id_column else frame.index.astype(str)
    return [(str(i), s, t, fmt) for i, s, t in zip(ids, frame[structure_column], frame[target_column])]


def table(structure_column: str, target_column: str, fmt: str | None, id_column: str | None = None):
    """Reader of the task's CSV files (one table, or several concatenated in declared order)."""

    def read(task: Task, data_dir: Path) -> "SourceRows":
        from tasks.cleaning import SourceRows

        rows, groups = [], {}
        for rel, path in zip(task.files, task.paths(data_dir)):
            part = frame_rows(read_csv(path), structure_column, target_column, fmt, id_column)
            groups[rel] = [r[0] for r in part]
            rows += part
        return SourceRows(rows, groups=groups if len(task.files) > 1 else {})

    return read


def read_json(path: Path):
    """JSON from ``.json``, ``.json.gz`` or a ``.zip`` holding one JSON file."""
    import json
    import zipfile

    name = str(path)
    if name.endswith(".zip"):
        with zipfile.ZipFile(path) as z:
            members = [m for m in z.namelist() if m.endswith(".json")]
            if len(members) != 1:
                raise ValueError(f"{path}: expected one .json inside, found {members}")
            with z.open(members[0]) as fh:
                return json.load(fh)
    with (gzip.open(path, "rt") if name.endswith(".gz") else open(path)) as fh:
        return json.load(fh)


def jarvis(target_key: str, id_key: str = "jid", atoms_key: str = "atoms"):
    """Reader of a JARVIS-DFT JSON list (structures as JARVIS ``atoms`` dicts; missing values "na"/-99999)."""

    def read(task: Task, data_dir: Path) -> "SourceRows":
        from tasks.cleaning import SourceRows

        entries = read_json(task.paths(data_dir)[0])
        return SourceRows([(str(e.get(id_key, k)), e.get(atoms_key), e.get(target_key), "jarvis")
                           for k, e in enumerate(entries)])

    return read
