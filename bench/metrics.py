"""Regression metrics; each knows whether higher is better.

MAD:MAE is the mean absolute deviation of the targets around their mean divided by the model's MAE: how
much better than predicting the mean (> 1 is better than the mean; the ALIGNN/JARVIS papers report it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


def mae(y_true, y_pred) -> float:
    y_true, y_pred = _arrays(y_true, y_pred)
    return float(np.mean(np.abs(y_true - y_pred)))


def rmse(y_true, y_pred) -> float:
    y_true, y_pred = _arrays(y_true, y_pred)
    return float(np.sqrt(np.mean((y_true - y_pred) ** 2)))


def r2(y_true, y_pred) -> float:
    r"""Coefficient of determination :math:`1 - \sum (y-\hat y)^2 / \sum (y - \bar y)^2`."""
    y_true, y_pred = _arrays(y_true, y_pred)
    ss_res = np.sum((y_true - y_pred) ** 2)
    ss_tot = np.sum((y_true - y_true.mean()) ** 2)
    if ss_tot == 0:
        return 1.0 if ss_res == 0 else 0.0  # scikit-learn's convention for constant targets
    return float(1.0 - ss_res / ss_tot)


def mad_mae(y_true, y_pred) -> float:
    y_true, y_pred = _arrays(y_true, y_pred)
    err = mae(y_true, y_pred)
    mad = float(np.mean(np.abs(y_true - y_true.mean())))
    return mad / err if err > 0 else float("inf")


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable[[np.ndarray, np.ndarray], float]
    higher_is_better: bool

    def __call__(self, y_true, y_pred) -> float:
        return self.fn(y_true, y_pred)

    def better(self, a: float, b: float) -> bool:
        """Is score ``a`` better than ``b``?"""
        return a > b if self.higher_is_better else a < b


METRICS: dict[str, Metric] = {
    "mae": Metric("mae", mae, higher_is_better=False),
    "rmse": Metric("rmse", rmse, higher_is_better=False),
    "r2": Metric("r2", r2, higher_is_better=True),
    "mad_mae": Metric("mad_mae", mad_mae, higher_is_better=True),
}


def evaluate(y_true, y_pred) -> dict[str, float]:
    """Every metric of ``METRICS`` on one target."""
    return {name: metric(y_true, y_pred) for name, metric in METRICS.items()}


# A task's declared target transform (``Task.target_transform``) and its inverse, to report errors in the
# property's own units as well (a log10 task's MAE in decades says little to a user thinking in C/m²).
INVERSE_TRANSFORMS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"log10": lambda v: np.power(10.0, v)}


def untransformed(transform: str, y_true, y_pred) -> dict[str, float]:
    """Every metric after mapping targets and predictions back through the inverse of ``transform``."""
    if transform not in INVERSE_TRANSFORMS:
        raise ValueError(f"no inverse known for target transform {transform!r}; known: {', '.join(INVERSE_TRANSFORMS)}")
    inverse = INVERSE_TRANSFORMS[transform]
    a, b = _arrays(y_true, y_pred)
    return evaluate(inverse(a), inverse(b))


def untransformed_units(transform: str, units: str) -> str:
    """``log10(C/m²)`` → ``C/m²``: the units a task's values have before its transform."""
    prefix = f"{transform}("
    return units[len(prefix):-1] if units.startswith(prefix) and units.endswith(")") else units


def _arrays(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(y_true, dtype=np.float64).ravel()
    b = np.asarray(y_pred, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"y_true has {a.size} values, y_pred {b.size}")
    if a.size == 0:
        raise ValueError("metrics need at least one value")
    return a, b
