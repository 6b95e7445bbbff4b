"""Reading a user's dataset for ``bench data add`` (CSV + structure folder, ALIGNN JSON, id_prop.csv): rows
``[id, structure, target, fmt]``, structure files kept inside their folder, and the check that some rows are
usable. See ``tasks.user`` for the layouts and what registering stores."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tasks.data import TaskData

STRUCTURE_SUFFIXES = ("", ".cif", ".vasp", ".poscar", ".json", ".cif.gz", ".vasp.gz", ".poscar.gz", ".json.gz")


class UserDataError(ValueError):
    """Input that cannot become a task; the message says what is wrong and where."""


def _structure_fmt(path: Path) -> str | None:
    name = path.name.lower()
    stem = name[:-3] if name.endswith(".gz") else name
    if stem.endswith(".cif"):
        return "cif"
    if stem.endswith((".vasp", ".poscar")) or stem.startswith(("poscar", "contcar")):
        return "poscar"
    return None


def read_structure_content(path: Path) -> tuple[Any, str | None]:
    """The structure file's content unchanged (text, or a dict for ``.json``) and its format (None = detect)."""
    name = path.name.lower()
    try:
        with (gzip.open(path, "rt", encoding="utf-8") if name.endswith(".gz") else open(path, encoding="utf-8")) as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise UserDataError(f"cannot read structure file {path}: {exc}") from None
    stem = name[:-3] if name.endswith(".gz") else name
    if stem.endswith(".json"):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise UserDataError(f"structure file {path} is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise UserDataError(f"structure file {path} holds a {type(data).__name__}, not one structure dict")
        return data, None
    return text, _structure_fmt(path)


def _find_structure(folder: Path, rid: str) -> Path | None:
    for suffix in STRUCTURE_SUFFIXES:
        path = folder / f"{rid}{suffix}"
        if path.is_file():
            return path
    path = folder / rid / "POSCAR"
    return path if path.is_file() else None


def _inside(folder: Path, path: Path) -> bool:
    try:
        path.resolve().relative_to(Path(folder).resolve())
        return True
    except ValueError:
        return False


def _outside_error(outside: list[tuple[int, str, str]], folder: Path, where: str) -> UserDataError:
    shown = "\n  ".join(f"{where} {n} (id {rid}): {name!r}" for n, rid, name in outside[:10])
    more = f"\n  ... and {len(outside) - 10} more" if len(outside) > 10 else ""
    return UserDataError(f"{len(outside)} structure path(s) point outside the structure folder {folder} (absolute "
                         f"paths, '..' or links); give --allow-outside to read them anyway:\n  {shown}{more}")


def usable_rows(rows: list[list[Any]], name: str) -> "TaskData":
    """What loading the task will keep of ``rows`` (cleaned as :func:`task_from_spec`'s loader cleans);
    UserDataError, naming why rows were dropped, when nothing is left."""
    from collections import Counter

    from tasks.cleaning import SourceRows, category, clean

    data = clean(SourceRows([tuple(r) for r in rows]), name).data
    if len(data) == 0:
        counts = Counter(category(reason) for _, reason in data.dropped)
        summary = ", ".join(f"{n} {c}" for c, n in counts.most_common())
        shown = "\n  ".join(f"{rid}: {reason}" for rid, reason in data.dropped[:5])
        raise UserDataError(f"no usable rows: all {len(rows)} rows were dropped ({summary}); the task was not "
                            f"added. First reasons:\n  {shown}")
    return data


def _missing_files_error(missing: list[tuple[str, str]], total: int, folder: Path, how: str) -> UserDataError:
    shown = "\n  ".join(f"{rid}: {what}" for rid, what in missing[:10])
    more = f"\n  ... and {len(missing) - 10} more" if len(missing) > 10 else ""
    return UserDataError(f"{len(missing)} of {total} structure files not found in {folder} ({how}):\n  {shown}{more}")


def rows_from_csv(csv: Path, target: str | None, structures: Path | None = None, id_column: str | None = None,
                  structure_column: str | None = None, allow_outside: bool = False) -> list[list[Any]]:
    """``[id, structure, target, fmt]`` per row of a CSV (see the module docstring). A structure path that
    leaves ``structures`` (absolute, ``..``, a link out) is refused unless ``allow_outside``."""
    from tasks.loaders import read_csv

    csv = Path(csv)
    if not csv.is_file():
        raise UserDataError(f"CSV file not found: {csv}")
    try:
        frame = read_csv(csv, dtype=str, keep_default_na=False)
    except Exception as exc:  # pandas raises several types for malformed files
        raise UserDataError(f"cannot read {csv} as CSV: {exc}") from None
    columns = [str(c) for c in frame.columns]
    listed = ", ".join(columns)
    if target is None:
        raise UserDataError(f"give the target column with --target (columns of {csv.name}: {listed})")
    if target not in columns:
        raise UserDataError(f"target column {target!r} not in {csv} (available columns: {listed})")
    for option, col in (("--id-column", id_column), ("--structure-column", structure_column)):
        if col is not None and col not in columns:
            raise UserDataError(f"{option} {col!r} not in {csv} (available columns: {listed})")
    if id_column is None:
        others = [c for c in columns if c not in (target, structure_column)]
        if not others:
            raise UserDataError(f"{csv} has no column for the ids (columns: {listed}); add one or give --id-column")
        id_column = others[0]
    if structures is None and structure_column is None:
        raise UserDataError("give --structures DIR (a folder of structure files) or --structure-column S (a column "
                            "holding the structures)")
    if structures is not None and not Path(structures).is_dir():
        raise UserDataError(f"structure folder not found: {structures}")

    rows: list[list[Any]] = []
    missing: list[tuple[str, str]] = []
    outside: list[tuple[int, str, str]] = []
    for n, (_, row) in enumerate(frame.iterrows(), start=1):
        rid = str(row[id_column]).strip()
        value = row[target]
        if structures is None:
            text = row[structure_column]
            rows.append([rid, text, value, None])
            continue
        if structure_column is not None:
            name = str(row[structure_column]).strip()
            path = Path(structures) / name
        else:
            name, path = rid, _find_structure(Path(structures), rid)
        if path is not None and not allow_outside and not _inside(structures, path):
            outside.append((n, rid, name))
            continue
        if path is None or not path.is_file():
            missing.append((rid, str(path) if path is not None else
                            f"no file named {rid}, {rid}.cif, {rid}.vasp, ... or {rid}/POSCAR"))
            continue
        content, fmt = read_structure_content(path)
        rows.append([rid, content, value, fmt])
    if outside:
        raise _outside_error(outside, Path(structures), f"{csv.name} row")
    if missing:
        how = f"files named in column {structure_column!r}" if structure_column else f"files named after {id_column!r}"
        raise _missing_files_error(missing, len(frame), Path(structures), how)
    return rows


def rows_from_alignn_json(path: Path, target: str | None = None, id_column: str | None = None,
                          structure_column: str | None = None) -> list[list[Any]]:
    """``[id, structure, target, fmt]`` per entry of an ALIGNN-style JSON list."""
    path = Path(path)
    if not path.is_file():
        raise UserDataError(f"JSON file not found: {path}")
    target, id_column, structure_column = target or "target", id_column or "jid", structure_column or "atoms"
    try:
        with (gzip.open(path, "rt", encoding="utf-8") if path.name.endswith(".gz") else open(path, encoding="utf-8")) as fh:
            entries = json.load(fh)
    except (OSError, ValueError, EOFError) as exc:
        raise UserDataError(f"cannot read {path} as JSON: {exc}") from None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise UserDataError(f"{path}: expected a JSON list of objects like "
                            f'{{"jid": ..., "atoms": {{...}}, "target": ...}}')
    if not entries:
        raise UserDataError(f"{path}: the list is empty")
    for option, key in (("--target", target), ("--structure-column", structure_column)):
        lacking = [i for i, e in enumerate(entries) if key not in e]
        if lacking:
            keys = ", ".join(entries[lacking[0]])
            raise UserDataError(f"{path}: {len(lacking)} of {len(entries)} entries have no key {key!r} (e.g. entry "
                                f"{lacking[0]}, keys: {keys}); choose the key with {option}")
    rows = []
    for k, e in enumerate(entries):
        rows.append([str(e.get(id_column, k)), e[structure_column], e[target], None])
    return rows


def rows_from_id_prop(folder: Path, id_prop: Path | None = None, allow_outside: bool = False) -> list[list[Any]]:
    """``[id, structure, target, fmt]`` per line of ALIGNN's ``id_prop.csv`` (no header: filename,target); a
    filename that leaves ``folder`` is refused unless ``allow_outside``."""
    import csv

    folder = Path(folder)
    id_prop = Path(id_prop) if id_prop else folder / "id_prop.csv"
    if not id_prop.is_file():
        raise UserDataError(f"{id_prop} not found (ALIGNN layout: id_prop.csv next to the structure files)")
    rows, missing, outside, total = [], [], [], 0
    with open(id_prop, newline="", encoding="utf-8") as fh:
        for n, line in enumerate(csv.reader(fh), start=1):
            if not line or not "".join(line).strip():
                continue
            total += 1
            if len(line) < 2:
                raise UserDataError(f"{id_prop}, line {n}: expected 'filename,target', got {','.join(line)!r}")
            name, value = line[0].strip(), line[1].strip()
            path = folder / name
            if not allow_outside and not _inside(folder, path):
                outside.append((n, name, name))
                continue
            if not path.is_file():
                missing.append((name, str(path)))
                continue
            content, fmt = read_structure_content(path)
            rid = name
            for suffix in (".gz", ".vasp", ".poscar", ".cif", ".json"):
                rid = rid[: -len(suffix)] if rid.lower().endswith(suffix) else rid
            rows.append([rid, content, value, fmt])
    if outside:
        raise _outside_error(outside, folder, f"{id_prop.name} line")
    if missing:
        raise _missing_files_error(missing, total, folder, f"files named in {id_prop.name}")
    if not rows:
        raise UserDataError(f"{id_prop} lists no structures")
    return rows
