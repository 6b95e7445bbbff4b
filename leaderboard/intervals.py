"""Confidence intervals of mean differences: the evidence of the replication page (``leaderboard.replication``)."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass


@dataclass
class Interval:
    mean: float
    low: float  # nan below two values
    high: float
    n: int

    def text(self, digits: int = 3) -> str:
        if not math.isfinite(self.low):
            return f"{self.mean:+.{digits}g} (n={self.n})"
        return f"{self.mean:+.{digits}g} [{self.low:+.{digits}g}, {self.high:+.{digits}g}] (n={self.n})"


def t_interval(values: list[float], level: float = 0.95) -> Interval:
    """Mean and two-sided t-interval of paired differences (nan bounds below two values)."""
    n = len(values)
    mean = statistics.fmean(values)
    if n < 2:
        return Interval(mean, math.nan, math.nan, n)
    from scipy.stats import t

    half = float(t.ppf(0.5 + level / 2, n - 1)) * statistics.stdev(values) / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


def welch_interval(a: list[float], b: list[float], level: float = 0.95) -> Interval:
    """mean(a) − mean(b) with a Welch t-interval (two independent samples: different FT sizes share no
    subset, so they are not paired)."""
    diff, n = statistics.fmean(a) - statistics.fmean(b), min(len(a), len(b))
    if n < 2:
        return Interval(diff, math.nan, math.nan, n)
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return Interval(diff, diff, diff, n)
    from scipy.stats import t

    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = float(t.ppf(0.5 + level / 2, df)) * se
    return Interval(diff, diff - half, diff + half, n)
