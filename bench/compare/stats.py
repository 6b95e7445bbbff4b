"""The statistics of ``bench compare``: per candidate the mean ± std of the task's main metric over trials (or
folds), the paired difference to scratch on the same trials with a 95 % t interval and a paired t test
(``scipy.stats.ttest_rel``), a verdict read from the interval, and the one-line recommendation.

Pairing is what makes three trials informative: every candidate trains on the same FT subset (or fold) as
scratch, so the subset's own difficulty cancels in the difference. With fewer than two pairs there is no
spread to build an interval from: the interval and p are None ("n/a"), never a number.

The metric's direction comes from ``bench.metrics.METRICS`` (R² and MAD:MAE higher-is-better, MAE and RMSE
lower); "better" below always means better in that direction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

LEVEL = 0.95

LIKELY_BETTER, LIKELY_WORSE, UNDECIDED, TOO_FEW = "likely better", "likely worse", "not distinguishable", "n/a"


@dataclass(frozen=True)
class Paired:
    """Candidate − reference on the pairs both have (the pair ids: trials or folds)."""

    n: int
    mean: float | None  # mean difference, candidate − reference (None without pairs)
    ci: tuple[float, float] | None  # 95 % t interval of the mean difference; None with < 2 pairs
    p: float | None  # two-sided paired t test; None with < 2 pairs or differences that do not vary
    note: str = ""  # why ci or p is missing


@dataclass
class Row:
    label: str
    values: dict  # pair id -> metric value
    mean: float
    std: float | None  # None with one value
    paired: Paired | None = None  # None for the reference itself
    verdict: str = ""

    @property
    def n(self) -> int:
        return len(self.values)


@dataclass
class Table:
    """One FT size (or the folds): rows ranked best first, and the recommendation line."""

    metric: str
    higher_is_better: bool
    reference: str
    rows: list[Row] = field(default_factory=list)
    recommendation: str = ""
    pair_word: str = "trials"


def higher_is_better(metric: str) -> bool:
    from bench.metrics import METRICS

    if metric not in METRICS:
        raise KeyError(f"unknown metric {metric!r}; known metrics: {', '.join(METRICS)}")
    return METRICS[metric].higher_is_better


def paired(candidate: dict, reference: dict, level: float = LEVEL) -> Paired:
    """The paired difference on the pair ids both dicts hold."""
    import numpy as np
    from scipy import stats

    ids = sorted(set(candidate) & set(reference))
    a = np.array([candidate[i] for i in ids], dtype=float)
    b = np.array([reference[i] for i in ids], dtype=float)
    n = len(ids)
    if n == 0:
        return Paired(0, None, None, None, "no trial in common with scratch")
    d = a - b
    mean = float(d.mean())
    if n < 2:
        return Paired(n, mean, None, None, "one pair: no interval nor test")
    sd = float(d.std(ddof=1))
    if sd <= 1e-12 * max(1.0, float(np.abs(a).max()), float(np.abs(b).max())):
        # the same difference on every pair (up to rounding): the t statistic is undefined (scipy gives nan,
        # or for a rounding-sized spread an absurdly small p)
        return Paired(n, mean, (mean, mean), None, "the differences do not vary: no test")
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    p = float(stats.ttest_rel(a, b).pvalue)
    return Paired(n, mean, (mean - half, mean + half), p if math.isfinite(p) else None)


def verdict(p: Paired | None, hib: bool) -> str:
    """Read from the interval: wholly on the better side of zero, wholly on the worse side, or across it."""
    if p is None or p.ci is None:
        return TOO_FEW
    lo, hi = p.ci
    if lo == hi == 0:
        return UNDECIDED
    better = (lo > 0) if hib else (hi < 0)
    worse = (hi < 0) if hib else (lo > 0)
    return LIKELY_BETTER if better else LIKELY_WORSE if worse else UNDECIDED


def _mean_std(values) -> tuple[float, float | None]:
    import numpy as np

    v = np.array(list(values), dtype=float)
    return float(v.mean()), (float(v.std(ddof=1)) if len(v) > 1 else None)


def compare(values: dict[str, dict], reference: str, metric: str, pair_word: str = "trials",
            more: str | None = None) -> Table:
    """``values``: candidate label -> {pair id -> metric}. Rows ranked best mean first; the reference's row has
    no paired difference. ``more``: what to type for more pairs (e.g. "--trials 5"), for the recommendation."""
    if reference not in values or not values[reference]:
        raise ValueError(f"no result for the reference {reference!r}: nothing to pair the candidates with")
    hib = higher_is_better(metric)
    table = Table(metric, hib, reference, pair_word=pair_word)
    for label, vals in values.items():
        if not vals:
            continue
        mean, std = _mean_std(vals.values())
        row = Row(label, dict(vals), mean, std)
        if label != reference:
            row.paired = paired(vals, values[reference])
            row.verdict = verdict(row.paired, hib)
        table.rows.append(row)
    table.rows.sort(key=lambda r: -r.mean if hib else r.mean)
    table.recommendation = recommend(table, more)
    return table



METRIC_LABELS = {"mae": "MAE", "rmse": "RMSE", "r2": "R²", "mad_mae": "MAD:MAE"}


def _fmt(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 1e4 else f"{x:.4g}"


def describe_difference(row: Row, table: Table) -> str:
    """"lower MAE than scratch by 0.012 (95 % CI 0.004–0.020, p = 0.01, 3 trials)": the difference as a
    magnitude in words ("lower"/"higher"), its interval turned the same way."""
    p = row.paired
    name = METRIC_LABELS.get(table.metric, table.metric)
    up = p.mean >= 0  # the candidate's value is the higher one
    word = "higher" if up else "lower"
    s = 1 if up else -1
    interval = (f"95 % CI {_fmt(min(s * p.ci[0], s * p.ci[1]))}–{_fmt(max(s * p.ci[0], s * p.ci[1]))}"
                if p.ci else "no interval")
    pval = ("p n/a" if p.p is None else f"p {format_p(p.p)}" if p.p < 0.001 else f"p = {format_p(p.p)}")
    unit = table.pair_word if p.n != 1 else table.pair_word.rstrip("s")
    return f"{word} {name} than {table.reference} by {_fmt(abs(p.mean))} ({interval}, {pval}, {p.n} {unit})"


def format_p(p: float | None) -> str:
    if p is None:
        return "n/a"
    return f"{p:.2g}" if p >= 0.001 else "< 0.001"


def recommend(table: Table, more: str | None = None) -> str:
    """One line that says which candidate and how sure, derived from the intervals."""
    others = [r for r in table.rows if r.paired is not None]
    n = max((r.paired.n for r in others), default=0)
    hint = f"; run {more}" if more else ""
    if not others:
        return f"only {table.reference} was run: nothing to compare"
    if all(r.verdict == TOO_FEW for r in others):
        return (f"too few paired {table.pair_word} to judge ({n}; an interval needs at least 2){hint}")
    better = [r for r in others if r.verdict == LIKELY_BETTER]
    if better:
        best = better[0]  # rows are ranked by mean
        rest = [r.label for r in better[1:]]
        return (f"{best.label}: {describe_difference(best, table)} — {LIKELY_BETTER}"
                + (f" (also likely better than {table.reference}: {', '.join(rest)})" if rest else ""))
    worse = [r.label for r in others if r.verdict == LIKELY_WORSE]
    if len(worse) == len(others):
        return (f"{table.reference}: every candidate is likely worse than {table.reference} with {n} "
                f"{table.pair_word} ({', '.join(worse)})")
    return (f"no candidate is distinguishable from {table.reference} as better with {n} {table.pair_word}"
            + (f" ({', '.join(worse)} likely worse)" if worse else "") + hint)
