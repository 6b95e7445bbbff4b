"""Does the paper replicate? Each claim of Devi et al. (2024), checked against our records with a rule written
here, never typed in.

The evidence is paired: two ways of training compared on the same target, FT size and trial (the trial fixes
the fine-tuning subset, the same file for every strategy), as a difference of test MAE (lower is better) with a
95 % t-interval over trials. On the full training pool there is no subset to draw, so there the seed (which
draws the pre-training set, the initialisation and the batch order) is the replicate instead of the trial. A
comparison *supports* a claim when its interval lies wholly on the claim's side of 0, *contradicts* it when wholly
on the other side, is *inconclusive* otherwise, and has *too few trials* below two paired trials (no interval). Each claim's rule (its function's docstring) turns its comparisons into a verdict:
holds / partly / does not hold / not tested — the last when no comparison it needs has two paired trials.

The same rules run on the paper's own per-run table (``leaderboard/paper``), and every comparison of ours shows
the paper's numbers on the same cell. Here: the observations (records and the paper's table) and the evaluation;
the claims and their rules are ``leaderboard.claims``, the vocabulary ``leaderboard.evidence``. Pure functions
over records and the table; no HTML here.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from leaderboard.boards import is_baseline, settings_fingerprint
from leaderboard.claims import CLAIMS, _by_count
from leaderboard.evidence import (CONTRADICTS, FAILS, HOLDS, INCONCLUSIVE, MAIN_PT_SIZE, NOT_TESTED, OOD_TASK,
                                  PAPER_BACKBONE, PAPER_MODES, PARTLY, SUPPORTS, TOO_FEW, Arm, Comparison,
                                  Observations)
from leaderboard.leakage import saw_target_property
from leaderboard.records import Run
from leaderboard.reference import TASK_OF_CODE, read_rows

__all__ = ["CONTRADICTS", "FAILS", "HOLDS", "INCONCLUSIVE", "MAIN_PT_SIZE", "NOT_TESTED", "OOD_TASK", "PARTLY",
           "SUPPORTS", "TOO_FEW", "Arm", "ClaimResult", "Comparison", "comparison_rows", "evaluate", "observations",
           "paper_observations"]



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
    recipes) → (task, N, arm) → replicate (``Run.replicate``). Baseline models and trunks that saw the target's
    property are left out; on a subset, several seeds of one trial are averaged (they share the subset, so they
    are not independent draws of it)."""
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
        cell.setdefault(run.replicate, []).append(float(run.metrics["mae"]))
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
