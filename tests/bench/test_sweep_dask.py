"""Sweeps on a local Dask cluster of two worker processes: every cell runs once and is recorded once, also when
a worker is killed in the middle of a cell."""

from __future__ import annotations

import json
import re
import sys

import pytest
from rich.console import Console
from typer.testing import CliRunner

pytest.importorskip("dask.distributed")

from bench.sweep import SweepSpec, grid, run_sweep  # noqa: E402
from bench.sweep.jobs import KILL_ONCE_ENV  # noqa: E402


def mlflow_runs(task: str):
    from bench.tracking import Tracker

    client = Tracker().client
    exp = client.get_experiment_by_name(task)
    return client.search_runs([exp.experiment_id]) if exp else []


def records(folder):
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


# The default run's 2-worker test: 16 s on a quiet machine, up to 40 s when the shared cores are busy
def test_two_workers_run_each_cell_once_and_export(data_dir, tmp_path, isolated_home):
    from bench.cli import app

    result = CliRunner().invoke(app, ["sweep", "--task", "devi2024-pz", "--strategies", "scratch", "--ft-sizes",
                                      "10", "--trials", "1-2", "--budget", "smoke", "--epochs", "1", "--workers",
                                      "2", "--export", "--results-dir", str(tmp_path)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "Dask: 2 worker(s), 2 cell(s) at a time, 1 torch thread(s) per cell" in result.output
    assert "done 2/2 · running 0 · left 0" in result.output
    written = records(tmp_path)
    assert sorted(r["config"]["split"]["trial"] for r in written) == [1, 2]
    runs = mlflow_runs("devi2024-pz")
    assert len(runs) == 2 and {r.info.status for r in runs} == {"FINISHED"}
    assert {r.data.tags["run_key"] for r in runs} == {r["run_key"] for r in written}
    logs = [p.read_text() for p in (isolated_home / "runs").glob("*/sweep.log")]
    assert len(logs) == 2 and all("with 1 torch thread(s)" in log for log in logs)
    pids = {re.search(r"in process (\d+)", log).group(1) for log in logs}
    assert len(pids) == 2  # one cell in each worker process, not both in the submitting one


@pytest.mark.slow  # 12 s on a quiet machine, 33-66 s when the shared cores are busy
def test_killed_worker_cell_is_retried_and_resumes(data_dir, tmp_path, isolated_home, monkeypatch):
    marker = tmp_path / "killed"
    monkeypatch.setenv(KILL_ONCE_ENV, str(marker))  # the workers inherit it
    cells = grid(["scratch"], [10], [1, 2], [], [None])
    spec = SweepSpec("devi2024-pz", "smoke", device="cpu", epochs=2, results_dir=tmp_path / "results",
                     export=True, workers=2)
    console = Console(file=sys.stderr, width=250)
    outcome = run_sweep(spec, cells, console)

    assert marker.exists(), "no worker was killed: the test hook did not fire"
    index, run_name = marker.read_text().split()
    log = (isolated_home / "runs" / run_name / "sweep.log").read_text()
    assert len(set(re.findall(r"in process (\d+)", log))) == 2  # it ran again, in another process
    assert "Resuming from checkpoint: epoch 1/2" in log  # from the checkpoint the killed worker left
    assert not outcome.failures and len(outcome.rows) == 2
    written = records(tmp_path / "results")
    assert sorted(r["config"]["split"]["trial"] for r in written) == [1, 2]
    assert all(r["epochs_run"] == 2 for r in written)
    runs = mlflow_runs("devi2024-pz")
    assert len(runs) == 2 and {r.info.status for r in runs} == {"FINISHED"}  # the killed run was resumed


@pytest.mark.slow
def test_pretraining_runs_once_before_the_cells_that_share_it(data_dir, tmp_path, isolated_home):
    cells = grid(["scratch", "ptft"], [10], [1, 2], ["fe"], [None])
    spec = SweepSpec("devi2024-pz", "smoke", device="cpu", epochs=1, results_dir=tmp_path, export=True,
                     workers=2)
    console = Console(file=sys.stderr, width=250, record=True)
    outcome = run_sweep(spec, cells, console)
    assert not outcome.failures and len(outcome.rows) == 4 and len(records(tmp_path)) == 4
    pre_logs = list((isolated_home / "cache" / "pretrained").glob("*/sweep.log"))
    assert len(pre_logs) == 1 and pre_logs[0].read_text().count("Pre-training on") == 1
    cell_logs = [p.read_text() for p in (isolated_home / "runs").glob("*ptft*/sweep.log")]
    assert len(cell_logs) == 2 and all("Reusing pre-trained checkpoint" in log for log in cell_logs)
    assert all("Pre-training on" not in log for log in cell_logs)
    text = console.export_text()
    assert text.index("Pre-trained ") < min(text.index("[3/4] ptft"), text.index("[4/4] ptft"))


@pytest.mark.slow
def test_scheduler_joins_an_existing_cluster(data_dir, tmp_path):
    from dask.distributed import LocalCluster

    cells = grid(["scratch"], [10], [1], [], [None])
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        spec = SweepSpec("devi2024-pz", "smoke", device="cpu", epochs=1, results_dir=tmp_path, export=True,
                         scheduler=cluster.scheduler_address)
        console = Console(file=sys.stderr, width=250, record=True)
        outcome = run_sweep(spec, cells, console)
        assert cluster.workers  # ours, still up: the sweep did not start or stop a cluster of its own
    assert not outcome.failures and len(records(tmp_path)) == 1
    assert f"Dask: 1 worker(s), 1 cell(s) at a time, 1 torch thread(s) per cell; scheduler " \
           f"{cluster.scheduler_address}" in console.export_text()
