"""JARVIS-DFT 3D (2022 release, about 76,000 materials), downloaded on demand (``bench data fetch <task>``).

Source: figshare file 38521619, ``jdft_3d-12-12-2022.json.zip`` (a zip holding ``jdft_3d-12-12-2022.json``,
a JSON list of entries with ``jid``, a JARVIS ``atoms`` dict and one key per property), the file jarvis-tools
loads as ``dft_3d_2022``. Upstream publishes no hash: the first download is trusted after checking the zip and
its sha256 is recorded in the data directory's lock file (see ``bench.download``).

Missing values are ``"na"`` (or -99999): such entries are dropped per task and listed in ``TaskData.dropped``,
so each property's task holds only the materials that have it. Records keep file order and ids are the jids.
"""

from __future__ import annotations

import functools
from pathlib import Path

from tasks.base import Task
from tasks.data import Record, Source, TaskData
from tasks.splits import KFoldSplit, RandomSplit

MEMBER = "jdft_3d-12-12-2022.json"
RELPATH = f"raw/jarvis/{MEMBER}.zip"
SOURCE = Source(url="https://ndownloader.figshare.com/files/38521619", relpath=RELPATH, member=MEMBER)
CITATION = ("Choudhary, K. et al. The joint automated repository for various integrated simulations (JARVIS) for "
            "data-driven materials design. npj Comput. Mater. 6, 173 (2020)")


@functools.lru_cache(maxsize=1)
def _entries(path: str, stamp: tuple) -> list[dict]:
    from tasks.loaders import read_json

    entries = read_json(Path(path))
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a JSON list of JARVIS entries, got {type(entries).__name__}")
    return entries


def read_entries(path: Path) -> list[dict]:
    """The file's entries, parsed once per process (by path, size and mtime); do not modify them."""
    st = Path(path).stat()
    return _entries(str(Path(path).resolve()), (st.st_size, st.st_mtime_ns))


def jarvis_loader(key: str):
    """Loader of one property: ``(jid, atoms, entry[key])`` per entry with the property present."""

    def load(task: Task, data_dir: Path) -> TaskData:
        from tasks.cleaning import parse_target

        records: dict[str, Record] = {}
        dropped: list[tuple[str, str]] = []
        for k, entry in enumerate(read_entries(task.paths(data_dir)[0])):
            rid = str(entry.get("jid", k))
            value, reason = parse_target(entry.get(key))
            if reason is None and not isinstance(entry.get("atoms"), dict):
                reason = f"missing structure: {entry.get('atoms')!r}"
            if reason is None and rid in records:
                reason = "duplicate id: the id occurs earlier in the source"
            if reason is not None:
                dropped.append((rid, reason))
                continue
            records[rid] = Record(rid, entry["atoms"], value, "jarvis")
        return TaskData(records, dropped=dropped)

    return load


def _task(name: str, key: str, units: str, description: str, aliases: tuple[str, ...] = ()) -> Task:
    return Task(
        name=name,
        description=f"{description} (JARVIS-DFT 3D 2022; download: `bench data fetch {name}`)",
        target=key,
        units=units,
        files=(RELPATH,),
        loader=jarvis_loader(key),
        citation=CITATION,
        role=("pt_source",),
        split=RandomSplit(test_fraction=0.1, val_fraction=0.1, seed=42),
        cv=KFoldSplit(),
        family="jarvis",
        pt_aliases=aliases,
        sources=(SOURCE,),
        notes="Entries whose value is 'na' or -99999 are dropped (listed as missing targets).",
    )


TASKS = [
    _task("dft3d-formation-energy", "formation_energy_peratom", "eV/atom", "OptB88vdW formation energy per atom",
          ("fe",)),
    _task("dft3d-optb88vdw-gap", "optb88vdw_bandgap", "eV", "OptB88vdW band gap", ("bg",)),
    _task("dft3d-mbj-gap", "mbj_bandgap", "eV", "TBmBJ band gap"),
]
