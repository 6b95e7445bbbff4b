"""What a person sees on first contact: output that follows the terminal's width, whole paths, units on the
metrics, Ctrl-C saying how to resume, the MLflow UI's runs pages, and missing-data errors that name the folder."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from bench.cli import app


def invoke(args, columns=80, **env):
    return CliRunner().invoke(app, args, env={"COLUMNS": str(columns), **env})


@pytest.mark.parametrize("columns", [80, 100])
def test_tasks_table_fits_the_terminal_and_keeps_names_whole(columns):
    from tasks import all_tasks

    result = invoke(["tasks"], columns)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= columns
    cells = {part.strip() for line in lines for part in line.split("│")}
    assert set(all_tasks()) <= cells  # every name whole, on one line


def test_tasks_table_uses_a_wide_terminal():
    assert max(len(line) for line in invoke(["tasks"], 250).stdout.splitlines()) > 160


def test_data_status_fits_the_terminal():
    result = invoke(["data", "status"], 80)
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    assert "piezo" in {part.strip() for line in result.stdout.splitlines() for part in line.split("│")}


def test_progress_bar_keeps_counts_and_eta_at_80_columns():
    from rich.console import Console

    from bench.progress import TrainingProgress

    state = SimpleNamespace(epoch=0, step_in_epoch=0, best_val_mae=0.1234, stopped_early=False, bad_epochs=0)
    buf = io.StringIO()
    progress = TrainingProgress(Console(file=buf, width=80, force_terminal=True, color_system=None))
    progress.start(30, 100, state, resumed=False)
    for _ in range(10):
        progress.step(0.5)
    state.epoch = 1
    progress.epoch_end({"val_mae": 0.12345, "train_loss": 0.5}, state)
    progress._progress.refresh()
    progress.stop()
    last = buf.getvalue().split("\r")[-1]
    assert "10/3000" in last and "0:00:00" in last and "ETA 0:00" in last, repr(last)


def _fake_result(tmp_path, r2=0.8):
    workdir = tmp_path / ("a-very-long-folder-name-" * 4) / "piezo-scratch-smoke-seed0-0123456789abcdef"
    workdir.mkdir(parents=True)
    (workdir / "model.pt").write_bytes(b"")  # a GNN run keeps its model (a baseline's result has none)
    return SimpleNamespace(run_id="f" * 32, workdir=workdir, wall_seconds=12.3,
                           test_metrics={"mae": 0.1, "rmse": 0.2, "r2": r2, "mad_mae": 3.0})


def _run_with(monkeypatch, outcome):
    import bench.run

    def fake(**kwargs):
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    monkeypatch.setattr(bench.run, "run_benchmark", fake)
    return invoke(["run", "--task", "piezo", "--budget", "smoke"], 80)


def test_run_prints_units_and_the_model_path_whole(tmp_path, monkeypatch):
    res = _fake_result(tmp_path)
    result = _run_with(monkeypatch, res)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "MAE (C/m²)" in out and "RMSE (C/m²)" in out
    assert "MAE and RMSE in C/m²; R² and MAD:MAE are unitless" in out
    assert f"model: {res.workdir / 'model.pt'}\n" in out  # one line, copy-pasteable into `bench predict`
    assert "no better than predicting the training mean" not in out


def test_run_says_when_the_model_is_no_better_than_the_mean(tmp_path, monkeypatch):
    out = _run_with(monkeypatch, _fake_result(tmp_path, r2=0.03)).stdout
    assert "R² ≈ 0: this model is no better than predicting the training mean (MAD:MAE ≈ 1)" in out


def test_long_units_stay_out_of_the_headers():
    from rich.console import Console

    from bench.cli_output import metrics_table

    console = Console(file=io.StringIO(), width=80)
    console.print(metrics_table("t", {"mae": 1, "rmse": 1, "r2": 0.5, "mad_mae": 2},
                                "min-max scaled to [-1, 1] (scale not stored)"))
    text = console.file.getvalue()
    assert "MAE" in text and "MAE (min-max" not in text


def test_ctrl_c_in_run_says_how_to_resume(tmp_path, monkeypatch):
    result = _run_with(monkeypatch, KeyboardInterrupt())
    assert result.exit_code == 130
    assert "interrupted; run the same command again to resume" in result.stderr


def test_ctrl_c_in_pretrain_says_how_to_resume(monkeypatch):
    import bench.pretrain

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(bench.pretrain, "pretrained_model", interrupted)
    result = invoke(["pretrain", "--source", "fe", "--budget", "smoke"])
    assert result.exit_code == 130, result.output
    assert "interrupted; run the same command again to resume from the last checkpoint" in result.stderr


def test_ctrl_c_in_sweep_says_how_to_resume(monkeypatch):
    import bench.sweep

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(bench.sweep, "run_sweep", interrupted)
    result = invoke(["sweep", "--task", "piezo", "--strategies", "scratch", "--ft-sizes", "10", "--trials", "1",
                     "--budget", "smoke"], 200)
    assert result.exit_code == 130, result.output
    assert "run the same command again to resume: finished runs are skipped" in result.stderr


def test_ui_prints_the_runs_pages_of_the_experiments(monkeypatch):
    import os

    import bench.cli_output

    started = []
    monkeypatch.setattr(bench.cli_output, "store_experiments", lambda uri: [("3", "piezo"), ("1", "pretraining")])
    monkeypatch.setattr(os, "execvp", lambda prog, args: started.append(args))
    result = invoke(["ui", "--port", "5123", "--tracking-uri", "sqlite:///x.db"])
    assert result.exit_code == 0, result.output
    assert "piezo: http://127.0.0.1:5123/#/experiments/3/runs?workflowType=machine_learning" in result.stdout
    assert "pretraining: http://127.0.0.1:5123/#/experiments/1/runs?workflowType=machine_learning" in result.stdout
    assert "experiments: http://127.0.0.1:5123/#/experiments?workflowType=machine_learning" in result.stdout
    assert started and "--backend-store-uri" in started[0] and "sqlite:///x.db" in started[0]


def test_relative_data_dir_is_resolved_against_the_current_directory(tmp_path, monkeypatch):
    from bench.paths import data_dir

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BENCH_DATA_DIR", "data")
    assert data_dir() == tmp_path / "data" and data_dir().is_absolute()
    monkeypatch.setenv("BENCH_DATA_DIR", "./data/../other")
    assert data_dir() == tmp_path / "other"


def _missing(task_name):
    from bench.paths import data_dir
    from tasks import get_task

    with pytest.raises(FileNotFoundError) as err:
        get_task(task_name).load(data_dir())
    return str(err.value)


def test_missing_data_names_the_folder_searched_and_the_next_command(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BENCH_DATA_DIR", "nodata")
    message = _missing("mp-gap")
    assert f"missing from the data folder {tmp_path / 'nodata'} (BENCH_DATA_DIR=nodata)" in message
    assert "raw/matbench_v0.1/matbench_mp_gap.json.gz" in message
    assert "`bench data fetch mp-gap`" in message
    assert "set BENCH_DATA_DIR to the folder holding" not in message  # already followed


def test_missing_data_without_a_download_says_to_copy_it(tmp_path, monkeypatch):
    from tasks import all_tasks

    local_only = next(n for n, t in all_tasks().items() if not t.sources and t.family != "user")
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path))
    message = _missing(local_only)
    assert "copy the file there" in message and "bench data fetch" not in message


def test_missing_data_points_at_a_file_of_another_format(tmp_path, monkeypatch):
    folder = tmp_path / "raw" / "matbench_v0.1"
    folder.mkdir(parents=True)
    (folder / "matbench_mp_gap.csv.gz").write_bytes(b"")
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path))
    message = _missing("mp-gap")
    assert "found matbench_mp_gap.csv.gz there instead" in message and "needs matbench_mp_gap.json.gz" in message


def test_missing_data_with_the_default_folder_suggests_the_variable(tmp_path, monkeypatch, isolated_home):
    monkeypatch.delenv("BENCH_DATA_DIR")
    message = _missing("mp-gap")
    assert f"data folder {Path(isolated_home) / 'data'} (the default; BENCH_DATA_DIR is not set)" in message
    assert "set BENCH_DATA_DIR to the folder holding the raw data" in message


def test_narrow_tasks_table_says_where_the_sources_are():
    assert "`bench tasks show NAME`" in invoke(["tasks"], 80).stdout


def test_pretrain_prints_the_trunks_mlflow_run(monkeypatch):
    import json

    import bench.pretrain

    card = {"key": "k", "mlflow_run_id": "a" * 32, "data": {}, "metrics": {}, "wall_seconds": 1.0}
    monkeypatch.setattr(bench.pretrain, "pretrained_model", lambda *args, **kwargs: (None, card))
    result = invoke(["pretrain", "--source", "fe", "--budget", "smoke"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["mlflow_run_id"] == "a" * 32


def test_a_clearly_negative_r2_is_called_worse_than_the_mean(tmp_path, monkeypatch):
    # seen: R² = -6.76 at FT size 10 was printed as "R² ≈ 0"
    out = _run_with(monkeypatch, _fake_result(tmp_path, r2=-6.76)).stdout
    assert "R² = -6.76 < 0: this model predicts worse than the training mean would" in out and "≈ 0" not in out
