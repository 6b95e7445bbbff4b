"""Two workers on one study in a real PostgreSQL server: no trial lost, none duplicated.

Needs Debian's ``postgresql`` package (``/usr/lib/postgresql/*/bin``; `.ci/run` installs it) and psycopg2
(the ``postgres`` extra). Skipped without them, unless ``BENCH_REQUIRE_POSTGRES`` is set (CI), where that fails.
As root (CI), the server runs as the ``postgres`` user via ``runuser``, since PostgreSQL refuses to run as root.
The objective is a cheap quadratic: this tests the storage and the worker loop, not training.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

N_TRIALS = 10

WORKER = r"""
import json, os, sys, time
from bench.tune import open_study, optimize_until

url, name, n, out, ready, other = sys.argv[1:7]
study = open_study(name, url)
open(ready, "w").close()
deadline = time.time() + 60
while not os.path.exists(other) and time.time() < deadline:  # start together, so both get trials
    time.sleep(0.05)

def objective(trial):
    x = trial.suggest_float("x", -10, 10)
    time.sleep(0.3)
    with open(out, "a") as fh:
        fh.write(json.dumps({"number": trial.number, "x": x}) + "\n")
    return (x - 2) ** 2

optimize_until(study, objective, int(n))
"""


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def _skip(reason: str):
    """Skip, unless BENCH_REQUIRE_POSTGRES is set (CI): there a missing server is a failure."""
    if os.environ.get("BENCH_REQUIRE_POSTGRES"):
        pytest.fail(f"BENCH_REQUIRE_POSTGRES is set but {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres_url(request):
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        _skip("psycopg2 is not installed (pip install -e '.[postgres]')")
    bindir = _pg_bin()
    if bindir is None:
        _skip("PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin; apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="tlbench-pg-"))
    request.addfinalizer(lambda: shutil.rmtree(root, ignore_errors=True))
    prefix: list[str] = []
    if os.geteuid() == 0:  # the server will not run as root
        runuser = shutil.which("runuser")
        try:
            import pwd

            pw = pwd.getpwnam("postgres")
        except KeyError:
            pw = None
        if runuser is None or pw is None:
            _skip("running as root, and no 'postgres' user or runuser to start PostgreSQL as")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        prefix = [runuser, "-u", "postgres", "--"]
    data, port = root / "data", _free_port()

    def pg(*cmd, check=True):
        return subprocess.run([*prefix, *map(str, cmd)], capture_output=True, text=True, timeout=60, check=check)

    init = pg(bindir / "initdb", "-D", data, "-U", "bench", "--auth=trust", "-E", "UTF8", "--no-sync", check=False)
    if init.returncode != 0:
        _skip(f"initdb failed here: {init.stderr.strip()[-500:]}")
    start = pg(bindir / "pg_ctl", "-D", data, "-l", root / "server.log", "-w", "-t", "30", "-o",
               f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off", "start", check=False)
    if start.returncode != 0:
        log = (root / "server.log").read_text() if (root / "server.log").exists() else ""
        raise AssertionError(f"PostgreSQL did not start:\n{start.stdout}\n{start.stderr}\n{log}")
    request.addfinalizer(lambda: pg(bindir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop", check=False))

    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=port, user="bench", dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("CREATE DATABASE optuna")
    conn.close()
    return f"postgresql+psycopg2://bench@127.0.0.1:{port}/optuna"


def test_two_workers_share_one_study_without_losing_or_duplicating_trials(postgres_url, tmp_path):
    import optuna
    from optuna.trial import TrialState

    name = "pg-two-workers"
    outs = [tmp_path / f"worker{k}.jsonl" for k in (0, 1)]
    ready = [tmp_path / f"ready{k}" for k in (0, 1)]
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, postgres_url, name, str(N_TRIALS), str(outs[k]),
                               str(ready[k]), str(ready[1 - k])], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for k in (0, 1)]
    logs = [p.communicate(timeout=120)[0] for p in procs]
    for p, log in zip(procs, logs):
        assert p.returncode == 0, log

    study = optuna.load_study(study_name=name, storage=postgres_url)
    trials = study.get_trials(deepcopy=False)
    numbers = sorted(t.number for t in trials)
    # MaxTrialsCallback stops a worker once N trials are complete; the other may finish the one it is running
    assert N_TRIALS <= len(trials) <= N_TRIALS + 1, numbers
    assert numbers == list(range(len(trials))), numbers  # no gap, no duplicate
    assert all(t.state == TrialState.COMPLETE for t in trials), [t.state for t in trials]

    done = [[json.loads(line) for line in out.read_text().splitlines()] if out.exists() else [] for out in outs]
    by_worker = [{d["number"] for d in ds} for ds in done]
    assert all(by_worker), f"a worker ran no trial: {by_worker}"
    assert not by_worker[0] & by_worker[1], by_worker  # no trial ran twice
    assert by_worker[0] | by_worker[1] == set(numbers)  # every stored trial was run, every run trial stored
    stored = {t.number: t for t in trials}
    for d in done[0] + done[1]:
        assert stored[d["number"]].params["x"] == d["x"]
        assert stored[d["number"]].value == pytest.approx((d["x"] - 2) ** 2)
    assert {t.user_attrs["worker"]["pid"] for t in trials} == {p.pid for p in procs}
