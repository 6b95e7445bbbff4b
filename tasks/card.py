"""Task cards: what a user needs to know before trusting a number on a task.

``render_card(task, data_dir)`` loads the task (cached for cleaned tasks) and prints its source, size, units,
target statistics, splits with their sizes, what cleaning removed and why, and the task's notes.

Counting, auditing and the twin search parse every structure (~20 s for a task of a thousand), so the card
is cached as text under ``<cache>/cards/``, keyed on the task's data hash, its declaration and the code that
computes the card (every ``tasks`` module and the structure parser/checks): a second ``bench tasks show``
only hashes the data files.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import textwrap
from collections import defaultdict
from pathlib import Path

import numpy as np

from tasks.base import Task

_SHOW_IDS = 5
_SHOW_TWINS = 10
AUDIT_LIMIT = 5000  # records: larger tasks are not audited when their card is printed
_WIDTH = 100


CARD_VERSION = 1  # bump when a card's content changes in a way the code hash would miss


def render_card(task: Task, data_dir: Path) -> str:
    """The task's card, from the cache when its data and the code that computes it are unchanged."""
    from bench import paths

    path = paths.cache_dir() / "cards" / f"{task.name}-{card_key(task, data_dir)}.txt"
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):  # absent or unreadable: computed again
        pass
    text = _render(task, data_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)  # whole or absent, never half-written
    except OSError:  # a read-only cache only costs the next call its time
        pass
    return text


def card_key(task: Task, data_dir: Path) -> str:
    """Hash of what a card depends on; raises the task's missing-data error when a file is absent."""
    from tasks.base import missing_files_message

    missing = [p for p in task.paths(data_dir) if not p.exists()]
    if missing:
        raise FileNotFoundError(missing_files_message(task, Path(data_dir), missing))
    declared = {k: repr(getattr(task, k)) for k in ("name", "description", "target", "units", "files", "citation",
                                                    "role", "main_metric", "split", "cv", "target_transform",
                                                    "family", "notes", "sources")}
    blob = json.dumps({"data": task.data_hash(data_dir), "task": declared, "code": _code_hash(),
                       "version": CARD_VERSION}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def _code_hash() -> str:
    import bench

    root = Path(__file__).resolve().parents[1]
    files = sorted((root / "tasks").glob("*.py")) + [root / "bench" / "structures.py",
                                                     root / "bench" / "structure_checks.py"]
    h = hashlib.sha256(bench.__version__.encode())
    for f in files:
        if f.exists():
            h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def _render(task: Task, data_dir: Path) -> str:
    from tasks.cleaning import audit, category
    from tasks.twins import find_twins

    data = task.load(data_dir)
    cleans = bool(getattr(task.loader, "cleans", False))
    n_source = len(data) + len(data.dropped)
    values = np.array([r.target for r in data.records.values()], dtype=float)
    transform = task.target_transform

    twins = find_twins(task, data_dir)
    lines = [f"# {task.name}", *_wrap(task.description), ""]
    lines += _fields([
        ("source", task.citation or "(no citation given)"),
        ("files", ", ".join(task.files)),
        ("data sha256", task.data_hash(data_dir)[:16] + "…"),
        ("records", f"{len(data)} after cleaning ({n_source} source entries, {len(data.dropped)} dropped)"
                    if cleans else f"{len(data)} ({n_source} source entries, {len(data.dropped)} dropped by the "
                                   f"loader, which does not check structures or de-duplicate; see below)"),
        ("target", task.target + (f", transformed: {transform}({task.target})" if transform else "")),
        ("units", task.units + (f" (the model's target is {transform} of the source value)" if transform else "")),
        ("role", ", ".join(task.role)),
        ("main metric", task.main_metric),
    ] + ([("structures", f"{disordered} of {len(data)} have partially occupied sites (disorder)")]
         if (disordered := _disordered(task, data_dir)) is not None else []))

    lines += ["", f"target statistics ({task.units}):"]
    lines += [_stats(values)]

    lines += ["", "splits:"] + _splits(task, data)

    lines += ["", "cleaning:"]
    if cleans:
        lines += _wrap("checks: target present and finite"
                       + (f", > 0 before {transform}" if transform == "log10" else "")
                       + "; structure parses and passes validation (bench.structures); of duplicate structures "
                         "(composition + space group + volume bucket, confirmed by StructureMatcher; "
                         "tasks.cleaning) the first is kept", indent="  ")
        lines += _dropped(data.dropped, category) or ["  nothing dropped"]
    else:
        if data.dropped:
            lines += ["  dropped by the loader:"] + _dropped(data.dropped, category)
        if len(data) <= AUDIT_LIMIT:
            found = audit(data, task.name)
            pairs = set(twins.pairs) if twins else set()
            # a pool/test pair is leakage, reported on its own below, not one more duplicate
            as_twins = [(rid, why) for rid, why in found if _twin_pair(rid, why) & pairs]
            found = [f for f in found if f not in as_twins]
            lines += _wrap("this task's loader does not check structures or de-duplicate; an audit with "
                           "tasks.cleaning finds " + (f"{len(found)} entries it would drop (not removed)" if found
                                                      else "nothing to drop")
                           + (f"; {len(as_twins)} more {'are test twins' if len(as_twins) > 1 else 'is a test twin'}"
                              ", listed under leakage" if as_twins else "")
                           + (":" if found else ""), indent="  ")
            lines += _dropped(found, category)
        else:
            lines += _wrap(f"this task's loader does not check structures or de-duplicate; no audit on a card for "
                           f"more than {AUDIT_LIMIT} records (run tasks.cleaning.audit)", indent="  ")
    lines += ["", "leakage (test twins):"] + _twin_lines(twins, data)
    if data.groups:
        lines += ["", "groups (from the source):"]
        lines += [f"  {name}: {len(ids)} records" for name, ids in data.groups.items()]
    if getattr(task, "notes", ""):
        lines += ["", "notes:"] + _wrap(task.notes, indent="  ")
    return "\n".join(lines)


def _twin_pair(rid: str, reason: str) -> set[tuple[str, str]]:
    """Both orders of the (dropped id, kept id) pair an audit reason names ("same structure as X (...")."""
    kept = reason.split("same structure as ", 1)[1].split(" (", 1)[0] if "same structure as " in reason else None
    return {(rid, kept), (kept, rid)} if kept else set()


def _twin_lines(twins, data) -> list[str]:
    if twins is None:
        return _wrap("not applicable: this protocol's held-out test set is part of the pre-training pool by "
                     "design (see the split)", indent="  ")
    unparsed = f" ({twins.unparsed} unparsable structures not compared)" if twins.unparsed else ""
    if not twins.pairs:
        return [f"  none: no pool structure matches a test structure{unparsed}"]
    many = len(twins.pairs) > 1
    out = _wrap(f"{len(twins.pairs)} pool structure{'s match' if many else ' matches'} a test structure "
                f"(StructureMatcher, as cleaning){unparsed}. The split is kept as the source gives it; a run "
                "whose train/validation ids hold one has seen its test partner, and the leaderboard flags it:",
                indent="  ")
    groups = {g: set(ids) for g, ids in data.groups.items() if g not in ("pool", "test")}
    for pool_id, test_id in twins.pairs[:_SHOW_TWINS]:
        inside = [g for g, ids in groups.items() if pool_id in ids]
        out += _wrap(f"{pool_id} (pool) <-> {test_id} (test)"
                     + (f"; {pool_id} is in {len(inside)} subsets: {', '.join(inside[:8])}"
                        + (", …" if len(inside) > 8 else "") if inside else ""), indent="    ")
    if len(twins.pairs) > _SHOW_TWINS:
        out.append(f"    … and {len(twins.pairs) - _SHOW_TWINS} more pairs")
    return out


def _fields(pairs) -> list[str]:
    width = max(len(k) for k, _ in pairs) + 1
    out = []
    for key, value in pairs:
        wrapped = textwrap.wrap(str(value), _WIDTH - width - 1) or [""]
        out.append(f"{key + ':':<{width}} {wrapped[0]}")
        out += [" " * (width + 1) + w for w in wrapped[1:]]
    return out


def _wrap(text: str, indent: str = "") -> list[str]:
    return textwrap.wrap(text, _WIDTH, initial_indent=indent, subsequent_indent=indent) or [""]


def _stats(values: np.ndarray) -> str:
    if len(values) == 0:
        return "  no records"
    finite = values[np.isfinite(values)]
    bad = len(values) - len(finite)
    stats = (f"  count {len(values)}, mean {np.mean(finite):.4g}, std {np.std(finite):.4g}, min {np.min(finite):.4g}, "
             f"median {np.median(finite):.4g}, max {np.max(finite):.4g}")
    return stats + (f"; {bad} non-finite" if bad else "")


def _splits(task: Task, data) -> list[str]:
    out = []
    try:
        split = task.split.assign(data)
        sizes = ", ".join(f"{k} {len(split[k])}" for k in ("test", "train", "val") if k in split)
        pool = len(task.split.pool(data))
        out += _wrap(f"default: {task.split.describe()}", indent="  ")
        out.append(f"    sizes: {sizes} (pool for fine-tuning/pre-training: {pool})")
        sizes_ok = [s for s in task.split.ft_sizes if s <= pool]
        if task.split.ft_sizes:
            out.append(f"    FT subsets: sizes {', '.join(map(str, sizes_ok))} x {task.split.trials} trials"
                       + (f" (sizes above the pool not offered: "
                          f"{', '.join(str(s) for s in task.split.ft_sizes if s > pool)})"
                          if len(sizes_ok) < len(task.split.ft_sizes) else ""))
    except (ValueError, KeyError) as err:
        out.append(f"  default: {task.split.describe()} (cannot assign: {err})")
    if task.cv is not None:
        try:
            folds = [len(task.cv.assign(data, fold=f)["test"]) for f in range(getattr(task.cv, "n_splits", 5))]
            out.append(f"  cross-validation (--fold): {task.cv.describe()}")
            out.append(f"    test folds of {', '.join(map(str, folds))} records; validation 10 % of the rest")
        except (ValueError, KeyError) as err:
            out.append(f"  cross-validation: {task.cv.describe()} (cannot assign: {err})")
    return out


def _dropped(dropped: list[tuple[str, str]], category) -> list[str]:
    by_cat: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for rid, reason in dropped:
        by_cat[category(reason)].append((rid, reason))
    out = []
    for cat, items in sorted(by_cat.items(), key=lambda kv: -len(kv[1])):
        ids = ", ".join(i for i, _ in items[:_SHOW_IDS]) + (", …" if len(items) > _SHOW_IDS else "")
        out.append(f"  {cat}: {len(items)} ({ids})")
        examples = []
        for rid, reason in items:  # up to two different explanations per category
            detail = reason.split(":", 1)[1].strip() if ":" in reason else reason
            if all(detail.split("(")[0] != d.split("(")[0] for _, d in examples):
                examples.append((rid, detail))
            if len(examples) == 2:
                break
        for rid, detail in examples:
            out += _wrap(f"e.g. {rid}: {detail}", indent="      ")
    return out


def _disordered(task: Task, data_dir: Path) -> int | None:
    """Number of records with partial occupancies (cleaned tasks only: their structures are parsed already)."""
    if not getattr(task.loader, "cleans", False):
        return None
    from tasks.loaders import load_cleaned

    return sum(not s.is_ordered for s in load_cleaned(task, data_dir).structures.values())
