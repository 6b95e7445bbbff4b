"""Concurrent processes: one process per run folder and per pre-training entry (the others wait, or say who holds
it), and first uses of the MLflow and Optuna sqlite stores that never race on table creation. Real processes
throughout: the locks are between processes, so a thread would prove nothing."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from bench.locks import LockBusy, hold
from tests.bench.tinytask import refresh_registry, register_tiny

REPO = Path(__file__).resolve().parents[2]


def _python(code: str, *args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def _bench(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "BENCH_ALLOCATOR": "system"}
    return subprocess.Popen([sys.executable, "-m", "bench", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for(path: Path, proc: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.time() + seconds
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"helper ended early: {proc.communicate()}")
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.05)


HOLDER = """
    import sys, time
    from pathlib import Path
    from bench.locks import hold
    lock, ready, release = map(Path, sys.argv[1:4])
    with hold(lock, what="the test's holder"):
        ready.touch()
        while not release.exists():
            time.sleep(0.05)
"""


@pytest.fixture
def holder(tmp_path):
    """``holder(lock)`` starts a process that holds ``lock`` until ``release()`` is called."""
    procs = []

    def start(lock: Path):
        ready, release = tmp_path / f"ready{len(procs)}", tmp_path / f"release{len(procs)}"
        proc = _python(HOLDER, str(lock), str(ready), str(release))
        procs.append(proc)
        _wait_for(ready, proc)
        return proc, release.touch

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


# -- the lock itself ----------------------------------------------------------------------------------------------
def test_busy_lock_names_its_holder_or_is_waited_for(tmp_path, holder):
    lock = tmp_path / "locks" / "run-x.lock"
    proc, release = holder(lock)
    with pytest.raises(LockBusy) as err:
        with hold(lock, what="run x", wait=False):
            pass
    assert f"run x is in use by pid {proc.pid} on {socket.gethostname()} since 20" in str(err.value)
    assert "the test's holder" in str(err.value)

    logged = []
    t0 = time.time()
    threading.Timer(1.0, release).start()
    with hold(lock, what="run x", log=logged.append):
        assert time.time() - t0 >= 0.9  # waited for the holder to finish
        assert proc.wait(10) == 0
    assert logged and f"in use by pid {proc.pid}" in logged[0]
    assert not (tmp_path / "locks" / "run-x.lock.json").exists()  # no sidecar once nobody holds it


def test_lock_of_a_killed_holder_is_free(tmp_path, holder):
    lock = tmp_path / "run-y.lock"
    proc, _ = holder(lock)
    proc.kill()  # kill -9: no cleanup ran, the sidecar stays behind
    proc.wait()
    with hold(lock, wait=False):
        pass


# -- first use of the stores --------------------------------------------------------------------------------------
MLFLOW_FIRST_USE = """
    import sys, time
    from pathlib import Path
    import mlflow  # the slow import first, so that all of them open the fresh store together
    from bench.tracking import Tracker
    go, uri, experiment = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    while not go.exists():
        time.sleep(0.01)
    tracker = Tracker(uri)
    tracker.start(experiment, "run")
    tracker.finish()
"""


def test_fresh_mlflow_store_opened_by_several_processes(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    go = tmp_path / "go"
    procs = [_python(MLFLOW_FIRST_USE, str(go), uri, name) for name in ("piezo", "piezo", "phonons")]
    time.sleep(1)
    go.touch()
    outcomes = [(p.wait(120), p.stderr.read()) for p in procs]
    assert all(rc == 0 for rc, _ in outcomes), [err[-600:] for _, err in outcomes]
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    assert sorted(e.name for e in client.search_experiments()) == ["Default", "phonons", "piezo"]


OPTUNA_FIRST_USE = """
    import sys, time
    from pathlib import Path
    import optuna
    from bench.tune import open_study
    go, url = Path(sys.argv[1]), sys.argv[2]
    while not go.exists():
        time.sleep(0.01)
    open_study("s", url, heartbeat=False)
"""


def test_fresh_optuna_storage_opened_by_several_processes(tmp_path):
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    go = tmp_path / "go"
    procs = [_python(OPTUNA_FIRST_USE, str(go), url) for _ in range(3)]
    time.sleep(1)
    go.touch()
    outcomes = [(p.wait(120), p.stderr.read()) for p in procs]
    assert all(rc == 0 for rc, _ in outcomes), [err[-600:] for _, err in outcomes]


# -- whole runs ---------------------------------------------------------------------------------------------------
@pytest.fixture
def tiny(data_dir, isolated_home):
    yield register_tiny(40)
    shutil.rmtree(isolated_home / "user_tasks", ignore_errors=True)
    refresh_registry()


def _runs(home: Path, experiment: str):
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{home / 'mlflow.db'}")
    exp = client.get_experiment_by_name(experiment)
    return client, ([] if exp is None else client.search_runs([exp.experiment_id]))


def _finish(*procs: subprocess.Popen, timeout: float = 240) -> list[tuple[int, str, str]]:
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=timeout)
        out.append((p.returncode, stdout, stderr))
    return out


@pytest.mark.slow  # two whole `bench run` processes: ~40 s on two shared cores
def test_identical_runs_at_once_train_once(tiny, isolated_home):
    args = ("run", "--task", tiny, "--budget", "smoke", "--device", "cpu")
    results = _finish(_bench(*args), _bench(*args))
    assert [rc for rc, _, _ in results] == [0, 0], [err[-800:] for _, _, err in results]
    client, runs = _runs(isolated_home, tiny)
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    assert len(client.get_metric_history(runs[0].info.run_id, "train_loss")) == 3  # smoke: 3 epochs, once
    waited = [err for _, _, err in results if "already finished" in err]
    assert len(waited) == 1  # the second reported the first one's result
    assert all(runs[0].info.run_id in out for _, out, _ in results)


@pytest.mark.slow
def test_different_runs_on_a_fresh_home_both_finish(tiny, isolated_home):
    results = _finish(*(_bench("run", "--task", tiny, "--budget", "smoke", "--device", "cpu", "--seed", seed)
                        for seed in ("0", "1")))
    assert [rc for rc, _, _ in results] == [0, 0], [err[-800:] for _, _, err in results]
    _, runs = _runs(isolated_home, tiny)
    assert sorted(r.info.status for r in runs) == ["FINISHED", "FINISHED"]


def test_no_wait_says_who_holds_the_run(tiny, isolated_home):
    from bench import paths
    from bench.locks import folder_lock
    from bench.run import plan_run

    workdir = plan_run(tiny, budget="smoke", device="cpu").workdir
    with hold(folder_lock(paths.user_data_dir(), "run", workdir.name), what="a test"):
        [(rc, _, err)] = _finish(_bench("run", "--task", tiny, "--budget", "smoke", "--device", "cpu", "--no-wait"))
    assert rc == 3, err
    assert f"is in use by pid {os.getpid()} on {socket.gethostname()}" in err and "Traceback" not in err
    assert not workdir.exists()


@pytest.mark.slow
def test_two_runs_needing_one_trunk_train_it_once(tiny, isolated_home):
    """Different fine-tuning trials, one pre-trained trunk: one process trains it, the other waits, loads it."""
    args = ("run", "--task", tiny, "--strategy", "ptft", "--pt-source", tiny, "--pt-size", "all",
            "--ft-size", "10", "--budget", "smoke", "--device", "cpu")
    results = _finish(_bench(*args, "--trial", "1"), _bench(*args, "--trial", "2"))
    assert [rc for rc, _, _ in results] == [0, 0], [err[-800:] for _, _, err in results]
    _, pretraining = _runs(isolated_home, "pretraining")
    assert [r.info.status for r in pretraining] == ["FINISHED"]
    assert sum("Reusing pre-trained checkpoint" in err for _, _, err in results) == 1
