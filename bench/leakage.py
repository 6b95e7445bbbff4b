"""Test-set leakage guards: which test structures pre-training must leave out, and checks that nothing leaked.

A run is evaluated on the test set of its own protocol: the fixed test set for the default split and FT subsets,
the fold's test set for ``--fold K``. Pre-training for it leaves out the structures of that test set and of the
declared siblings' fixed test sets (``Task.pt_exclude``). ``excluded_tests`` gives those id lists; their digest
enters the pre-training cache key and the trunk's card, so a trunk built for one fold is never served to another.

Checks that fail loudly (``LeakageError``) rather than report a number that is silently wrong:

- ``check_disjoint``: a run's train/validation ids never intersect its test ids.
- ``check_trunk_covers_run``: the trunk a run fine-tunes excluded exactly this run's test ids (from its card).
- ``bench.pretrain.collect`` re-matches its final pre-training set against the excluded test structures.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any


class LeakageError(RuntimeError):
    """Test data reached training; the message names the task, the split and the offending ids."""


def ids_digest(ids) -> str:
    """sha256 (16 hex) of a sorted id list: the same set gives the same digest on every machine."""
    return hashlib.sha256("\n".join(sorted(map(str, ids))).encode()).hexdigest()[:16]


def run_test_ids(task_name: str, split: dict, data_dir: Path) -> list[str]:
    """The test ids a run with ``split`` (ft_size, trial, fold) is evaluated on, before any budget cap."""
    from tasks import get_task

    task = get_task(task_name)
    data = task.load(data_dir)
    fold = split.get("fold")
    return task.protocol(fold).assign(data, ft_size=split.get("ft_size"), trial=split.get("trial") or 1,
                                      fold=fold)["test"]


def excluded_tests(exclude_tasks, exclude_folds, data_dir: Path) -> dict[str, dict[str, Any]]:
    """``{task: {"ids", "protocol", "fold"}}``: the test set each excluded task contributes. A task named in
    ``exclude_folds`` (``(task, fold)`` pairs) contributes that fold's test set, every other its fixed one."""
    from tasks import get_task

    folds = dict(exclude_folds)
    unknown = set(folds) - set(exclude_tasks)
    if unknown:
        raise ValueError(f"exclude_folds names {', '.join(sorted(unknown))}, which is not among the excluded "
                         f"tasks {', '.join(exclude_tasks)}")
    out = {}
    for name in exclude_tasks:
        task = get_task(name)
        fold = folds.get(name)
        protocol = task.protocol(fold)
        ids = protocol.assign(task.load(data_dir), fold=fold)["test"]
        out[name] = {"ids": list(ids), "fold": fold,
                     "protocol": (f"fold {fold}: " if fold is not None else "fixed test set: ") + protocol.describe()}
    return out


def exclusion_summary(tests: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """What a card and the cache key say about an exclusion: protocol, fold, count and digest per task."""
    return {name: {"protocol": t["protocol"], "fold": t["fold"], "n_test": len(t["ids"]),
                   "test_ids_sha256": ids_digest(t["ids"])} for name, t in tests.items()}


def check_disjoint(split_ids: dict[str, list[str]], task: str) -> None:
    """Raise if a train or validation id is also a test id of the same run."""
    test = set(split_ids.get("test") or ())
    for part in ("train", "val"):
        both = [i for i in split_ids.get(part) or () if i in test]
        if both:
            raise LeakageError(f"{task}: {len(both)} {part} ids are also test ids (e.g. {', '.join(both[:3])}); "
                               f"the task's split protocol is wrong")


def check_trunk_covers_run(card: dict, config: dict, data_dir: Path) -> None:
    """Raise unless the trunk's card says it excluded exactly the test ids this run is evaluated on."""
    task = config["task"]
    excluded = ((card.get("data") or {}).get("exclusion") or {}).get("tasks") or {}
    want = run_test_ids(task, config["split"], data_dir)
    from bench.strategies import same_structures

    # a task on another's structures and split (piezo-log ~ piezo) is served by trunks that excluded that task:
    # the test ids themselves are still compared below
    got = excluded.get(task) or excluded.get(same_structures(task))
    if got is None or got.get("test_ids_sha256") != ids_digest(want):
        shown = ", ".join(f"{n} ({e.get('protocol')})" for n, e in excluded.items())
        what = "does not record which test structures it excluded" if not excluded else f"excluded {shown}"
        raise LeakageError(f"pre-trained trunk {card.get('key')} {what}, not the {len(want)} test structures of "
                           f"{task} this run is evaluated on (split {config['split']}); refusing to fine-tune it")


def twin_flags(task_name: str, split_ids: dict, data_dir: Path) -> dict[str, Any]:
    """A record's leakage entry: the (pool id, test id) test twins its train/validation ids used
    (``tasks.twins``; the leaderboard recomputes this for records written before it existed)."""
    from tasks import get_task
    from tasks.twins import find_twins, skip_reason, trained_on_twins

    task = get_task(task_name)
    reason = skip_reason(task, data_dir)
    if reason:
        return {"trained_on_test_twin": None, "twin_check": reason}
    pairs = trained_on_twins(split_ids, find_twins(task, data_dir))
    return {"trained_on_test_twin": [list(p) for p in pairs], "twin_check": "checked"}
