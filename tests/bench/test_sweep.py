"""Sweeps without Dask: committed records are skipped, pre-training is planned once per trunk, the serial path
needs no Dask, and the progress ETA."""

from __future__ import annotations

import json
import sys

import pytest
from rich.console import Console
from typer.testing import CliRunner

from bench.sweep import SweepError, SweepSpec, grid, run_sweep
from bench.sweep.progress import SweepProgress, eta_seconds
from bench.sweep.resume import CommittedRecords

SMOKE = ["--task", "devi2024-pz", "--strategies", "scratch", "--ft-sizes", "10", "--budget", "smoke",
         "--epochs", "1"]


def invoke(*args):
    from bench.cli import app

    return CliRunner().invoke(app, ["sweep", *args], env={"COLUMNS": "250"})  # no wrapped lines


def fake_record(cell_trial: int, folder, run_key=None, mae=0.5):
    """A committed record for the scratch smoke cell of ``cell_trial``, as another machine would have made it."""
    from bench.run import plan_run

    plan = plan_run("devi2024-pz", "scratch", "smoke", 0, "cpu", 1, 10, cell_trial)
    record = {"run_key": run_key or plan.key, "config": plan.config | {"train": plan.config["train"] | {
        "device": "cuda"}}, "data_hash": plan.data_hash, "test_metrics": {"mae": mae, "rmse": mae, "r2": 0.0,
                                                                          "mad_mae": 1.0}}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"devi2024-pz__scratch__smoke__n10-t{cell_trial}__seed0__{record['run_key']}.json"
    path.write_text(json.dumps(record))
    return plan, path


def test_committed_record_skips_its_cell(data_dir, tmp_path, isolated_home):
    plan, path = fake_record(1, tmp_path / "results", mae=0.5)
    result = invoke(*SMOKE, "--trials", "1-2", "--results-dir", str(tmp_path / "results"))
    assert result.exit_code == 0, result.output
    assert f"[1/2] scratch n=10 trial 1: committed record {path.name}, skipped" in result.output
    assert "[2/2] scratch n=10 trial 2: MAE" in result.output
    runs = [p.name for p in (isolated_home / "runs").iterdir()]
    assert plan.workdir.name not in runs and any("-n10-t2-" in r for r in runs)
    assert "│ scratch  │      10 │ 2 │" in result.output  # the committed cell counts in the summary


def test_committed_record_matches_by_config_when_key_differs(data_dir, tmp_path):
    plan, _ = fake_record(1, tmp_path, run_key="000000000000")
    records = CommittedRecords(tmp_path)
    assert records.find(plan.key, plan.config, plan.data_hash) is not None
    other = plan.config | {"train": plan.config["train"] | {"epochs": 2}}
    assert records.find("ffffffffffff", other, plan.data_hash) is None
    assert records.find("ffffffffffff", plan.config, "another data hash") is None


@pytest.mark.parametrize("content, says", [("{not json", "is not valid JSON"),
                                           ('{"run_key": "abc"}', "lacks 'config'")])
def test_broken_committed_record_is_named(tmp_path, content, says):
    (tmp_path / "bad.json").write_text(content)
    result = invoke(*SMOKE, "--trials", "1", "--results-dir", str(tmp_path))
    assert result.exit_code == 2
    assert str(tmp_path / "bad.json") in result.output and says in result.output


def test_failed_cell_is_reported_and_the_others_run(data_dir, tmp_path):
    result = invoke(*[a if a != "10" else "7,10" for a in SMOKE], "--trials", "1", "--results-dir", str(tmp_path),
                    "--export")
    assert result.exit_code == 1
    assert "1 cell(s) failed" in result.output
    assert "[1/2] scratch n=7 trial 1: ValueError: no fine-tuning subset of size 7" in result.output
    assert "[2/2] scratch n=10 trial 1: MAE" in result.output and len(list(tmp_path.glob("*.json"))) == 1


def test_bad_options_are_named():
    for args, says in [(["--trials", "a-b"], "--trials takes a range"), (["--ft-sizes", "ten"], "--ft-sizes"),
                       (["--workers", "0"], "--workers must be at least 1"),
                       (["--scheduler", "localhost"], "--scheduler takes a Dask scheduler address")]:
        result = invoke("--task", "devi2024-pz", "--strategies", "scratch", *args)
        assert result.exit_code == 2 and says in result.output, (args, result.output)


def test_pretraining_planned_once_per_trunk(data_dir, isolated_home):
    from bench import paths
    from bench.sweep.plan import plan_sweep

    cells = grid(["scratch", "ptft", "mpt"], [10], [1, 2], ["fe", "devi2024-fe"], [None])
    spec = SweepSpec("devi2024-pz", "smoke", device="cpu", workers=2)
    plan = plan_sweep(spec, cells, SweepProgress(Console(file=sys.stderr), len(cells)))
    # scratch x2, ptft fe x2 (its alias devi2024-fe is the same run: skipped), mpt x2
    assert [j.strategy for j in plan.jobs] == ["scratch", "scratch", "ptft", "ptft", "mpt", "mpt"]
    assert len(plan.pretrain) == 2
    by_cells = {job.cells: job for job in plan.pretrain.values()}
    assert set(by_cells) == {(3, 4), (7, 8)}
    assert {j.pretrain_key for j in plan.jobs} == {None, *plan.pretrain}
    assert all(j.threads == 1 for j in plan.jobs)

    cached = paths.cache_dir() / "pretrained" / by_cells[(3, 4)].key
    cached.mkdir(parents=True)
    (cached / "model.pt").write_bytes(b"")
    (cached / "card.json").write_text("{}")
    again = plan_sweep(spec, cells, SweepProgress(Console(file=sys.stderr), len(cells)))
    assert list(again.pretrain) == [by_cells[(7, 8)].key]  # a cached trunk is not trained again
    assert [j.pretrain_key for j in again.jobs if j.strategy == "ptft"] == [None, None]


def test_one_worker_needs_no_dask(data_dir, tmp_path, monkeypatch):
    for name in ("dask", "dask.distributed", "distributed"):
        monkeypatch.setitem(sys.modules, name, None)  # any import of them raises ImportError
    cells = grid(["scratch"], [10], [1], [], [None])
    spec = SweepSpec("devi2024-pz", "smoke", device="cpu", epochs=1, results_dir=tmp_path, export=True)
    outcome = run_sweep(spec, cells, Console(file=sys.stderr))
    assert len(outcome.rows) == 1 and not outcome.failures and len(list(tmp_path.glob("*.json"))) == 1
    with pytest.raises(SweepError, match="pip install"):
        run_sweep(SweepSpec("devi2024-pz", "smoke", device="cpu", workers=2), cells, Console(file=sys.stderr))


def test_eta_from_finished_cells():
    assert eta_seconds([], running=2, queued=4, slots=2) is None
    assert eta_seconds([10.0, 30.0], running=2, queued=4, slots=2) == pytest.approx(20 * 5 / 2)
    assert eta_seconds([10.0], running=0, queued=0, slots=2) == 0


def test_params_reach_every_cell_and_its_run_key(data_dir, isolated_home):
    """`bench sweep --params` (the paired graph-lever study in one command): each cell runs with the overrides,
    and its run key is not the reference run's, so committed reference records are never taken for it."""
    from bench.sweep.plan import plan_sweep

    cells = grid(["scratch"], [10], [1], ["fe"], [None])
    plans = {}
    for overrides in ({}, {"three_body_cutoff": 3.5}):
        spec = SweepSpec("devi2024-pz", "smoke", device="cpu", workers=2, overrides=overrides)
        plans[bool(overrides)] = plan_sweep(spec, cells, SweepProgress(Console(file=sys.stderr), len(cells)))
    assert plans[True].jobs[0].overrides == {"three_body_cutoff": 3.5} and plans[False].jobs[0].overrides == {}
    assert plans[True].jobs[0].key != plans[False].jobs[0].key


def test_params_best_is_refused_by_the_sweep():
    result = invoke("--task", "devi2024-pz", "--strategies", "scratch", "--params", "best")
    assert result.exit_code == 2 and "--params best is per strategy" in result.output
    result = invoke("--task", "devi2024-pz", "--strategies", "scratch", "--params", '{"three_body_cutoff": -1}')
    assert result.exit_code == 2 and "three_body_cutoff" in result.output
