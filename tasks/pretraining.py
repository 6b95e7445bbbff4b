"""Which records of a source task pre-training may use.

``pretraining_ids(task, data, pt_size, seed)``:

- an int N: N ids drawn from the task protocol's pool (``task.split.pool(data)``) by hash ranking with
  ``seed``; the draw of N is the first N of the draw of the whole pool, so sizes are nested, and the same
  (ids, seed) give the same draw on every machine. Asking for more than the pool holds is an error.
- ``"1000"``: the given 1,000-point set (group ``pt_1000``; devi2024 BG and FE only).
- ``"all"``: the whole pool, in pool order.

The pool never holds a fixed test set (the protocol's contract); this is checked against the ``test`` group.
Exception, by design: protocols that set ``holdout_in_pool`` (devi2024 BG/FE, which have no test set in the
source and hold out 10 % of their pool only to score standalone runs) keep that held-out set in the pool.
"""

from __future__ import annotations

import numbers

from tasks.base import Task
from tasks.data import TaskData
from tasks.splits import _rank

GIVEN_SET = "1000"


def pretraining_ids(task: Task, data: TaskData, pt_size: int | str, seed: int) -> list[str]:
    pool = task.split.pool(data)
    if isinstance(pt_size, str) and pt_size not in ("all", GIVEN_SET):
        if not pt_size.strip().isdigit():
            raise ValueError(f"pt_size must be a number, '1000' (the given set of BG/FE) or 'all'; got {pt_size!r}")
        pt_size = int(pt_size)
    if pt_size == "all":
        ids = list(pool)
    elif pt_size == GIVEN_SET:
        if "pt_1000" not in data.groups:
            raise ValueError(f"pt_size '1000' is the given 1,000-point pre-training set, which only the BG and FE "
                             f"sources have (devi2024-bg, devi2024-fe); {task.name} has none: use a number "
                             f"(e.g. 941, drawn from its pool of {len(pool)}) or 'all'")
        ids = list(data.groups["pt_1000"])
        outside = set(ids) - set(pool)
        if outside:
            raise ValueError(f"{task.name}: {len(outside)} ids of the given set are not in the pre-training pool")
    elif isinstance(pt_size, numbers.Integral) and not isinstance(pt_size, bool):
        n = int(pt_size)
        if n < 1:
            raise ValueError(f"pt_size must be at least 1, got {n}")
        if n > len(pool):
            raise ValueError(f"pt_size={n} is larger than the pre-training pool of {task.name} ({len(pool)} "
                             f"structures); use at most {len(pool)} or 'all'")
        ids = _rank(pool, f"{seed}:pretrain")[:n]
    else:
        raise ValueError(f"pt_size must be a number, '1000' or 'all'; got {pt_size!r}")

    if not getattr(task.split, "holdout_in_pool", False):
        test = set(data.groups.get("test", ()))
        leaked = [i for i in ids if i in test]
        if leaked:
            raise ValueError(f"{task.name}: {len(leaked)} pre-training ids are in the task's test set "
                             f"(e.g. {leaked[0]}); its split protocol's pool is wrong")
    return ids
