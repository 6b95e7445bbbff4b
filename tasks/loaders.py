"""Readers shared by task files: one function per source format."""

from __future__ import annotations

from pathlib import Path

from tasks.base import Task
from tasks.data import Record


def matminer_csv(structure_column: str = "structure", fmt: str = "cif", id_column: str | None = None):
    """Loader for matminer's CSV dumps (a ``# ref:`` line, then a header; structures as CIF text)."""

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
