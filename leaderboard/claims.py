"""The paper's claims as code: for each, the comparisons that are its evidence and the rule that turns them into a
verdict (each function's docstring is the rule the replication page shows)."""

from __future__ import annotations

import math

from leaderboard.evidence import (CONTRADICTS, FAILS, HOLDS, MAIN_PT_SIZE, NOT_TESTED, OOD_TASK, PARTLY, SUPPORTS,
                                  TOO_FEW, Arm, Comparison, Observations, _paired)
from leaderboard.intervals import welch_interval

def _by_count(comps: list[Comparison]) -> tuple[str, str]:
    """The shared rule: holds when at least half of the comparisons with ≥ 2 paired trials support the claim
    and none contradicts it; partly when at least one supports it otherwise; does not hold when none does;
    not tested when no comparison has two paired trials."""
    testable = [c for c in comps if c.outcome != TOO_FEW]
    w = sum(c.outcome == SUPPORTS for c in testable)
    lost = sum(c.outcome == CONTRADICTS for c in testable)
    summary = (f"{w} of {len(testable)} comparisons with ≥ 2 paired trials support it, {lost} "
               f"contradict{'s' * (lost == 1)} it"
               + (f"; {len(comps) - len(testable)} with one trial only" if len(comps) > len(testable) else ""))
    if not testable:
        return NOT_TESTED, summary if comps else "no records of the cells it needs"
    if 2 * w >= len(testable) and lost == 0:
        return HOLDS, summary
    return (PARTLY if w else FAILS), summary


def _main_size(arm: Arm) -> bool:
    return arm.pt_size in (None, MAIN_PT_SIZE)


def _arms(obs: Observations, task, size, strategy: str, mode: str | None = "all",
          any_pt_size: bool = False) -> list[Arm]:
    return sorted({k[2] for k in obs if k[:2] == (task, size) and k[2].strategy == strategy
                   and (mode is None or k[2].ft_mode == mode) and (any_pt_size or _main_size(k[2]))},
                  key=lambda a: (a.source or "", a.pt_size or 0, a.ft_mode))  # not set order: stable rows


def _cells(obs: Observations) -> list[tuple[str, int | None]]:
    return sorted({k[:2] for k in obs}, key=lambda c: (c[0], math.inf if c[1] is None else c[1]))


def claim_a(obs: Observations, setting: str) -> list[Comparison]:
    """PT-FT beats scratch on small targets. Evidence: MAE(ptft) − MAE(scratch) for every PT-FT source (pre-trained
    on the main study's 941 structures) at every (target, N) with an FT subset (the 2D out-of-domain set
    excluded), all layers fine-tuned, paired by trial. Verdict: the shared rule."""
    out = []
    for task, size in _cells(obs):
        if size is None or task == OOD_TASK or (task, size, Arm("scratch")) not in obs:
            continue
        for arm in _arms(obs, task, size, "ptft"):
            diff = _paired(obs, (task, size, arm), (task, size, Arm("scratch")))
            if diff:
                out.append(Comparison("a", setting, task, size, f"{arm.label} − scratch", diff,
                                      key=("a", task, size, arm.kind)))
    return out


def _gain(obs: Observations, task, size, arm: Arm) -> list[float]:
    """Per trial: 100 × (MAE(scratch) − MAE(arm)) / MAE(scratch), paired by trial."""
    s, a = obs.get((task, size, Arm("scratch")), {}), obs.get((task, size, arm), {})
    return [100.0 * (s[t] - a[t]) / s[t] for t in sorted(set(s) & set(a)) if s[t]]


def claim_b(obs: Observations, setting: str) -> list[Comparison]:
    """The gain of PT-FT is largest at small N. Evidence, per target and PT-FT source: the relative MAE gain over
    scratch (%, paired by trial within each N) at the smallest N minus that at the largest N, both with ≥ 1
    paired trial, with a Welch interval (different N share no subset). Supports when the interval is above 0.
    Verdict: the shared rule over these comparisons."""
    out = []
    arms = {(k[0], k[2].kind): k[2] for k in obs
            if k[2].strategy == "ptft" and k[2].ft_mode == "all" and _main_size(k[2])}
    for (task, kind), arm in sorted(arms.items()):
        if task == OOD_TASK:
            continue
        sizes = sorted(s for s in {k[1] for k in obs if k[0] == task and k[2] == arm and k[1] is not None}
                       if _gain(obs, task, s, arm))
        if len(sizes) < 2:
            continue
        small, large = _gain(obs, task, sizes[0], arm), _gain(obs, task, sizes[-1], arm)
        out.append(Comparison("b", setting, task, None, f"{arm.label}: gain at N={sizes[0]} − gain at "
                              f"N={sizes[-1]} (% of scratch MAE)", welch_interval(small, large),
                              favours_below=False, key=("b", task, kind, sizes[0], sizes[-1])))
    return out


def claim_c(obs: Observations, setting: str) -> list[Comparison]:
    """Fine-tuning all layers beats frozen trunks. Evidence: MAE(ptft, all layers) − MAE(ptft, another mode:
    last-layer, new-head, 2-body, 3-body, …) with the same source, pre-training size, target and N, paired by
    trial. Verdict: the shared rule."""
    out = []
    for task, size in _cells(obs):
        for arm in _arms(obs, task, size, "ptft", mode=None, any_pt_size=True):
            if arm.ft_mode == "all":
                continue
            full = Arm("ptft", arm.source, arm.pt_size, "all")
            diff = _paired(obs, (task, size, full), (task, size, arm))
            if diff:
                out.append(Comparison("c", setting, task, size, f"{full.label} − {arm.label}", diff,
                                      key=("c", task, size, arm.kind)))
    return out


def claim_d(obs: Observations, setting: str) -> list[Comparison]:
    """MPT beats scratch and PT-FT on 4 of 6 targets. Evidence: MAE(mpt) − MAE(scratch) and MAE(mpt) − MAE(ptft)
    for every PT-FT source, all trunks at the main study's PT size (941 per source), at every (target, N) with an
    FT subset, all layers fine-tuned, paired by trial. Verdict: MPT wins a cell when every comparison there has
    ≥ 2 trials and supports it (at least scratch and one PT-FT source present), and wins a target when it wins
    at least half of that target's testable cells; holds when it wins ≥ 2/3 of the tested targets (the paper's
    4 of 6) with ≥ 4 targets tested; partly when it wins at least one target otherwise; does not hold when it
    wins none; not tested when no target has a testable cell."""
    out = []
    for task, size in _cells(obs):
        if size is None or task == OOD_TASK:
            continue
        for mpt in _arms(obs, task, size, "mpt"):
            for other in [Arm("scratch")] + _arms(obs, task, size, "ptft"):
                diff = _paired(obs, (task, size, mpt), (task, size, other))
                if diff:
                    out.append(Comparison("d", setting, task, size, f"{mpt.label} − {other.label}", diff,
                                          key=("d", task, size, other.kind)))
    return out


def verdict_d(comps: list[Comparison]) -> tuple[str, str]:
    """(The rule in ``claim_d``'s docstring.)"""
    cells: dict[tuple, list[Comparison]] = {}
    for c in comps:
        cells.setdefault((c.setting, c.task, c.ft_size), []).append(c)
    targets: dict[str, list[bool]] = {}
    for (_, task, _), cs in cells.items():
        whats = [c.what.split(" − ", 1)[1] for c in cs]
        if any(c.outcome == TOO_FEW for c in cs) or "scratch" not in whats or len(cs) < 2:
            continue
        targets.setdefault(task, []).append(all(c.outcome == SUPPORTS for c in cs))
    won = sorted(t for t, wins in targets.items() if 2 * sum(wins) >= len(wins))
    summary = f"MPT wins {len(won)} of {len(targets)} tested targets" + (f" ({', '.join(won)})" if won else "")
    if not targets:
        return NOT_TESTED, "no target with MPT, scratch and PT-FT on ≥ 2 paired trials" if not comps else summary
    if 3 * len(won) >= 2 * len(targets) and len(targets) >= 4:
        return HOLDS, summary
    return (PARTLY if won else FAILS), summary + ("" if len(targets) >= 4 else "; fewer than 4 targets tested")


def claim_e(obs: Observations, setting: str) -> list[Comparison]:
    """MPT generalises best to the 2D out-of-domain set. Evidence: MAE(mpt) − MAE(other) on devi2024-2d against
    every other strategy there (scratch, each PT-FT source at any PT size: the paper's 2D study pre-trains on whole
    sources; MPT at the main study's), at each N, paired by trial (by seed on the full pool). Verdict:
    holds when every comparison has ≥ 2 trials and supports it; partly when MPT's mean MAE is the lowest in
    every comparison but not every interval excludes 0 (or there is one trial only); does not hold when another
    strategy has a lower mean; not tested without MPT and another strategy on the 2D set."""
    out = []
    for task, size in _cells(obs):
        if task != OOD_TASK:
            continue
        for mpt in _arms(obs, task, size, "mpt"):
            for other in [Arm("scratch")] + _arms(obs, task, size, "ptft", any_pt_size=True):
                diff = _paired(obs, (task, size, mpt), (task, size, other))
                if diff:
                    out.append(Comparison("e", setting, task, size, f"{mpt.label} − {other.label}", diff,
                                          key=("e", size, other.kind)))
    return out


def verdict_e(comps: list[Comparison]) -> tuple[str, str]:
    """(The rule in ``claim_e``'s docstring.)"""
    if not comps:
        return NOT_TESTED, "no records of MPT and another strategy on the 2D set"
    lowest = sum(c.ours.mean < 0 for c in comps)
    summary = f"MPT's mean MAE is lower in {lowest} of {len(comps)} comparisons, " \
              f"{sum(c.outcome == SUPPORTS for c in comps)} with an interval excluding 0"
    if all(c.outcome == SUPPORTS for c in comps):
        return HOLDS, summary
    return (PARTLY if lowest == len(comps) else FAILS), summary


def claim_f(obs: Observations, setting: str) -> list[Comparison]:
    """Larger pre-training sets help. Evidence: MAE(ptft, PT size s) − MAE(ptft, smallest PT size) for every
    larger s, with the same source, target, N and mode, paired by trial. The comparison's key holds both sizes,
    so the paper's number beside ours is of the same two sizes (its 5K − 941 beside our 5,000 − 941), never of
    another pair. Verdict: the shared rule."""
    out = []
    for task, size in _cells(obs):
        groups: dict[tuple, list[Arm]] = {}
        for arm in _arms(obs, task, size, "ptft", mode=None, any_pt_size=True):
            if arm.pt_size is not None:
                groups.setdefault((arm.source, arm.ft_mode), []).append(arm)
        for _, arms in sorted(groups.items()):
            arms.sort(key=lambda a: a.pt_size)
            for big in arms[1:]:
                diff = _paired(obs, (task, size, big), (task, size, arms[0]))
                if diff:
                    out.append(Comparison("f", setting, task, size, f"{big.label} − {arms[0].label}", diff,
                                          key=("f", task, size, big.kind, big.pt_size, arms[0].pt_size)))
    return out


CLAIMS = [  # key, claim, evidence, verdict rule, the paper's studies it is checked on, what it needs
    ("a", "PT-FT beats scratch on small targets", claim_a, _by_count, ("main",),
     "ptft and scratch runs of one target and FT size, ≥ 2 trials each"),
    ("b", "The gain of PT-FT is largest at small N", claim_b, _by_count, ("main",),
     "ptft and scratch runs at two or more FT sizes of one target"),
    ("c", "Fine-tuning all layers beats frozen trunks", claim_c, _by_count, ("ft_strategy",),
     "ptft runs with --ft-mode all and another mode (last-layer, new-head, 2-body, 3-body) on the same cells"),
    ("d", "MPT beats scratch and PT-FT on 4 of 6 targets", claim_d, verdict_d, ("main",),
     "mpt, scratch and ptft runs on the same cells of several targets"),
    ("e", "MPT generalises best to the 2D out-of-domain set", claim_e, verdict_e, ("ood_2d",),
     "mpt and other strategies on devi2024-2d"),
    ("f", "Larger pre-training sets help", claim_f, _by_count, ("main", "pt_size"),
     "ptft runs of one source at two or more --pt-size values on the same cells"),
]

