"""The floor of every table: predict the training set's mean target for every structure."""

from __future__ import annotations

from typing import Any

import numpy as np


class MeanBaseline:
    name = "mean"
    kind = "baseline"
    features = None  # reads no input: only the training targets
    reads = "nothing (the training targets' mean)"
    citation = "—"
    licence = "MIT (this repository)"

    def __init__(self, seed: int = 0):
        self.seed = seed  # nothing random; kept so every baseline is built the same way
        self.mean_: float | None = None

    @classmethod
    def hyper_parameters(cls) -> dict[str, Any]:
        return {}

    @classmethod
    def size(cls) -> str:
        return "n/a (1 value)"

    def fit(self, x: np.ndarray, y: np.ndarray) -> "MeanBaseline":
        self.mean_ = float(np.mean(np.asarray(y, dtype=np.float64)))
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.mean_ is None:
            raise RuntimeError("MeanBaseline.predict before fit")
        return np.full(len(x), self.mean_, dtype=np.float64)

    def info(self) -> dict[str, Any]:
        return {"train_mean": self.mean_}
