"""Leakage flags of result records, computed when the leaderboard is built (records are not rewritten).

- Test twins (``tasks.twins``): a run whose train/validation ids hold a pool structure that is the same
  material as one of its test structures. Computed from the record's ``split_ids`` and the task's twin list, so
  records committed before the check existed are flagged too. A record may also carry the flag itself
  (``leakage.trained_on_test_twin``: a list of ``[pool id, test id]``); both are honoured.
- Trunk's pre-training may hold test structures: a run fine-tuned from a shipped foundation trunk (CHGNet on
  MPtrj, ``bench.foundation``) whose pre-training the suite could not clean of the target's test set, from
  ``strategy_info.trunk_saw_test_structures``.
- Trunk saw the target's property: a ptft/mpt run pre-trained on a source of the target's own property
  (``--allow-target-source``), from ``strategy_info.trunk_saw_target_property`` or, for older records, from the
  config's sources and ``bench.strategies.same_property``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench.foundation import TEST_STRUCTURES_LABEL
from bench.strategies import TARGET_SOURCE_LABEL as TARGET_LABEL
from leaderboard.records import Run

TWIN_LABEL = "trained on a test twin"
FOUNDATION_LABEL = TEST_STRUCTURES_LABEL


@dataclass
class TwinCheck:
    flagged: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # record path -> (pool, test) pairs
    status: dict[str, str] = field(default_factory=dict)  # task -> how (or whether) it was checked

    def pairs(self, run: Run) -> list[tuple[str, str]]:
        return self.flagged.get(str(run.path), [])

    def is_flagged(self, run: Run) -> bool:
        return bool(self.pairs(run))


def check_twins(runs: list[Run], data_dir: Path | None = None) -> TwinCheck:
    """Flag every run trained on a test twin. Tasks whose data is not here are reported as not checked
    (their records may still carry the flag themselves)."""
    from bench import paths

    data_dir = Path(data_dir) if data_dir is not None else paths.data_dir()
    check = TwinCheck()
    twins_of: dict[str, object] = {}
    for task in sorted({r.task for r in runs}):
        twins_of[task] = None
        try:
            from tasks import get_task
            from tasks.twins import find_twins, skip_reason

            t = get_task(task)
            if not all(p.exists() for p in t.paths(data_dir)):
                check.status[task] = f"not checked: the task's data is not in {data_dir}"
                continue
            used = {i for r in runs if r.task == task for part in (r.record.get("split_ids") or {}).values()
                    if isinstance(part, list) for i in part}
            if used and not used & set(t.load(data_dir).ids):
                check.status[task] = ("not checked: no split id of these records is an id of the task's data "
                                      "here (another data version?)")
                continue
            reason = skip_reason(t, data_dir)
            twins = None if reason else find_twins(t, data_dir)
        except (KeyError, ValueError, OSError) as err:  # an unknown or unreadable task must not stop the build
            check.status[task] = f"not checked: {err}"
            continue
        if twins is None:
            check.status[task] = reason
            continue
        twins_of[task] = twins
        check.status[task] = (f"checked against {len(twins.pairs)} pool/test twin pair"
                              f"{'s' * (len(twins.pairs) != 1)}")
    from tasks.twins import trained_on_twins

    for run in runs:
        own = (run.record.get("leakage") or {}).get("trained_on_test_twin") or []
        pairs = {tuple(p) for p in own}
        twins = twins_of.get(run.task)
        split_ids = run.record.get("split_ids")
        if twins is not None and isinstance(split_ids, dict):
            pairs |= set(trained_on_twins(split_ids, twins))
        if pairs:
            check.flagged[str(run.path)] = sorted(pairs)
    return check


def saw_target_property(run: Run) -> bool:
    info = run.record.get("strategy_info") or {}
    if "trunk_saw_target_property" in info:
        return bool(info["trunk_saw_target_property"])
    if run.pretrain.get("allow_target_source"):
        return True
    sources = [run.pretrain["source"]] if run.pretrain.get("source") else list(run.pretrain.get("sources") or [])
    try:
        from bench.strategies import same_property

        return any(same_property(s, run.task) for s in sources)
    except KeyError:  # a task no longer registered: nothing to compare with
        return False


def saw_test_structures(run: Run) -> bool:
    """The run's trunk was pre-trained on data that may hold its test structures (a shipped trunk)."""
    return bool((run.record.get("strategy_info") or {}).get("trunk_saw_test_structures"))
