"""`bench compare`: the paired statistics against hand-computed and scipy values, candidate parsing and its
errors, the report from known records, and the command end to end on a task added with `bench data add`."""

from __future__ import annotations

import importlib
import json
import math
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.compare.candidates import CandidateError, parse_candidate, parse_candidates
from bench.compare.stats import LIKELY_BETTER, LIKELY_WORSE, TOO_FEW, UNDECIDED, compare, paired

# ----------------------------------------------------------------------------------------------- statistics

REF = {1: 0.32, 2: 0.28, 3: 0.29}


def test_paired_interval_and_test_match_hand_computed_and_scipy():
    from scipy import stats

    cand = {1: 0.30, 2: 0.25, 3: 0.28}  # differences -0.02, -0.03, -0.01: mean -0.02, sd 0.01
    p = paired(cand, REF)
    half = 4.302652729911275 * 0.01 / math.sqrt(3)  # t(0.975, df 2) · sd / √n
    assert p.n == 3 and p.mean == pytest.approx(-0.02)
    assert p.ci == pytest.approx((-0.02 - half, -0.02 + half))
    assert p.p == pytest.approx(stats.ttest_rel([0.30, 0.25, 0.28], [0.32, 0.28, 0.29]).pvalue)
    assert p.p == pytest.approx(0.0742, abs=1e-4)  # t = -3.464, df 2
    table = compare({"scratch": REF, "ptft:fe": cand}, "scratch", "mae", more="--trials 5")
    assert [r.label for r in table.rows] == ["ptft:fe", "scratch"]  # lower MAE ranks first
    assert table.rows[0].verdict == UNDECIDED  # the interval crosses 0
    assert table.recommendation == ("no candidate is distinguishable from scratch as better with 3 trials; "
                                    "run --trials 5")


def test_interval_below_zero_is_likely_better_for_mae_and_worded_from_the_numbers():
    cand = {1: 0.30, 2: 0.259, 3: 0.271}  # differences -0.02, -0.021, -0.019: sd 0.001
    table = compare({"scratch": REF, "mpt": cand}, "scratch", "mae")
    row = table.rows[0]
    assert row.label == "mpt" and row.verdict == LIKELY_BETTER
    lo, hi = row.paired.ci
    assert hi < 0 and lo == pytest.approx(-0.02 - 4.302652729911275 * 0.001 / math.sqrt(3))
    assert table.recommendation == ("mpt: lower MAE than scratch by 0.02 (95 % CI 0.0175–0.0225, p < 0.001, "
                                    "3 trials) — likely better")


def test_higher_is_better_metric_ranks_and_judges_the_other_way():
    ref = {1: 0.50, 2: 0.60, 3: 0.55}
    up = {1: 0.60, 2: 0.71, 3: 0.64}  # +0.10, +0.11, +0.09
    r2 = compare({"scratch": ref, "ptft:bg": up}, "scratch", "r2")
    assert r2.higher_is_better and [r.label for r in r2.rows] == ["ptft:bg", "scratch"]
    assert r2.rows[0].verdict == LIKELY_BETTER
    assert r2.recommendation.startswith("ptft:bg: higher R² than scratch by 0.1 (95 % CI 0.0752–0.125, p = ")
    # the same numbers as MAE: higher is worse, so it ranks last and is likely worse
    mae = compare({"scratch": ref, "ptft:bg": up}, "scratch", "mae")
    assert [r.label for r in mae.rows] == ["scratch", "ptft:bg"] and mae.rows[1].verdict == LIKELY_WORSE
    assert mae.recommendation == "scratch: every candidate is likely worse than scratch with 3 trials (ptft:bg)"


def test_fewer_than_two_pairs_gives_no_interval_nor_p():
    table = compare({"scratch": {1: 0.3}, "ptft:fe": {1: 0.2}}, "scratch", "mae", more="--trials 3")
    p = table.rows[0].paired
    assert p.n == 1 and p.mean == pytest.approx(-0.1) and p.ci is None and p.p is None
    assert table.rows[0].verdict == TOO_FEW == "n/a"
    assert table.recommendation == ("too few paired trials to judge (1; an interval needs at least 2); "
                                    "run --trials 3")
    # pairs are matched by trial: a candidate's trial 2 has no scratch partner
    assert paired({2: 0.2}, {1: 0.3}).n == 0


def test_differences_that_do_not_vary_give_no_p():
    p = paired({1: 0.2, 2: 0.3}, {1: 0.3, 2: 0.4})
    assert p.ci == pytest.approx((-0.1, -0.1)) and p.p is None and "do not vary" in p.note


# ----------------------------------------------------------------------------------------------- candidates


def test_default_candidates_and_backbones():
    cands = parse_candidates(None, "devi2024-pz")
    assert [c.label for c in cands] == ["scratch", "ptft:fe", "ptft:bg", "mpt"]
    assert [c.pretrain for c in cands] == [{}, {"source": "fe"}, {"source": "bg"}, {}]
    assert {c.backbone for c in cands} == {"alignn"}
    c = parse_candidate("ptft:bg@cgcnn")
    assert (c.strategy, c.source, c.backbone, c.label) == ("ptft", "bg", "cgcnn", "ptft:bg@cgcnn")
    assert parse_candidate("scratch@schnet").label == "scratch@schnet"
    m = parse_candidate("mpt:fe+bg+gv")
    assert m.sources == ("fe", "bg", "gv") and m.pretrain == {"sources": ["fe", "bg", "gv"]}


@pytest.mark.parametrize("text, message", [
    ("ptft:mptrj@nosuchnet", "--candidates entry 'ptft:mptrj@nosuchnet': unknown backbone 'nosuchnet'; "
                             "registered backbones: {registered} (see `bench backbones`)"),
    ("scratch@", "nothing after '@'"),
    ("magic", "unknown strategy 'magic'; known strategies: scratch, ptft, mpt"),
    ("scratch:fe", "scratch pre-trains nothing, so it takes no source; use scratch or ptft:fe"),
    ("ptft:fe+bg", "ptft pre-trains on one source; several sources joined by '+' are mpt:fe+bg"),
    ("mpt:fe", "mpt takes two or more sources"),
    ("ptft:", "nothing after ':'"),
])
def test_bad_candidate_is_named(text, message):
    from backbones import BACKBONES

    message = message.format(registered=", ".join(BACKBONES))  # whatever is registered, listed
    assert "alignn, cgcnn" in message or "{" not in text
    with pytest.raises(CandidateError) as err:
        parse_candidate(text)
    assert message in str(err.value)


def test_candidate_list_errors():
    with pytest.raises(CandidateError, match="an empty entry"):
        parse_candidates("scratch,,ptft", "devi2024-pz")
    with pytest.raises(CandidateError, match="has no scratch"):
        parse_candidates("ptft:fe,mpt", "devi2024-pz")
    with pytest.raises(CandidateError, match="'ptft:devi2024-fe' runs the same as 'ptft:fe'"):
        parse_candidates("scratch,ptft:fe,ptft:devi2024-fe", "devi2024-pz")
    with pytest.raises(CandidateError, match="'ptft:nope': unknown pre-training source 'nope'"):
        parse_candidates("scratch,ptft:nope", "devi2024-pz")


def _compare(*args):
    result = CliRunner().invoke(app, ["compare", *map(str, args)])
    return result.exit_code, " ".join(result.output.split())


@pytest.mark.parametrize("args, message", [
    (["--task", "nope"], "unknown task 'nope'"),
    (["--task", "devi2024-pz", "--candidates", "scratch,ptft:fe@nosuchnet"], "unknown backbone 'nosuchnet'; "
     "registered backbones: alignn, cgcnn, schnet"),
    (["--task", "devi2024-pz", "--trials", "9"], "--trials 9: task 'devi2024-pz' has 5 trials per FT size"),
    (["--task", "devi2024-pz", "--ft-size", "300"], "--ft-size 300: task 'devi2024-pz' has fine-tuning subsets "
                                                   "of 10, 100, 200, 500, 800 structures only"),
    (["--task", "devi2024-pz", "--trials", "2", "--folds", "2"], "give --trials N"),
    (["--task", "devi2024-pz", "--folds", "2", "--ft-size", "10"], "--folds trains on each fold's whole"),
    (["--task", "piezo", "--folds", "9"], "--folds 9: task 'piezo' has 5 folds"),
    (["--task", "devi2024-pz", "--folds", "3"], "--folds: task 'devi2024-pz' has no cross-validation protocol; "
                                                "use --trials"),
    (["--task", "devi2024-pz", "--ft-sizes", "10,x"], "--ft-sizes takes numbers"),
    (["--task", "devi2024-pz", "--candidates", "scratch,ptft:pz"], "candidate ptft:pz: --pt-source"),
])
def test_bad_options_exit_2_before_any_work(args, message, isolated_home):
    code, out = _compare(*args)
    assert code == 2 and message in out, out
    assert not (isolated_home / "runs").exists() and not (isolated_home / "mlflow.db").exists()


# ----------------------------------------------------------------------------------------------- report


def synthetic_result(folder: Path):
    """A compare of devi2024-pz from the leaderboard tests' records (scratch, ptft ← FE, mpt at FT sizes 10,
    100, 800, three trials): what the report is given after a real run, without training."""
    from bench.compare.candidates import Candidate
    from bench.compare.engine import CellResult, CompareResult, CompareSpec, Design, tables
    from tests.leaderboard.test_build import pz_records

    labels = {"scratch": "scratch", "ptft": "ptft:fe", "mpt": "mpt"}
    cands = (Candidate("scratch"), Candidate("ptft", source="fe"), Candidate("mpt"))
    spec = CompareSpec("devi2024-pz", cands, (10, 100, 800), 3)
    result = CompareResult(spec, Design((10, 100, 800), (1, 2, 3), False, 5, False), "mae", "scaled",
                           "max_piezo_modulus", "scratch")
    folder.mkdir(parents=True, exist_ok=True)
    for rec in pz_records():
        path = folder / f"{rec['run_key']}.json"
        path.write_text(json.dumps(rec))
        c = rec["config"]
        result.cells.append(CellResult(labels[c["strategy"]], c["split"]["ft_size"], c["split"]["trial"],
                                       rec["run_key"], rec["test_metrics"], rec["run_id"], path))
    result.tables = tables(result)
    return result


def test_report_from_records(tmp_path):
    from bench.compare.report import command_line, write_report

    result = synthetic_result(tmp_path / "records")
    assert [size for size, _ in result.tables] == [10, 100, 800]
    t800 = dict(result.tables)[800]
    assert t800.rows[0].label == "mpt"  # the records make mpt best at 800
    page = write_report(result, tmp_path / "report", command_line(result))
    html = page.read_text()
    assert html.count('<tr class="candidate">') == 9  # 3 candidates × 3 FT sizes
    assert 'src="img/devi2024-pz-parity.png"' in html and 'src="img/devi2024-pz-learning-curves.png"' in html
    assert (tmp_path / "report/img/devi2024-pz-parity.png").stat().st_size > 1000
    assert (tmp_path / "report/img/devi2024-pz-learning-curves.png").stat().st_size > 1000
    assert ("bench compare --task devi2024-pz --candidates scratch,ptft:fe,mpt --trials 3 --ft-sizes 10,100,800 "
            "--budget quick --seed 0") in html
    data = json.loads((tmp_path / "report/compare.json").read_text())
    assert data["metric"] == "mae" and data["higher_is_better"] is False and len(data["runs"]) == 27
    rows = data["tables"][2]["rows"]
    assert rows[0]["candidate"] == "mpt" and rows[0]["n_pairs"] == 3 and rows[0]["p"] is not None
    assert data["tables"][2]["recommendation"] == t800.recommendation
    assert re.search(r"<h1>Which transfer strategy for devi2024-pz\?</h1>", html)


# ----------------------------------------------------------------------------------------------- end to end


@pytest.fixture
def tiny_task(isolated_home, data_dir, tmp_path):
    """A 40-structure task added with `bench data add` (the registry rebuilt for it, restored after)."""
    import pandas as pd

    import tasks
    import tasks.user

    frame = pd.read_csv(data_dir / "raw/matminer_v0.4.0/piezoelectric_tensor.csv.gz", skiprows=1, nrows=40)
    folder = tmp_path / "cifs"
    folder.mkdir()
    for mid, cif in zip(frame["material_id"], frame["structure"]):
        (folder / f"{mid}.cif").write_text(cif)
    pd.DataFrame({"mpid": frame["material_id"], "eij": frame["eij_max"]}).to_csv(tmp_path / "data.csv",
                                                                                 index=False)
    # drop user tasks an earlier test's home left in the registry (tasks.user reads its home on import)
    importlib.reload(tasks.user)
    tasks.all_tasks.cache_clear()
    result = CliRunner().invoke(app, ["data", "add", "tiny-cmp", "--csv", str(tmp_path / "data.csv"),
                                      "--structures", str(folder), "--target", "eij", "--units", "C/m2"])
    assert result.exit_code == 0, result.output
    importlib.reload(tasks.user)
    tasks.all_tasks.cache_clear()
    yield "tiny-cmp"
    importlib.reload(tasks.user)
    tasks.all_tasks.cache_clear()


def test_compare_end_to_end_on_a_user_task(tiny_task, isolated_home, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["compare", "--task", tiny_task, "--budget", "smoke", "--trials", "2", "--candidates", "scratch,ptft:fe"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    out = first.output
    assert "FT size 28 (default: 80 % of the pool, at most 800) = 4 runs, budget smoke" in out
    assert re.search(r"Estimate: ≤? ?\d+ s in all — 4 run\(s\) to train; 1 trunk\(s\) to pre-train first", out)
    table = out[out.index(f"{tiny_task}: test MAE"):]
    assert "ptft:fe" in table and "scratch" in table and "reference" in table
    assert re.search(r"Recommendation: (ptft:fe: (lower|higher) MAE than scratch by|no candidate is "
                     r"distinguishable from scratch as better with 2 trials; run --trials 4|scratch: every)", out)

    report = tmp_path / f"compare-{tiny_task}"
    data = json.loads((report / "compare.json").read_text())
    assert data["task"] == tiny_task and data["pairs"] == "trials" and data["pair_ids"] == [1, 2]
    rows = {r["candidate"]: r for r in data["tables"][0]["rows"]}
    assert set(rows) == {"scratch", "ptft:fe"} and rows["ptft:fe"]["n_pairs"] == 2
    lo, hi, mean = rows["ptft:fe"]["ci_low"], rows["ptft:fe"]["ci_high"], rows["ptft:fe"]["diff_mean"]
    assert lo < mean < hi and 0 <= rows["ptft:fe"]["p"] <= 1
    assert data["command"] == (f"bench compare --task {tiny_task} --candidates scratch,ptft:fe --trials 2 "
                               "--ft-size 28 --budget smoke --seed 0")
    html = (report / "index.html").read_text()
    assert html.count('<tr class="candidate">') == 2 and "img/tiny-cmp-parity.png" in html
    assert (report / "img" / "tiny-cmp-parity.png").exists()

    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{isolated_home / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name(tiny_task).experiment_id])
    assert sorted((r.data.tags["strategy"], r.data.tags["trial"], r.info.status) for r in runs) == [
        ("ptft", "1", "FINISHED"), ("ptft", "2", "FINISHED"), ("scratch", "1", "FINISHED"),
        ("scratch", "2", "FINISHED")]
    assert {r.info.run_id for r in runs} == {r["run_id"] for r in data["runs"]}
    assert len(client.search_runs([client.get_experiment_by_name("pretraining").experiment_id])) == 1

    # the same command again trains nothing: every run is found finished, the table is the same
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "every one of the 4 runs has finished before; nothing to train" in again.output
    assert json.loads((report / "compare.json").read_text())["tables"] == data["tables"]
    assert len(client.search_runs([client.get_experiment_by_name(tiny_task).experiment_id])) == 4


def test_sweep_cells_carry_their_own_backbone_and_fold(isolated_home):
    """The sweep plans a cell's own backbone and CV fold (what compare's scratch@cgcnn and --folds need)."""
    from bench.compare.engine import CompareSpec, cells, design, plan
    from bench.run import plan_run

    spec = CompareSpec("piezo", parse_candidates("scratch,scratch@cgcnn", "piezo"), folds=2, budget="smoke")
    grid = cells(spec, design(spec))
    assert [(c.label, c.backbone, c.fold, c.ft_size) for c in grid] == [
        ("scratch", "alignn", 0, None), ("scratch", "alignn", 1, None),
        ("scratch@cgcnn", "cgcnn", 0, None), ("scratch@cgcnn", "cgcnn", 1, None)]
    jobs = plan(spec, grid).jobs
    assert [(j.backbone, j.fold) for j in jobs] == [("alignn", 0), ("alignn", 1), ("cgcnn", 0), ("cgcnn", 1)]
    assert [j.name for j in jobs][2] == "scratch@cgcnn fold 0"
    expected = plan_run("piezo", "scratch", "smoke", 0, "cpu", fold=1, backbone="cgcnn")
    assert jobs[3].key == expected.key and jobs[3].run_name == expected.workdir.name
    assert len({j.key for j in jobs}) == 4


def test_a_failed_run_leaves_its_pairs_out(tmp_path):
    from bench.compare.engine import tables

    result = synthetic_result(tmp_path)
    lost = next(c for c in result.cells if c.candidate == "mpt" and c.ft_size == 800 and c.pair == 2)
    lost.metrics = None  # what collect() reports for a cell with no finished run
    row = next(r for r in dict(tables(result))[800].rows if r.label == "mpt")
    assert row.n == 2 and sorted(row.values) == [1, 3] and row.paired.n == 2


def test_failed_runs_are_listed_and_the_command_exits_1(tiny_task, tmp_path, monkeypatch):
    import bench.sweep.jobs as jobs

    def broken(job, *pretrained, console=None):
        raise RuntimeError(f"no run for {job.name} (test)")

    monkeypatch.setattr(jobs, "run_cell", broken)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["compare", "--task", tiny_task, "--budget", "smoke", "--trials", "2",
                                      "--ft-size", "10", "--candidates", "scratch,scratch@cgcnn"])
    out = " ".join(result.output.split())
    assert result.exit_code == 1, out
    assert "4 run(s) failed (the table leaves them out); rerun the same command to retry them" in out
    assert "scratch@cgcnn n=10 trial 2: RuntimeError: no run for scratch@cgcnn n=10 trial 2 (test)" in out
    data = json.loads((tmp_path / f"compare-{tiny_task}" / "compare.json").read_text())
    assert data["tables"] == [] and len(data["failures"]) == 4
    assert "No table: the scratch runs did not finish" in (tmp_path / f"compare-{tiny_task}" / "index.html").read_text()
