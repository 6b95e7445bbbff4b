"""The vocabulary of the replication check: verdicts and outcomes, an arm (one way of training), a comparison
(one piece of paired evidence) and the observations the claims read (``leaderboard.claims``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from leaderboard.intervals import Interval, t_interval


HOLDS, PARTLY, FAILS, NOT_TESTED = "holds", "partly", "does not hold", "not tested"
SUPPORTS, CONTRADICTS, INCONCLUSIVE, TOO_FEW = "supports", "contradicts", "inconclusive", "too few trials"
OOD_TASK = "devi2024-2d"
# The paper's main study pre-trains on 941 structures per source (its MPT trunks: 941 of each property). Claims
# (a), (b), (d) and (e) compare arms at that size (or a shipped foundation trunk's, which has none); a run at
# another PT size is evidence for (f) and (c) only, so one target's cell is never judged on two MPT trunks.
MAIN_PT_SIZE = 941.0
PAPER_BACKBONE = "alignn"
PAPER_MODES = {"ALL-UF": "all", "": "all", "LAST-LAY": "last-layer", "NPH": "new-head", "2B": "2-body",
               "3B": "3-body"}


@dataclass(frozen=True)
class Arm:
    """One way of training, as the claims name it."""

    strategy: str  # scratch | ptft | mpt
    source: str | None = None  # ptft: the source task
    pt_size: float | None = None  # pre-training structures per source (inf: the whole pool)
    ft_mode: str = "all"

    @property
    def kind(self) -> str:
        """What the paper's table is matched on (pre-training sizes differ between our budgets and theirs)."""
        name = f"ptft ← {self.source}" if self.strategy == "ptft" else self.strategy
        return name + ("" if self.ft_mode == "all" else f" · {self.ft_mode}")

    @property
    def label(self) -> str:
        if self.strategy == "scratch":
            return "scratch"
        size = "" if self.pt_size is None else f" ({'all' if math.isinf(self.pt_size) else f'{self.pt_size:g}'})"
        name = f"ptft ← {self.source}{size}" if self.strategy == "ptft" else f"{self.strategy}{size}"
        return name + ("" if self.ft_mode == "all" else f" · {self.ft_mode}")


# (task, FT size or None for the full set, arm) -> trial -> MAE
Observations = dict[tuple[str, int | None, Arm], dict[int, float]]


@dataclass
class Comparison:
    """One piece of evidence: ``better`` against ``other`` on one cell; ``ours`` is the interval of
    MAE(better) − MAE(other) (claim (b): the gain at the smallest N minus the gain at the largest, in %)."""

    claim: str
    setting: str
    task: str
    ft_size: int | None
    what: str
    ours: Interval
    favours_below: bool = True  # the claim's side of 0
    paper: Interval | None = None
    key: tuple = ()  # identity on the paper's side

    @property
    def backbone(self) -> str:
        return self.setting.split(" · ")[0]

    @property
    def outcome(self) -> str:
        i = self.ours
        if not math.isfinite(i.low):
            return TOO_FEW
        below, above = i.high < 0, i.low > 0
        if (below and self.favours_below) or (above and not self.favours_below):
            return SUPPORTS
        return CONTRADICTS if below or above else INCONCLUSIVE



def _paired(obs: Observations, a: tuple, b: tuple) -> Interval | None:
    """MAE(a) − MAE(b) over the trials both have."""
    ta, tb = obs.get(a, {}), obs.get(b, {})
    common = sorted(set(ta) & set(tb))
    return t_interval([ta[t] - tb[t] for t in common]) if common else None

