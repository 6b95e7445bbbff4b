"""The `bench` command end to end, as a user runs it (subprocesses, real data, a real MLflow store)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

HEAVY = ("torch", "torch_geometric", "mlflow", "matbench", "pymatgen")


def bench(*args, env=None, timeout=300, check=True):
    proc = subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"bench {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_help_imports_no_heavy_library():
    code = ("import sys\nsys.argv = ['bench', '--help']\nfrom bench.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            f"print('LOADED', [m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "LOADED []" in out
    assert "run" in out and "predict" in out


def test_unknown_task_lists_known_ones():
    proc = bench("run", "--task", "nope", check=False)
    assert proc.returncode == 2
    assert "unknown task 'nope'" in proc.stderr and "piezo" in proc.stderr


def test_unknown_strategy_lists_known_ones():
    proc = bench("run", "--task", "piezo", "--strategy", "magic", check=False)
    assert proc.returncode == 2 and "known strategies: scratch" in proc.stderr


def test_tasks_lists_piezo():
    assert "piezo" in bench("tasks").stdout


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    home = tmp_path_factory.mktemp("smoke-home")
    env = {"BENCH_HOME": str(home)}
    t0 = time.time()
    proc = bench("run", "--task", "piezo", "--strategy", "scratch", "--budget", "smoke", env=env)
    return {"home": home, "env": env, "proc": proc, "seconds": time.time() - t0}


def test_smoke_run_prints_test_metrics(smoke_run):
    out = smoke_run["proc"].stdout
    assert "MAE" in out and "R²" in out and "MLflow run:" in out
    assert "budget smoke" in smoke_run["proc"].stderr and "estimated training time" in smoke_run["proc"].stderr


def test_smoke_run_is_tracked_in_mlflow(smoke_run):
    from mlflow import MlflowClient

    run_id = re.search(r"MLflow run: (\w+)", smoke_run["proc"].stdout).group(1)
    client = MlflowClient(tracking_uri=f"sqlite:///{smoke_run['home'] / 'mlflow.db'}")
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    params, metrics, tags = run.data.params, run.data.metrics, run.data.tags
    assert params["task"] == "piezo" and params["train.lr"] == "0.001" and params["backbone_config.hidden_features"]
    assert {"test_mae", "test_r2", "test_rmse", "test_mad_mae", "best_val_mae"} <= set(metrics)
    assert len(client.get_metric_history(run_id, "val_mae")) == 3  # one per epoch
    for key in ("task", "strategy", "backbone", "budget", "seed", "data_hash", "git_commit", "version.torch",
                "hardware.cpu", "wall_time_s"):
        assert tags.get(key), key
    artifacts = {a.path for a in client.list_artifacts(run_id)} | {
        a.path for a in client.list_artifacts(run_id, "model")}
    assert {"test_predictions.csv", "config.json", "splits.json", "model/model.pt"} <= artifacts


def test_rerun_of_finished_run_does_not_train_again(smoke_run):
    proc = bench("run", "--task", "piezo", "--budget", "smoke", env=smoke_run["env"])
    assert "already finished" in proc.stderr


def test_predict_from_run_folder_and_run_id(smoke_run, tmp_path, piezo_structures):
    files = []
    for k, s in enumerate(piezo_structures[:2]):
        files.append(tmp_path / f"s{k}.cif")
        s.to(filename=str(files[-1]))
    files.append(tmp_path / "POSCAR")
    piezo_structures[2].to(filename=str(files[-1]), fmt="poscar")
    run_id = re.search(r"MLflow run: (\w+)", smoke_run["proc"].stdout).group(1)
    workdir = next((smoke_run["home"] / "runs").iterdir())
    by_path = bench("predict", "--model", str(workdir), *map(str, files), env=smoke_run["env"]).stdout
    by_id = bench("predict", "--model", run_id, *map(str, files), env=smoke_run["env"]).stdout
    lines = by_path.strip().splitlines()
    assert len(lines) == 3 and all(float(line.split("\t")[1]) == float(line.split("\t")[1]) for line in lines)
    assert by_path == by_id


def test_predict_bad_file_names_it(smoke_run, tmp_path):
    bad = tmp_path / "broken.cif"
    bad.write_text("data_x\n_cell_length_a 3\n")
    workdir = next((smoke_run["home"] / "runs").iterdir())
    proc = bench("predict", "--model", str(workdir), str(bad), env=smoke_run["env"], check=False)
    assert proc.returncode == 2 and "broken.cif" in proc.stderr


def test_kill_9_then_rerun_resumes(tmp_path):
    args = ["run", "--task", "piezo", "--budget", "smoke", "--epochs", "40", "--seed", "1"]
    # One thread: with several, torch's kernels may sum in a different order when the CPU is contended,
    # and the comparison with an uninterrupted run below is exact.
    one_thread = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env_a = {**os.environ, **one_thread, "BENCH_HOME": str(tmp_path / "a")}
    proc = subprocess.Popen([sys.executable, "-m", "bench", *args], env=env_a, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    # wait on the per-epoch log lines
    for line in proc.stderr:
        if line.startswith("epoch 4/40"):
            break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    workdir = next((tmp_path / "a" / "runs").iterdir())
    assert (workdir / "last.pt").exists() and not (workdir / "result.json").exists()

    resumed = bench(*args, env={**one_thread, "BENCH_HOME": str(tmp_path / "a")})
    match = re.search(r"Resuming from checkpoint: epoch (\d+)/40", resumed.stderr)
    assert match and 4 <= int(match.group(1)) < 40, resumed.stderr
    result = json.loads((workdir / "result.json").read_text())

    # the same command never interrupted ends with the same test metrics
    bench(*args, env={**one_thread, "BENCH_HOME": str(tmp_path / "b")})
    reference = json.loads(next((tmp_path / "b" / "runs").glob("*/result.json")).read_text())
    assert result["test_metrics"] == pytest.approx(reference["test_metrics"], rel=1e-12)
    assert result["run_id"] == open(workdir / "mlflow_run_id").read().strip() != reference["run_id"]
