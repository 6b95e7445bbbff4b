"""What a task's loader returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Record:
    """One labelled structure as the source gives it: ``structure`` is raw (CIF/POSCAR text, dict…).
    ``target`` is a float, or NaN where the label is missing."""

    id: str
    structure: Any
    target: float
    fmt: str | None = None  # structure format if known; None = auto-detect


@dataclass
class TaskData:
    """A task's usable records (unique ids, source order), named id groups from the source, and what
    cleaning removed (id, reason) so task cards can report it."""

    records: dict[str, Record]
    groups: dict[str, list[str]] = field(default_factory=dict)
    dropped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ids(self) -> list[str]:
        return list(self.records)

    def __len__(self) -> int:
        return len(self.records)

    @classmethod
    def from_records(cls, records: list[Record], **kwargs) -> "TaskData":
        by_id: dict[str, Record] = {}
        for r in records:
            if r.id in by_id:
                raise ValueError(f"duplicate record id {r.id!r}")
            by_id[r.id] = r
        return cls(by_id, **kwargs)


@dataclass(frozen=True)
class Source:
    """A file a task can download (``bench data fetch``): ``url`` is saved to ``<data dir>/<relpath>``.

    ``sha256``: the upstream file's hash, checked on every download; ``None`` where upstream publishes none
    (JARVIS figshare files): the first download is trusted and its hash recorded in the data directory's lock
    file, which later downloads must match. ``member``: the JSON file a downloaded zip must hold (checked).
    ``replaces``: the task's ``files`` entry this download stands in for when that file is absent (a local
    copy of the same data in another format); the task's loader must read both.
    """

    url: str
    relpath: str
    sha256: str | None = None
    size: int | None = None
    member: str | None = None
    replaces: str | None = None
