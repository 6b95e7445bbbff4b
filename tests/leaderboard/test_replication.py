"""The replication page's logic: every claim's verdict computed from synthetic records (each verdict of each
rule), the paper's numbers on the same cells, today's committed records, the page and the CLI."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from leaderboard.build import DEFAULT_RESULTS, SHIPPED, build_site
from leaderboard.records import Run, load_records
from leaderboard.replication import (CONTRADICTS, FAILS, HOLDS, INCONCLUSIVE, NOT_TESTED, PARTLY, SUPPORTS,
                                     TOO_FEW, evaluate)
from tests.leaderboard.test_backbones import as_backbone
from tests.leaderboard.test_build import MPT_PZ, make_record, write_records, write_reference

PZ, DC, PH, GV, TWO_D = "devi2024-pz", "devi2024-dc", "devi2024-ph", "devi2024-gv", "devi2024-2d"
_ids = itertools.count()
NOISE = (0.0, 0.001, -0.001, 0.0005, -0.0005)  # per trial: keeps the paired intervals narrow but not empty


def rec(task, strategy, n, trial, mae, *, source=None, ft_mode="all", pt_size=None, backbone=None, seed=0) -> dict:
    r = make_record(task, strategy, n, trial, skill=0.5, source=source, ft_mode=ft_mode, seed=seed,
                    sources=[s for s in MPT_PZ + [PZ] if s != task] if strategy == "mpt" else None)
    r["test_metrics"]["mae"] = mae
    if pt_size is not None:
        r["config"]["pretrain"]["pt_size"] = pt_size
    r["run_key"] = f"{next(_ids):012x}"
    return as_backbone(r, backbone) if backbone else r


def cell(task, n, maes: dict, trials=(1, 2, 3)) -> list[dict]:
    """Records of one (task, N): ``maes`` maps (strategy, source, ft_mode, pt_size) to a base MAE. On the full
    pool (N None) the replicates are seeds 0, 1, … of trial 1, as ``bench sweep --ft-sizes all --seed S`` makes."""
    out = []
    for (strategy, source, mode, pt), base in maes.items():
        for t in trials:
            out.append(rec(task, strategy, n, 1 if n is None else t, base + NOISE[t - 1] * (strategy != "scratch"),
                           source=source, ft_mode=mode, pt_size=pt, seed=t - 1 if n is None else 0))
    return out


S, FE, BG, M = ("scratch", None, "all", None), ("ptft", "devi2024-fe", "all", None), \
    ("ptft", "devi2024-bg", "all", None), ("mpt", None, "all", None)


def verdicts(records: list[dict], reference: Path | None = None) -> dict:
    runs = [Run(Path(f"r{i}.json"), r) for i, r in enumerate(records)]
    return {c.key: c for c in evaluate(runs, reference)}


def test_claim_a_every_verdict():
    holds = verdicts(cell(PZ, 100, {S: 0.10, FE: 0.08}) + cell(DC, 100, {S: 0.10, FE: 0.09}))["a"]
    assert holds.verdict == HOLDS and [c.outcome for c in holds.comparisons] == [SUPPORTS, SUPPORTS]
    assert holds.summary.startswith("2 of 2 comparisons")
    partly = verdicts(cell(PZ, 100, {S: 0.10, FE: 0.08}) + cell(DC, 100, {S: 0.10, FE: 0.12}))["a"]
    assert partly.verdict == PARTLY and sorted(c.outcome for c in partly.comparisons) == [CONTRADICTS, SUPPORTS]
    wide = [rec(PZ, "scratch", 100, t, 0.10) for t in (1, 2, 3)] + \
           [rec(PZ, "ptft", 100, t, m, source="devi2024-fe") for t, m in [(1, 0.05), (2, 0.15), (3, 0.10)]]
    fails = verdicts(wide)["a"]
    assert fails.verdict == FAILS and fails.comparisons[0].outcome == INCONCLUSIVE
    one_trial = verdicts(cell(PZ, 100, {S: 0.10, FE: 0.08}, trials=(1,)))["a"]
    assert one_trial.verdict == NOT_TESTED and one_trial.comparisons[0].outcome == TOO_FEW
    assert "1 with one trial only" in one_trial.summary
    nothing = verdicts(cell(PZ, 100, {S: 0.10}))["a"]
    assert nothing.verdict == NOT_TESTED and nothing.summary == "no records of the cells it needs"


def test_claim_b_gain_largest_at_small_n():
    small_first = cell(PZ, 10, {S: 0.20, FE: 0.10}) + cell(PZ, 800, {S: 0.05, FE: 0.048})
    b = verdicts(small_first)["b"]
    assert b.verdict == HOLDS and b.comparisons[0].ours.mean == pytest.approx(50 - 4, abs=1)
    assert "N=10" in b.comparisons[0].what and "N=800" in b.comparisons[0].what
    reversed_ = cell(PZ, 10, {S: 0.20, FE: 0.19}) + cell(PZ, 800, {S: 0.05, FE: 0.03})
    assert verdicts(reversed_)["b"].verdict == FAILS
    assert verdicts(cell(PZ, 800, {S: 0.05, FE: 0.03}))["b"].verdict == NOT_TESTED  # one FT size only


def test_claim_c_all_layers_against_frozen_modes():
    frozen = ("ptft", "devi2024-fe", "last-layer", None)
    assert verdicts(cell(PZ, 100, {FE: 0.08, frozen: 0.10}))["c"].verdict == HOLDS
    assert verdicts(cell(PZ, 100, {FE: 0.12, frozen: 0.10}))["c"].verdict == FAILS
    assert verdicts(cell(PZ, 100, {S: 0.1, FE: 0.08}))["c"].verdict == NOT_TESTED


def test_rows_come_in_a_fixed_order():
    # one source and PT size, several modes: ordered by mode name, not by hash order, so pages do not churn
    modes = ("new-head", "3-body", "last-layer", "2-body", "all-but-embedding")
    frozen = {("ptft", "devi2024-fe", m, None): 0.10 for m in modes}
    c = verdicts(cell(PZ, 100, {FE: 0.08, **frozen}))["c"].comparisons
    assert [x.what.rsplit("· ", 1)[1] for x in c] == sorted(modes)


def test_claim_d_counts_targets():
    wins = {S: 0.10, FE: 0.09, BG: 0.095, M: 0.07}
    four = [r for task in (PZ, DC, PH, GV) for r in cell(task, 100, wins)]
    d = verdicts(four)["d"]
    assert d.verdict == HOLDS and d.summary.startswith("MPT wins 4 of 4 tested targets")
    two = [r for task in (PZ, DC) for r in cell(task, 100, wins)]
    partly = verdicts(two)["d"]
    assert partly.verdict == PARTLY and "fewer than 4 targets tested" in partly.summary
    loses = {S: 0.10, FE: 0.06, M: 0.07}  # beats scratch, not PT-FT
    assert verdicts([r for task in (PZ, DC, PH, GV) for r in cell(task, 100, loses)])["d"].verdict == FAILS
    assert verdicts(cell(PZ, 100, {S: 0.1, FE: 0.09}))["d"].verdict == NOT_TESTED


def test_claims_compare_trunks_at_the_main_pt_size_and_f_the_others():
    small_mpt, small_fe = ("mpt", None, "all", 300), ("ptft", "devi2024-fe", "all", 300)
    records = [r for task in (PZ, DC, PH, GV) for r in cell(task, 100, {S: 0.10, FE: 0.09, M: 0.07,
                                                                       small_mpt: 0.12, small_fe: 0.11})]
    got = verdicts(records)
    assert got["d"].verdict == HOLDS and all("(300)" not in c.what for c in got["d"].comparisons)
    assert [c.what for c in got["a"].comparisons] == ["ptft ← devi2024-fe (941) − scratch"] * 4
    assert got["f"].verdict == HOLDS and all("(941) − ptft ← devi2024-fe (300)" in c.what for c in got["f"].comparisons)
    only_small = verdicts(cell(PZ, 100, {S: 0.10, FE: 0.09, small_mpt: 0.07}))["d"]
    assert only_small.verdict == NOT_TESTED and only_small.comparisons == []


def test_claim_e_two_d_out_of_domain():
    best = {S: 0.15, FE: 0.14, M: 0.12}
    assert verdicts(cell(TWO_D, None, best))["e"].verdict == HOLDS
    one = verdicts(cell(TWO_D, None, best, trials=(1,)))["e"]
    assert one.verdict == PARTLY and "lower in 2 of 2" in one.summary  # lowest mean, no interval
    assert verdicts(cell(TWO_D, None, {S: 0.15, FE: 0.11, M: 0.12}))["e"].verdict == FAILS
    assert verdicts(cell(PZ, 100, best))["e"].verdict == NOT_TESTED


def test_full_pool_replicates_are_seeds_and_subset_seeds_are_averaged():
    # full pool: trial 1 under seeds 0, 1, 2 are three paired replicates, so an interval exists
    e = verdicts(cell(TWO_D, None, {S: 0.15, FE: 0.14, M: 0.12}))["e"]
    assert [c.ours.n for c in e.comparisons] == [3, 3]
    # a subset: seeds of one trial share its FT structures, so they are averaged into one replicate
    same_subset = [rec(TWO_D, s, 100, 1, m + 0.001 * seed, seed=seed)
                   for s, m in (("scratch", 0.15), ("mpt", 0.12)) for seed in (0, 1, 2)]
    e = verdicts(same_subset)["e"]
    assert [c.ours.n for c in e.comparisons] == [1] and e.comparisons[0].outcome == TOO_FEW
    assert e.comparisons[0].ours.mean == pytest.approx(-0.03)


def test_claim_f_larger_pretraining_sets():
    big = ("ptft", "devi2024-fe", "all", "all")
    f = verdicts(cell(PZ, 100, {FE: 0.09, big: 0.07}))["f"]
    assert f.verdict == HOLDS and f.comparisons[0].what == "ptft ← devi2024-fe (all) − ptft ← devi2024-fe (941)"
    assert verdicts(cell(PZ, 100, {FE: 0.07, big: 0.09}))["f"].verdict == FAILS
    assert verdicts(cell(PZ, 100, {FE: 0.07}))["f"].verdict == NOT_TESTED


def test_claim_f_sets_each_larger_size_beside_the_papers_same_pair(tmp_path):
    # ours: FE at 941, 2,500 and 5,000; the paper's: FE at 941 (main study), 5K and 100K (its pt_size study)
    ref = tmp_path / "ref.csv"
    rows = ["study,strategy,pt_source,pt_size,ft_mode,target,ft_size,trial,n_test,mae_norm,rmse_norm,r2,source"]
    for study, size, mae in (("main", "941", 0.07), ("pt_size", "5K", 0.065), ("pt_size", "100K", 0.06)):
        rows += [f"{study},ptft,FE,{size},ALL-UF,PZ,800,{t},94,{mae + 0.001 * t},0.3,0.0,x.csv" for t in range(1, 6)]
    ref.write_text("\n".join(rows) + "\n")
    sizes = {("ptft", "devi2024-fe", "all", pt): m for pt, m in ((941, 0.09), (2500, 0.08), (5000, 0.07))}
    f = verdicts(cell(PZ, 800, sizes), ref)["f"]
    assert [c.what for c in f.comparisons] == ["ptft ← devi2024-fe (2500) − ptft ← devi2024-fe (941)",
                                               "ptft ← devi2024-fe (5000) − ptft ← devi2024-fe (941)"]
    assert [c.ours.mean for c in f.comparisons] == pytest.approx([-0.01, -0.02])
    # the paper has no 2,500 trunk: nothing beside ours, rather than its 100K − 941 under our 2,500 − 941
    assert f.comparisons[0].paper is None and f.comparisons[1].paper.mean == pytest.approx(-0.005)
    assert f.verdict == HOLDS and f.paper_verdict == HOLDS and f.paper_summary.startswith("2 of 2 comparisons")


def test_baselines_and_runs_on_the_targets_property_are_not_evidence():
    records = cell(PZ, 100, {S: 0.10}) + [as_backbone(r, "mean") for r in cell(PZ, 100, {FE: 0.05})]
    own = cell(PZ, 100, {("ptft", PZ, "all", None): 0.05})  # pre-trained on PZ itself
    assert verdicts(records + own)["a"].verdict == NOT_TESTED


def test_paper_numbers_on_the_same_cells(tmp_path):
    """write_reference: PZ scratch 0.08 + 0.001·trial, ptft FE 0.07 + …, mpt 0.065 + … (N = 10 adds 0.02)."""
    ref = write_reference(tmp_path / "ref.csv")
    a = verdicts(cell(PZ, 800, {S: 0.10, FE: 0.08}), ref)["a"]
    paper = a.comparisons[0].paper
    assert paper.n == 5 and paper.mean == pytest.approx(-0.01) and paper.high - paper.low < 1e-9
    assert a.paper_verdict == HOLDS and a.paper_summary.startswith("3 of 3 comparisons")  # N = 10, 200, 800
    assert verdicts(cell(PZ, 100, {S: 0.10, FE: 0.08}), ref)["a"].comparisons[0].paper is None  # no N = 100


def test_committed_records_test_some_claims_and_leave_the_others(tmp_path):
    """Today, ALIGNN: the four strategies on the five in-domain targets at N = 10, 100, 200, 500 and 800, trials
    1-3 (at N = 800 on PZ, DC, PH also mpt from the 300-structure trunks); the 2D set (full pool under seeds 0-2;
    N = 100 and 800 x 3 trials); DC and PH in all six fine-tuning modes at N = 100 and 800; ptft on PZ, DC, PH at
    N = 800 from larger trunks (FE 2,500, and more of the pre-training-size block as its records land). CGCNN and
    SchNet: scratch / ptft FE on the six targets, plus ptft BG and mpt on DC; CHGNet: new-head and all from its
    shipped weights, and scratch, on the six targets (trials 1-3; 2D once)."""
    results = {c.key: c for c in evaluate(load_records(DEFAULT_RESULTS), SHIPPED)}
    assert {k: c.verdict == NOT_TESTED for k, c in results.items()} == \
           {"a": False, "b": False, "c": False, "d": False, "e": False, "f": False}
    alignn = {k: [c for c in results[k].comparisons if c.setting.startswith("alignn")] for k in "acdef"}
    # (a): FE and BG against scratch at each in-domain (target, N) with records; the 300-structure mpt is left out
    cells_a = {(c.task, c.ft_size) for c in alignn["a"]}
    per_cell = {cell: sum((c.task, c.ft_size) == cell for c in alignn["a"]) for cell in cells_a}
    assert len(cells_a) == 25 and not any(t == "devi2024-2d" for t, _ in cells_a)
    assert set(per_cell.values()) == {2} and len(alignn["a"]) == 50
    assert {n for _, n in cells_a} == {10, 100, 200, 500, 800}
    # (d): mpt against scratch, FE and BG on every cell of (a): the main grid is complete
    cells_d = {(c.task, c.ft_size) for c in alignn["d"]}
    assert cells_d == cells_a and len(alignn["d"]) == 75
    assert all("(300)" not in c.what for c in alignn["d"])
    # (e): mpt against scratch, FE and BG on the full 2D pool (one run each) and at N = 100 and 800 (3 trials)
    assert sorted({c.ft_size or 0 for c in alignn["e"]}) == [0, 100, 800] and len(alignn["e"]) == 9
    assert {c.ours.n for c in alignn["e"]} == {3}  # full pool: seeds 0-2 are its three replicates
    # (f): each larger trunk against the 941-structure one, same source, at N = 800 on PZ, DC and PH
    assert {(c.task, c.ft_size) for c in alignn["f"]} == {(t, 800) for t in (PZ, DC, PH)}
    assert all(re.fullmatch(r"ptft ← (devi2024-(?:fe|bg)) \((?:2500|5000)\) − ptft ← \1 \(941\)", c.what)
               for c in alignn["f"])
    assert {c.task for c in alignn["f"] if c.what.startswith("ptft ← devi2024-fe (2500)")} == {PZ, DC, PH}
    assert all(c.paper is None for c in alignn["f"] if "(2500)" in c.what)  # the paper has no 2,500 trunk
    # (c): all layers vs each frozen mode run (new-head, last-layer, ...) from the FE trunk, DC and PH, N = 100 and 800
    assert {(c.task, c.ft_size) for c in alignn["c"]} == {(t, n) for t in ("devi2024-dc", "devi2024-ph") for n in (100, 800)}
    assert all(c.paper is not None and c.paper.n == 5 for c in alignn["a"] + alignn["d"])
    assert [c.paper is not None for c in alignn["e"]] == [c.ft_size is None for c in alignn["e"]]  # the paper: full pool
    # other backbones' comparisons are their own setting, never set beside the paper's ALIGNN numbers
    assert all(c.paper is None for c in results["a"].comparisons if not c.setting.startswith("alignn"))
    # ... and judged on their own: the verdict is ALIGNN's, each other backbone has its own
    others = dict((b, v) for b, v, _ in results["a"].other_backbones)
    assert {"cgcnn", "schnet", "chgnet"} <= set(others) and "alignn" not in others
    assert results["a"].paper_verdict == HOLDS  # the rule reproduces the paper's claim on its own runs


def test_a_claim_is_judged_on_alignn_and_each_other_backbone_on_its_own():
    # ALIGNN: ptft beats scratch; CGCNN: ptft loses to scratch, by more. Pooled, the verdict would be mixed.
    records = cell(PZ, 800, {S: 0.10, FE: 0.08}) + [as_backbone(r, "cgcnn") for r in cell(PZ, 800, {S: 0.10, FE: 0.14})]
    a = verdicts(records)["a"]
    assert a.verdict == HOLDS
    assert [(b, v) for b, v, _ in a.other_backbones] == [("cgcnn", FAILS)]


def test_replication_page_and_index_link(tmp_path):
    results = write_records(tmp_path / "results", cell(PZ, 800, {S: 0.10, FE: 0.08}))
    report = build_site(results, tmp_path / "site", write_reference(tmp_path / "ref.csv"))
    page = tmp_path / "site" / "replication.html"
    assert page in report.pages
    html = page.read_text()
    assert html.count('<tr class="claim">') == 6 and html.count('<tr class="comparison supports">') == 1
    assert '<td class="verdict v-holds">holds</td>' in html
    assert html.count("Not tested: no records of the cells it needs") == 5
    assert "Shared rule: holds when at least half" in html  # the rule, from the code's docstring
    assert 'href="replication.html"' in (tmp_path / "site" / "index.html").read_text()


def test_cli_replication_markdown(tmp_path):
    from typer.testing import CliRunner

    from bench.cli_leaderboard import leaderboard_app

    out = CliRunner().invoke(leaderboard_app, ["replication", "--markdown"])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0] == "| claim | verdict | our evidence | other backbones | same rule on the paper's runs |"
    f_line = next(line for line in lines if line.startswith("| (f) Larger pre-training sets help |"))
    assert "| not tested |" not in f_line  # the FE 2,500 trunk fine-tuned on three targets, 3 trials each
    assert sum(line.startswith("| (f) | alignn · quick |") for line in lines) >= 3
    a_line = next(line for line in lines if line.startswith("| (a) PT-FT beats scratch on small targets |"))
    assert "chgnet: " in a_line and "chgnet: not tested" not in a_line  # CHGNet scratch has >= 2 trials: judged
    assert any(line.startswith("| (c) Fine-tuning all layers beats frozen trunks |") and "| chgnet: " in line
               for line in lines)  # other backbones' verdicts in their own column
    assert sum(line.startswith("| (a) | alignn · quick |") for line in lines) == 50
    bad = CliRunner().invoke(leaderboard_app, ["replication", "--reference", str(tmp_path / "none.csv")])
    assert bad.exit_code == 2 and "none.csv" in bad.output
