"""Split protocols: which records are test, train and validation for one run.

A run picks its split with ``ft_size`` and ``trial`` (fine-tuning subsets, as in Devi et al.) or ``fold``
(Matbench-style cross-validation). Every protocol is deterministic: the same data gives the same ids on every
machine and library version (membership is decided by hashing ids, or by the source's own files).
"""

from __future__ import annotations

import abc
import hashlib
from dataclasses import dataclass

from tasks.data import TaskData

PAPER_FT_SIZES = (10, 100, 200, 500, 800)
PAPER_TRIALS = 5


def _rank(ids, salt: str) -> list[str]:
    return sorted(ids, key=lambda i: hashlib.sha256(f"{salt}:{i}".encode()).hexdigest())


def _train_val(ids: list[str], val_fraction: float) -> dict[str, list[str]]:
    """The paper's rule: the first (1 - f) in order train, the rest validate (at least one of each when possible)."""
    n_val = max(1, round(val_fraction * len(ids))) if len(ids) > 1 else 0
    return {"train": ids[: len(ids) - n_val], "val": ids[len(ids) - n_val:]}


class SplitProtocol(abc.ABC):
    ft_sizes: tuple[int, ...] = PAPER_FT_SIZES
    trials: int = PAPER_TRIALS

    @abc.abstractmethod
    def assign(self, data: TaskData, ft_size: int | None = None, trial: int = 1,
               fold: int | None = None) -> dict[str, list[str]]:
        """``{"train": [...], "val": [...], "test": [...]}`` of record ids."""

    @abc.abstractmethod
    def describe(self) -> str:
        """One line for task cards."""

    def pool(self, data: TaskData) -> list[str]:
        """Every id that is not in the fixed test set (what pre-training may use)."""
        split = self.assign(data)
        return split["train"] + split["val"]

    def _check(self, ft_size, trial, available: int) -> None:
        if trial < 1 or trial > self.trials:
            raise ValueError(f"trial must be in 1..{self.trials}, got {trial}")
        if ft_size is not None and (ft_size < 2 or ft_size > available):
            raise ValueError(f"ft_size must be in 2..{available} for this task, got {ft_size}")


@dataclass(frozen=True)
class RandomSplit(SplitProtocol):
    """A fixed seeded test fraction; the rest is the pool. Without ``ft_size`` the whole pool is split
    train/validation; with it, ``ft_size`` records are drawn from the pool for ``trial`` (the draws of one
    trial are nested: the 100 of trial 1 contain its 10) and split 90/10 in draw order."""

    test_fraction: float = 0.1
    val_fraction: float = 0.1
    seed: int = 42
    ft_sizes: tuple[int, ...] = PAPER_FT_SIZES
    trials: int = PAPER_TRIALS

    def assign(self, data, ft_size=None, trial=1, fold=None):
        if fold is not None:
            raise ValueError("this task has a fixed test set, not cross-validation folds")
        ranked = _rank(data.ids, str(self.seed))
        n_test = round(self.test_fraction * len(ranked))
        test, pool = ranked[:n_test], ranked[n_test:]
        self._check(ft_size, trial, len(pool))
        if ft_size is None:
            return {**_train_val(_rank(pool, f"{self.seed}:val"), self.val_fraction), "test": test}
        chosen = _rank(pool, f"{self.seed}:trial{trial}")[:ft_size]
        return {**_train_val(chosen, self.val_fraction), "test": test}

    def describe(self):
        return (f"fixed test {self.test_fraction:.0%} (seed {self.seed}); FT sizes "
                f"{', '.join(map(str, self.ft_sizes))} x {self.trials} trials from the rest, 90/10 train/val")


@dataclass(frozen=True)
class KFoldSplit(SplitProtocol):
    """Matbench-style cross-validation: ``KFold(n_splits, shuffle=True, random_state)`` over the records in
    source order; validation is 10 % of the training folds."""

    n_splits: int = 5
    random_state: int = 18012019
    val_fraction: float = 0.1
    ft_sizes: tuple[int, ...] = ()
    trials: int = 1

    def assign(self, data, ft_size=None, trial=1, fold=None):
        from sklearn.model_selection import KFold

        if ft_size is not None:
            raise ValueError("cross-validation tasks take --fold, not --ft-size")
        fold = 0 if fold is None else fold
        if not 0 <= fold < self.n_splits:
            raise ValueError(f"fold must be in 0..{self.n_splits - 1}, got {fold}")
        ids = data.ids
        train_idx, test_idx = list(KFold(self.n_splits, shuffle=True, random_state=self.random_state).split(ids))[fold]
        rest = _rank([ids[i] for i in train_idx], f"{self.random_state}:val")
        return {**_train_val(rest, self.val_fraction), "test": [ids[i] for i in test_idx]}

    def pool(self, data):
        return list(data.ids)

    def describe(self):
        return f"{self.n_splits}-fold CV (KFold shuffle, random_state={self.random_state})"


@dataclass(frozen=True)
class GroupSplit(SplitProtocol):
    """Splits given by the source itself as named groups of ids (e.g. the paper's files): ``test`` and
    ``ft_{size}_t{trial}`` in file order, 90/10 train/validation in that order; ``pool`` for pre-training."""

    val_fraction: float = 0.1
    ft_sizes: tuple[int, ...] = PAPER_FT_SIZES
    trials: int = PAPER_TRIALS
    default_group: str | None = None  # the subset used when no ft_size is given (None: the whole pool)

    def assign(self, data, ft_size=None, trial=1, fold=None):
        if fold is not None:
            raise ValueError("this task has a fixed test set, not cross-validation folds")
        test = data.groups.get("test", [])
        if ft_size is None:
            chosen = data.groups[self.default_group] if self.default_group else self.pool(data)
        else:
            if trial < 1 or trial > self.trials:
                raise ValueError(f"trial must be in 1..{self.trials}, got {trial}")
            name = f"ft_{ft_size}_t{trial}"
            if name not in data.groups:
                raise ValueError(f"no fine-tuning subset of size {ft_size} (trial {trial}); sizes: "
                                 f"{', '.join(map(str, self.ft_sizes))}")
            chosen = data.groups[name]
        return {**_train_val(list(chosen), self.val_fraction), "test": list(test)}

    def pool(self, data):
        if "pool" in data.groups:
            return list(data.groups["pool"])
        test = set(data.groups.get("test", []))
        return [i for i in data.ids if i not in test]

    def describe(self):
        return (f"the source's own files: fixed test set; FT subsets {', '.join(map(str, self.ft_sizes))} x "
                f"{self.trials} trials, 90/10 train/val in file order")
