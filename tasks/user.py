"""Your own datasets as tasks (``bench data add NAME ...``): accepted by every strategy like a built-in task.

``bench data add`` reads one of three layouts and **copies** the data, so the task keeps working when the
original files are moved or deleted:

- ``--csv FILE --structures DIR --target COLUMN [--id-column C] [--structure-column S]``: a table with one row
  per material; the structure of a row is the file named in column ``S`` (relative to ``DIR``) or, without
  ``S``, the file in ``DIR`` named after the row id (``ID``, ``ID.cif``, ``ID.vasp``, ``ID.poscar``, ``ID.json``,
  optionally ``.gz``, or ``ID/POSCAR``). Without ``--structures``, column ``S`` holds the structures inline
  (CIF, POSCAR or dict text). Files ending ``.cif`` are CIF, ``.vasp``/``.poscar``/``POSCAR*``/``CONTCAR*``
  are POSCAR, ``.json`` a pymatgen or JARVIS dict; other names are detected from their content.
- ``--json FILE``: an ALIGNN-style JSON list ``[{"jid": ..., "atoms": {JARVIS atoms}, "target": ...}]``
  (keys changeable with ``--id-column``, ``--structure-column`` and ``--target``; ``.json.gz`` allowed).
- ``--structures DIR`` holding ``id_prop.csv`` (ALIGNN's convention: no header, ``filename,target`` per line)
  and the structure files it names (POSCAR, CIF...).

Storage, under the user data directory (``$BENCH_HOME``, see ``bench.paths.user_data_dir``):

- ``user_data/NAME/records.json.gz``: the copy, one normalised file: ``{"format": ..., "records": [[id,
  structure, target, fmt], ...]}`` where ``structure`` is the file's text (or dict) unchanged and ``target``
  the value as given;
- ``user_tasks/NAME.json``: the spec (name, target, units, where the data came from), written last, so a
  half-added task never appears.

This module turns every spec into a :class:`Task` when the registry is built (``TASKS``); ``files`` holds the
records file's absolute path (``Path(data_dir) / absolute`` is the absolute path, so ``BENCH_DATA_DIR`` does
not matter). Loading cleans the records like the built-in tasks (``tasks.loaders.cleaned``): missing targets,
unusable structures and duplicate structures are dropped and listed on the task card. Split: a seeded 10 %
test set, fine-tuning subsets drawn from the rest (``RandomSplit``), and 5-fold cross-validation for
``--fold``. MPT defaults to the paper's seven pre-training pools (``--mpt-sources`` overrides).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Reading the user's input lives in tasks/_user_input.py; re-exported here, where the CLI and tests import it.
from tasks._user_input import (  # noqa: F401
    STRUCTURE_SUFFIXES,
    UserDataError,
    read_structure_content,
    rows_from_alignn_json,
    rows_from_csv,
    rows_from_id_prop,
    usable_rows,
)
from tasks.base import Task
from tasks.loaders import cleaned
from tasks.splits import KFoldSplit, RandomSplit

SPEC_FORMAT = 1
RECORDS_FORMAT = "tl-bench-user-records/1"
SPECS = "user_tasks"
DATA = "user_data"
RECORDS = "records.json.gz"
FAMILY = "user"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")
PAPER_MPT = ("devi2024-bg", "devi2024-fe", "devi2024-gv", "devi2024-ph", "devi2024-dc", "devi2024-pz",
             "devi2024-ebg")


def _home() -> Path:
    from bench.paths import user_data_dir

    return user_data_dir()


def spec_dir(home: Path | None = None) -> Path:
    return (home or _home()) / SPECS


def spec_path(name: str, home: Path | None = None) -> Path:
    return spec_dir(home) / f"{name}.json"


def data_folder(name: str, home: Path | None = None) -> Path:
    return (home or _home()) / DATA / name


# ---------------------------------------------------------------------------------------------------------------
# specs -> tasks


def _reader(task: Task, data_dir: Path):
    from tasks.cleaning import SourceRows

    return SourceRows([tuple(r) for r in read_records(task.paths(data_dir)[0])])


def read_records(path: Path) -> list[list[Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        blob = json.load(fh)
    if not isinstance(blob, dict) or blob.get("format") != RECORDS_FORMAT:
        raise ValueError(f"{path}: not a tl-bench user records file ({RECORDS_FORMAT})")
    return blob["records"]


def task_from_spec(spec: dict, home: Path | None = None) -> Task:
    home = home or _home()
    records = (home / spec["records"]).resolve()
    origin = spec.get("origin", {})
    split = spec.get("split", {})
    return Task(
        name=spec["name"],
        description=spec.get("description") or f"user dataset {spec['name']} ({spec.get('n_rows', '?')} rows)",
        target=spec["target"],
        units=spec.get("units", ""),
        files=(str(records),),
        loader=cleaned(_reader, dedup=spec.get("dedup", True)),
        citation=spec.get("citation") or f"user data: {origin.get('source', '?')} (added {spec.get('added', '?')})",
        role=("pt_source", "ft_target"),
        split=RandomSplit(test_fraction=split.get("test_fraction", 0.1), val_fraction=split.get("val_fraction", 0.1),
                          seed=split.get("seed", 42)),
        cv=KFoldSplit(),
        family=FAMILY,
        pt_aliases=tuple(spec.get("pt_aliases", ())),
        mpt_sources=tuple(spec.get("mpt_sources") or PAPER_MPT),
        notes=(f"Added with `bench data add` from {origin.get('source', '?')} ({origin.get('kind', '?')}); the data "
               f"is a copy in {records.parent}."),
    )


def load_specs(home: Path | None = None) -> list[Task]:
    """A task per spec file; a spec that cannot be read is skipped with a warning (never breaks the registry)."""
    folder = spec_dir(home)
    tasks = []
    if not folder.is_dir():
        return tasks
    for path in sorted(folder.glob("*.json")):
        try:
            spec = json.loads(path.read_text())
            if spec.get("format") != SPEC_FORMAT or spec.get("name") != path.stem:
                raise ValueError("not a tl-bench user task spec (or its name differs from the file name)")
            tasks.append(task_from_spec(spec, home))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            print(f"warning: ignoring user task spec {path}: {exc}", file=sys.stderr)
    return tasks


TASKS = load_specs()


# ---------------------------------------------------------------------------------------------------------------
# registering


def builtin_names() -> set[str]:
    from tasks import all_tasks

    return {name for name, t in all_tasks().items() if t.family != FAMILY or not spec_path(name).exists()}


def check_name(name: str, force: bool = False, home: Path | None = None) -> None:
    if not NAME_RE.match(name):
        raise UserDataError(f"invalid task name {name!r}: use letters, digits and . _ + - (at most 64 characters, "
                            f"starting with a letter or digit)")
    if name in builtin_names():
        raise UserDataError(f"{name!r} is the name of a built-in task; choose another name")
    if spec_path(name, home).exists() and not force:
        raise UserDataError(f"a user task named {name!r} already exists ({spec_path(name, home)}); use --force to "
                            f"replace it, or `bench data remove {name}`")


def register(name: str, rows: list[list[Any]], target: str, origin: dict, units: str = "",
             description: str = "", pt_aliases: tuple[str, ...] = (), mpt_sources: tuple[str, ...] = (),
             force: bool = False, home: Path | None = None) -> Task:
    """Copy ``rows`` into the user data directory, write the spec, return the task (not yet in the cached
    registry of this process)."""
    home = home or _home()
    check_name(name, force, home)
    ids = [r[0] for r in rows]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise UserDataError(f"id {dup!r} occurs more than once; ids must be unique (choose another --id-column)")
    usable_rows(rows, name)  # before anything is written: a task nothing can be loaded from is not added
    folder = data_folder(name, home)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{name}."))
    try:
        with gzip.open(staging / RECORDS, "wt", encoding="utf-8") as fh:
            json.dump({"format": RECORDS_FORMAT, "records": rows}, fh)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    spec = {"format": SPEC_FORMAT, "name": name, "target": target, "units": units, "description": description,
            "records": f"{DATA}/{name}/{RECORDS}", "n_rows": len(rows), "origin": origin,
            "added": time.strftime("%Y-%m-%d %H:%M:%S"), "pt_aliases": list(pt_aliases),
            "mpt_sources": list(mpt_sources), "dedup": True,
            "split": {"test_fraction": 0.1, "val_fraction": 0.1, "seed": 42}}
    path = spec_path(name, home)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(spec, fh, indent=1)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return task_from_spec(spec, home)


def remove(name: str, home: Path | None = None) -> None:
    path = spec_path(name, home)
    if not path.exists():
        raise UserDataError(f"no user task named {name!r} (user tasks live in {spec_dir(home)})")
    path.unlink()
    shutil.rmtree(data_folder(name, home), ignore_errors=True)
