"""Target values a model can train on: finite numbers, with errors that name the dataset and the bad ids."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


class TargetError(ValueError):
    """Target values that cannot be used (NaN, ±inf or non-numeric)."""

    def __init__(self, source: str, problem: str, bad_ids: Sequence[Any] = ()):
        self.source = str(source)
        self.problem = problem
        self.bad_ids = list(bad_ids)
        super().__init__(f"{self.source}: {problem}")

    def __reduce__(self):
        return (type(self), (self.source, self.problem, self.bad_ids))


def check_targets(values, ids, source: str = "<dataset>") -> None:
    """Raise TargetError if any target is NaN, ±inf or non-numeric (None, "na").

    `values` is one value per id, or one row per id (multi-property); the message gives the count of bad
    entries, the total and up to 5 offending ids.
    """
    ids = list(ids)
    rows = _target_rows(values)
    if len(rows) != len(ids):
        raise ValueError(f"{source}: {len(rows)} target values but {len(ids)} ids")
    if rows.size == 0:
        return
    bad = ~np.isfinite(rows).all(axis=1)
    n_bad = int(bad.sum())
    if n_bad:
        bad_ids = [ids[i] for i in np.flatnonzero(bad)[:5]]
        more = ", ..." if n_bad > 5 else ""
        shown = ", ".join(map(str, bad_ids))
        raise TargetError(
            source,
            f"{n_bad} of {len(ids)} target values are NaN, infinite or missing (ids: {shown}{more})",
            bad_ids,
        )


def _target_rows(values) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        # Non-numeric entries ("na", None in a nested list) or ragged rows count as bad rather than crashing.
        rows = [_float_row(v) for v in values]
        width = max((len(r) for r in rows), default=1)
        arr = np.array([r if len(r) == width else np.full(width, np.nan) for r in rows], dtype=float)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    return arr.reshape(len(arr), -1) if arr.size else arr.reshape(len(arr), 0)


def _float_row(v) -> np.ndarray:
    try:
        return np.asarray(v, dtype=float).ravel()
    except (TypeError, ValueError):
        return np.array([np.nan])
