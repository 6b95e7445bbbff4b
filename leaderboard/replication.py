"""Does the paper replicate? Each claim of Devi et al. (2024), checked against our records with a rule written
here, never typed in.

The evidence is paired: two ways of training compared on the same target, FT size and trial (the trial fixes
the fine-tuning subset, the same file for every strategy), as a difference of test MAE (lower is better) with a
95 % t-interval over trials. A comparison *supports* a claim when its interval lies wholly on the claim's side of
0, *contradicts* it when wholly on the other side, is *inconclusive* otherwise, and has *too few trials* below two
paired trials (no interval). Each claim's rule (its function's docstring) turns its comparisons into a verdict:
holds / partly / does not hold / not tested — the last when no comparison it needs has two paired trials.

The same rules run on the paper's own per-run table (``leaderboard/paper``), and every comparison of ours shows
the paper's numbers on the same cell. Pure functions over records and the table; no HTML here.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from leaderboard.boards import is_baseline, settings_fingerprint
from leaderboard.intervals import Interval, t_interval, welch_interval
from leaderboard.leakage import saw_target_property
from leaderboard.records import Run
from leaderboard.reference import TASK_OF_CODE, read_rows

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


@dataclass
class ClaimResult:
    key: str
    claim: str
    rule: str
    needs: str
    verdict: str
    summary: str
    comparisons: list[Comparison] = field(default_factory=list)
    paper_verdict: str = NOT_TESTED
    paper_summary: str = ""
    # (backbone, verdict, summary) for each backbone but the paper's: the same rule on its comparisons alone
    other_backbones: list[tuple[str, str, str]] = field(default_factory=list)


# --------------------------------------------------------------------------------------------- observations


def _setting(run: Run, fingerprints: dict) -> str:
    name = f"{run.backbone} · {run.budget}"
    if len(fingerprints.get((run.backbone, run.budget), ())) > 1:
        name += f" · settings {settings_fingerprint(run)}"
    return name


def _pt_size(value) -> float | None:
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip().upper()
    if text in ("ALL", "FULL"):
        return math.inf
    if text.endswith("K") and text[:-1].isdigit():
        return float(text[:-1]) * 1000
    return float(text) if text.replace(".", "", 1).isdigit() else None


def observations(runs: list[Run]) -> dict[str, Observations]:
    """Our MAE per setting (backbone · budget, and the settings hash when one backbone and budget hold several
    recipes) → (task, N, arm) → trial. Baseline models and trunks that saw the target's property are left out;
    several seeds of one trial are averaged."""
    fingerprints: dict[tuple, set] = {}
    for run in runs:
        fingerprints.setdefault((run.backbone, run.budget), set()).add(settings_fingerprint(run))
    raw: dict[str, dict[tuple, dict[int, list[float]]]] = {}
    for run in runs:
        if is_baseline(run.backbone) or "mae" not in run.metrics or run.strategy not in ("scratch", "ptft", "mpt"):
            continue
        if run.strategy != "scratch" and saw_target_property(run):
            continue
        pt = run.pretrain
        arm = Arm(run.strategy, pt.get("source") if run.strategy == "ptft" else None,
                  None if run.strategy == "scratch" else _pt_size(pt.get("pt_size")),
                  "all" if run.strategy == "scratch" else run.ft_mode)
        cell = raw.setdefault(_setting(run, fingerprints), {}).setdefault((run.task, run.ft_size, arm), {})
        cell.setdefault(run.trial, []).append(float(run.metrics["mae"]))
    return {s: {k: {t: statistics.fmean(v) for t, v in trials.items()} for k, trials in cells.items()}
            for s, cells in raw.items()}


def paper_observations(csv_path: Path, studies: tuple[str, ...]) -> Observations:
    """The paper's MAE (its min-max scaled units, as our devi2024 tasks) of the given studies."""
    out: Observations = {}
    for r in read_rows(csv_path):
        if r["study"] not in studies or r["target"] not in TASK_OF_CODE or r.get("ft_mode", "") not in PAPER_MODES:
            continue
        strategy = r["strategy"]
        source = TASK_OF_CODE.get(r["pt_source"], r["pt_source"]) if strategy == "ptft" else None
        pt = None if strategy == "scratch" else _pt_size(r["pt_size"]) if strategy == "ptft" else 941.0
        arm = Arm(strategy, source, pt, "all" if strategy == "scratch" else PAPER_MODES[r.get("ft_mode", "")])
        size = int(r["ft_size"]) or None
        out.setdefault((TASK_OF_CODE[r["target"]], size, arm), {})[int(r["trial"])] = float(r["mae_norm"])
    return out


def _paired(obs: Observations, a: tuple, b: tuple) -> Interval | None:
    """MAE(a) − MAE(b) over the trials both have."""
    ta, tb = obs.get(a, {}), obs.get(b, {})
    common = sorted(set(ta) & set(tb))
    return t_interval([ta[t] - tb[t] for t in common]) if common else None


# --------------------------------------------------------------------------------------------- the claims


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
                  key=lambda a: (a.source or "", a.pt_size or 0))


def _cells(obs: Observations) -> list[tuple[str, int | None]]:
    return sorted({k[:2] for k in obs}, key=lambda c: (c[0], math.inf if c[1] is None else c[1]))


def claim_a(obs: Observations, setting: str) -> list[Comparison]:
    """PT-FT beats scratch on small targets. Evidence: MAE(ptft) − MAE(scratch) for every PT-FT source (pre-trained
    on the main study's 941 structures) at every (target, N) with an FT subset (the 2D out-of-domain set excluded), all layers fine-tuned, paired by trial.
    Verdict: the shared rule."""
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
    for every PT-FT source, all trunks at the main study's PT size (941 per source), at every (target, N) with an FT subset, all layers fine-tuned, paired by trial.
    Verdict: MPT wins a cell when every comparison there has ≥ 2 trials and supports it (at
    least scratch and one PT-FT source present), and wins a target when it wins at least half of that target's
    testable cells; holds when it wins ≥ 2/3 of the tested targets (the paper's 4 of 6) with ≥ 4 targets
    tested; partly when it wins at least one target otherwise; does not hold when it wins none; not tested when
    no target has a testable cell."""
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
    sources; MPT at the main study's), at each N, paired by trial. Verdict:
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
    """Larger pre-training sets help. Evidence: MAE(ptft, largest PT size) − MAE(ptft, smallest PT size) with
    the same source, target, N and mode, paired by trial. Verdict: the shared rule."""
    out = []
    for task, size in _cells(obs):
        groups: dict[tuple, list[Arm]] = {}
        for arm in _arms(obs, task, size, "ptft", mode=None, any_pt_size=True):
            if arm.pt_size is not None:
                groups.setdefault((arm.source, arm.ft_mode), []).append(arm)
        for (source, _), arms in sorted(groups.items()):
            if len(arms) < 2:
                continue
            arms.sort(key=lambda a: a.pt_size)
            diff = _paired(obs, (task, size, arms[-1]), (task, size, arms[0]))
            if diff:
                out.append(Comparison("f", setting, task, size, f"{arms[-1].label} − {arms[0].label}", diff,
                                      key=("f", task, size, arms[-1].kind)))
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


def _rule(evidence, verdict) -> str:
    """The docstrings, less the claim itself (their first sentence): the rule is shown as it is coded."""
    doc = " ".join((evidence.__doc__ or "").split()).split(". ", 1)[-1]
    if verdict is _by_count:
        doc += " Shared rule: " + " ".join(_by_count.__doc__.split()).removeprefix("The shared rule: ")
    return doc


def evaluate(runs: list[Run], reference_csv: Path | None) -> list[ClaimResult]:
    """Every claim: our comparisons (each with the paper's on the same cell), our verdict, the paper's."""
    ours = observations(runs)
    results = []
    for key, text, evidence, verdict, studies, needs in CLAIMS:
        comps = [c for setting, obs in sorted(ours.items()) for c in evidence(obs, setting)]
        paper_comps: list[Comparison] = []
        if reference_csv is not None:
            paper_comps = evidence(paper_observations(reference_csv, studies), "paper")
            by_key = {c.key: c.ours for c in paper_comps}
            for c in comps:  # the paper's runs are ALIGNN's: another backbone's comparison has no paper cell
                c.paper = by_key.get(c.key) if c.backbone == PAPER_BACKBONE else None
        # The claims are about the paper's architecture: its verdict is judged on ALIGNN's comparisons; every other
        # backbone gets its own (is the best transfer strategy the same for every architecture?), never pooled.
        v, summary = verdict([c for c in comps if c.backbone == PAPER_BACKBONE])
        result = ClaimResult(key, text, _rule(evidence, verdict), needs, v, summary, comps)
        result.other_backbones = [(b, *verdict([c for c in comps if c.backbone == b]))
                                  for b in sorted({c.backbone for c in comps} - {PAPER_BACKBONE})]
        if reference_csv is not None:
            result.paper_verdict, result.paper_summary = verdict(paper_comps)
        results.append(result)
    return results


def comparison_rows(results: list[ClaimResult]) -> list[dict[str, str]]:
    """The evidence table, as text (the page and ``bench leaderboard replication`` show the same)."""
    rows = []
    for r in results:
        for c in r.comparisons:
            rows.append({"claim": f"({r.key})", "setting": c.setting, "target": c.task,
                         "N": str(c.ft_size) if c.ft_size is not None else "full" if r.key == "e" else "—",
                         "comparison": c.what, "ours": c.ours.text(), "outcome": c.outcome,
                         "paper": c.paper.text() if c.paper else "—"})
    return rows
