"""Test twins: structures of a task's pool that are the same material as one of its fixed test structures.

The paper's splits are kept exactly as published, but some of them hold such pairs: devi2024-pz's pool holds
pz-365 (in several FT subsets), which matches test structure pz-367; devi2024-gv holds gv-3517 / gv-6890. A run
trained on a twin has seen its test partner's structure (with a near-identical label), so task cards list the
pairs as leakage and the leaderboard flags runs whose train/validation ids contain one.

"The same" is the cleaning matcher (``tasks.cleaning.match_pairs``). The pass parses every pool and test
structure, so its result is cached on disk under ``<cache>/twins/``, keyed on the task's data hash, its split
protocol and the matcher's tolerances.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

TWINS_VERSION = 1


@dataclass(frozen=True)
class Twins:
    pairs: tuple[tuple[str, str], ...]  # (pool id, test id), sorted
    unparsed: int = 0  # structures of the pool or test set that could not be parsed (not compared)

    @property
    def pool_ids(self) -> set[str]:
        return {p for p, _ in self.pairs}


TWIN_LIMIT = 20_000  # records: larger tasks (Matbench, JARVIS 3D) are not checked, the pass would take long


def skip_reason(task, data_dir: Path) -> str | None:
    """Why a task's twins are not computed, or None. Twins are defined against a fixed test set that the pool
    must not hold: not for holdout_in_pool protocols (devi2024 BG/FE keep their held-out set in the pool by
    design)."""
    if getattr(task.split, "holdout_in_pool", False):
        return "not applicable (held-out test set inside the pool by design)"
    n = len(task.load(data_dir))
    if n > TWIN_LIMIT:
        return f"not checked: {n} records (more than {TWIN_LIMIT})"
    return None


def _key(task, data_dir: Path) -> str:
    from tasks.cleaning import DISORDERED_VOLUME_TOLERANCE, MATCHER_TOLERANCES, SYMPREC, VOLUME_TOLERANCE

    blob = json.dumps({"data": task.data_hash(data_dir), "split": repr(task.split), "matcher": MATCHER_TOLERANCES,
                       "volume": [VOLUME_TOLERANCE, DISORDERED_VOLUME_TOLERANCE], "symprec": SYMPREC,
                       "version": TWINS_VERSION}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _compute(task, data_dir: Path) -> Twins:
    from bench.structures import StructureError, parse_structure
    from tasks.cleaning import match_pairs
    from tasks.loaders import load_cleaned

    data = task.load(data_dir)
    test = list(task.split.assign(data)["test"])
    held = set(test)
    pool = [i for i in task.split.pool(data) if i not in held]
    cached = load_cleaned(task, data_dir).structures if getattr(task.loader, "cleans", False) else {}
    structures, unparsed = {}, 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in pool + test:
            if i in cached:
                structures[i] = cached[i]
                continue
            r = data.records[i]
            try:
                structures[i] = parse_structure(r.structure, r.fmt, source=f"{task.name}, entry {i}")
            except StructureError:
                unparsed += 1
    pairs = match_pairs({i: structures[i] for i in pool if i in structures},
                        {i: structures[i] for i in test if i in structures})
    return Twins(tuple(sorted({(p, t) for p, t, _ in pairs})), unparsed)


def find_twins(task, data_dir: Path) -> Twins | None:
    """The task's ``(pool id, test id)`` twin pairs (cached on disk), or None where they are not computed
    (``skip_reason``)."""
    from bench import paths

    if skip_reason(task, data_dir):
        return None
    key = _key(task, data_dir)
    if (task.name, key) in _MEMO:
        return _MEMO[(task.name, key)]
    _MEMO[(task.name, key)] = twins = _cached(task, data_dir, paths.cache_dir() / "twins" / f"{task.name}-{key}.json")
    return twins


_MEMO: dict[tuple[str, str], Twins] = {}


def _cached(task, data_dir: Path, path: Path) -> Twins:
    if path.exists():
        try:
            stored = json.loads(path.read_text())
            return Twins(tuple(tuple(p) for p in stored["pairs"]), stored.get("unparsed", 0))
        except (ValueError, KeyError, TypeError):
            pass  # a damaged cache entry is recomputed
    twins = _compute(task, data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"task": task.name, "pairs": [list(p) for p in twins.pairs],
                               "unparsed": twins.unparsed}))
    tmp.replace(path)
    return twins


def trained_on_twins(split_ids: dict, twins: Twins) -> list[tuple[str, str]]:
    """The twin pairs a run used: its train/validation ids hold the pool id and its test ids the partner."""
    seen = set(split_ids.get("train") or ()) | set(split_ids.get("val") or ())
    test = split_ids.get("test")
    test = set(test) if test is not None else None
    return [(p, t) for p, t in twins.pairs if p in seen and (test is None or t in test)]
