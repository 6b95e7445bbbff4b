"""Large Matbench v0.1 sources, downloaded on demand (``bench data fetch <task>``): too large to ship.

| task | matbench dataset | rows | target (units) |
|---|---|---|---|
| ``mp-e-form`` | matbench_mp_e_form | 132,752 | ``e_form``, formation energy (eV/atom) |
| ``mp-gap`` | matbench_mp_gap | 106,113 | ``gap pbe``, PBE band gap (eV) |
| ``matbench-log-gvrh`` | matbench_log_gvrh | 10,987 | ``log10(G_VRH)``, log10 shear modulus (log10 GPa) |
| ``matbench-log-kvrh`` | matbench_log_kvrh | 10,987 | ``log10(K_VRH)``, log10 bulk modulus (log10 GPa) |

File format (matminer's ``store_dataframe_as_json``, orient "split", gzip): ``{"index": [...], "columns":
[...], "data": [[...], ...]}`` with one row per material; ``structure`` is a pymatgen ``Structure.as_dict()``.
Record ids are the file's index entries (``mb-...``), or the row number where there is no index. Rows keep the
file order, which Matbench's folds (``KFoldSplit``: ``KFold(5, shuffle=True, random_state=18012019)`` over the
rows) depend on, so these loaders neither de-duplicate nor reorder; a row whose target is missing or not finite
is dropped and reported in ``TaskData.dropped`` (Matbench has none). The moduli are already log10 in the file.

The reader also takes matminer's other JSON layout (a list of row objects) and its CSV dumps, so a task
whose local copy is a CSV and whose download is the upstream JSON (``Source.replaces``) can use
:func:`matminer_records` or :func:`matminer_rows` for both.
"""

from __future__ import annotations

import functools
import gzip
import json
from pathlib import Path
from typing import Any

from tasks.base import Task
from tasks.data import Record, Source, TaskData
from tasks.splits import KFoldSplit, RandomSplit

ROOT = "raw/matbench_v0.1"
CITATION = ("Dunn, A., Wang, Q., Ganose, A., Dopp, D. & Jain, A. Benchmarking materials property prediction "
            "methods: the Matbench test set and Automatminer reference algorithm. npj Comput. Mater. 6, 138 (2020)")


# ---------------------------------------------------------------------------------------------------------------
# reading matminer / matbench files


@functools.lru_cache(maxsize=2)
def _read_table_cached(path: str, stamp: tuple) -> tuple[list[str], list[Any], list[list[Any]]]:
    return _read_table(Path(path))


def read_table(path: Path) -> tuple[list[str], list[Any], list[list[Any]]]:
    """``(columns, index, rows)`` of a matminer/matbench JSON (orient "split" or a list of row objects; ``.gz``
    allowed) or CSV file. Cached per process by path, size and modification time: large sources are parsed
    once however often a run loads the task (do not modify what it returns)."""
    path = Path(path)
    st = path.stat()
    return _read_table_cached(str(path.resolve()), (st.st_size, st.st_mtime_ns))


def _read_table(path: Path):
    name = path.name.lower()
    if ".json" in name:
        with (gzip.open(path, "rt", encoding="utf-8") if name.endswith(".gz") else open(path, encoding="utf-8")) as fh:
            blob = json.load(fh)
        if isinstance(blob, dict) and "data" in blob and "columns" in blob:
            columns = list(blob["columns"])
            rows = blob["data"]
            index = list(blob.get("index") or range(len(rows)))
            if len(index) != len(rows):
                raise ValueError(f"{path}: {len(index)} index entries but {len(rows)} rows")
            return columns, index, rows
        if isinstance(blob, list) and all(isinstance(r, dict) for r in blob):
            columns = list(dict.fromkeys(k for r in blob for k in r))
            return columns, list(range(len(blob))), [[r.get(c) for c in columns] for r in blob]
        raise ValueError(f"{path}: not a matminer/matbench table (expected {{'columns', 'index', 'data'}} or a list "
                         f"of row objects)")
    from tasks.loaders import read_csv

    frame = read_csv(path)
    return list(frame.columns), list(range(len(frame))), frame.values.tolist()


def _column(columns: list[str], name: str, path: Path) -> int:
    if name not in columns:
        raise KeyError(f"{path}: no column {name!r} (columns: {', '.join(map(str, columns))})")
    return columns.index(name)


def table_rows(path: Path, structure_column: str, target_column: str, id_column: str | None = None,
               fmt: str | None = None) -> list[tuple[str, Any, Any, str | None]]:
    """``(id, structure, raw target, fmt)`` per row of a matminer/matbench file, in file order."""
    columns, index, rows = read_table(path)
    s, t = _column(columns, structure_column, path), _column(columns, target_column, path)
    ids = [r[_column(columns, id_column, path)] for r in rows] if id_column else index
    return [(str(i), r[s], r[t], fmt) for i, r in zip(ids, rows)]


def _as_task_data(rows) -> TaskData:
    from tasks.cleaning import parse_target

    records: dict[str, Record] = {}
    dropped: list[tuple[str, str]] = []
    for rid, structure, raw, fmt in rows:
        if rid in records:
            dropped.append((rid, "duplicate id: the id occurs earlier in the source"))
            continue
        value, reason = parse_target(raw)
        if reason is None and structure is None:
            reason = "missing structure: empty"
        if reason is not None:
            dropped.append((rid, reason))
            continue
        records[rid] = Record(rid, structure, value, fmt)
    return TaskData(records, dropped=dropped)


def matbench_loader(target_column: str):
    """Loader of a Matbench file: every row in file order (see the module docstring)."""

    def load(task: Task, data_dir: Path) -> TaskData:
        return _as_task_data(table_rows(task.paths(data_dir)[0], "structure", target_column, fmt="pymatgen"))

    return load


def _fmt_for(path: Path, csv_fmt: str | None) -> str | None:
    return csv_fmt if ".csv" in path.name.lower() else None  # JSON: pymatgen dicts, detected


def matminer_records(structure_column: str = "structure", id_column: str | None = None, csv_fmt: str | None = "cif"):
    """Loader (returns ``TaskData``, no cleaning) of a matminer dataset read from its CSV dump *or* its upstream
    JSON (``.json.gz``, structures as pymatgen dicts), whichever ``task.paths`` resolves to. Targets come from
    ``task.target``; rows with a missing target are dropped and reported."""

    def load(task: Task, data_dir: Path) -> TaskData:
        rows = []
        for path in task.paths(data_dir):
            rows += table_rows(path, structure_column, task.target, id_column, _fmt_for(path, csv_fmt))
        return _as_task_data(rows)

    return load


def matminer_rows(structure_column: str = "structure", id_column: str | None = None, csv_fmt: str | None = "cif"):
    """The same as :func:`matminer_records`, as a reader for ``tasks.loaders.cleaned`` (returns ``SourceRows``)."""

    def read(task: Task, data_dir: Path):
        from tasks.cleaning import SourceRows

        rows = []
        for path in task.paths(data_dir):
            rows += table_rows(path, structure_column, task.target, id_column, _fmt_for(path, csv_fmt))
        return SourceRows(rows)

    return read


# ---------------------------------------------------------------------------------------------------------------
# tasks

# sha256 of the upstream files: ../shared/reference/matminer_dataset_urls.json
_DATASETS = {
    "matbench_mp_e_form": ("e_form", 132752, "dedcb1d4ba2e3e50dbdd45ba5bc647a00e9c2bcf8f8bf556dc8e92caa39eb21f"),
    "matbench_mp_gap": ("gap pbe", 106113, "58b65746bd88329986ed66031a2ac1369c7c522f7bc9f9081528e07097c2c057"),
    "matbench_log_gvrh": ("log10(G_VRH)", 10987, "098af941f4c663270f1fe21abf20ffad6fb85ecbfcba5786ceac03983ac29da7"),
    "matbench_log_kvrh": ("log10(K_VRH)", 10987, "44b113ddb7e23aa18731a62c74afa7e5aa654199e0db5f951c8248a00955c9cd"),
}


def _task(name: str, dataset: str, units: str, description: str, aliases: tuple[str, ...] = ()) -> Task:
    column, rows, sha256 = _DATASETS[dataset]
    relpath = f"{ROOT}/{dataset}.json.gz"
    return Task(
        name=name,
        description=f"{description} ({dataset}, {rows:,} structures; download: `bench data fetch {name}`)",
        target=column,
        units=units,
        files=(relpath,),
        loader=matbench_loader(column),
        citation=CITATION,
        role=("pt_source",),
        split=RandomSplit(test_fraction=0.1, val_fraction=0.1, seed=42),
        cv=KFoldSplit(),
        family="matbench",
        pt_aliases=aliases,
        sources=(Source(url=f"https://ml.materialsproject.org/projects/{dataset}.json.gz", relpath=relpath,
                        sha256=sha256),),
        notes=(f"Matbench v0.1 {dataset}: every row kept in file order (no de-duplication), so --fold gives "
               f"Matbench's own folds; the fixed split is a seeded 10 % test set."),
    )


TASKS = [
    _task("mp-e-form", "matbench_mp_e_form", "eV/atom", "DFT formation energy per atom (Materials Project)", ("fe",)),
    _task("mp-gap", "matbench_mp_gap", "eV", "PBE band gap (Materials Project)", ("bg",)),
    _task("matbench-log-gvrh", "matbench_log_gvrh", "log10(GPa)", "log10 VRH shear modulus (Materials Project)",
          ("gv",)),
    _task("matbench-log-kvrh", "matbench_log_kvrh", "log10(GPa)", "log10 VRH bulk modulus (Materials Project)",
          ("kv",)),
]
