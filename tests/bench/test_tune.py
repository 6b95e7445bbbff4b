"""Hyper-parameter tuning: search spaces, overrides, stale-trial recovery, and a smoke study killed and resumed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import closing

import pytest

from bench import tune


# -- search spaces and overrides (fast) --------------------------------------------------------------------------
def test_search_space_per_strategy():
    from optuna.distributions import CategoricalDistribution

    from bench.finetune import MODES

    common = {"lr", "weight_decay", "batch_size", "hidden_features", "alignn_layers", "gcn_layers", "epochs"}
    scratch, ptft, mpt = (tune.search_space(s, "quick") for s in ("scratch", "ptft", "mpt"))
    assert set(scratch) == common
    assert set(ptft) == common | {"ft_mode"} and set(ptft["ft_mode"].choices) == set(MODES)
    assert set(mpt) == common | {"ft_mode", "weighting"} and set(mpt["weighting"].choices) == {"equal", "count"}
    # centred on the budget's own settings
    assert scratch["lr"].low < 2e-3 < scratch["lr"].high and scratch["lr"].log
    assert 32 in scratch["batch_size"].choices and 64 in scratch["hidden_features"].choices
    assert scratch["epochs"].low <= 40 <= scratch["epochs"].high
    smoke = tune.search_space("scratch", "smoke")
    assert isinstance(smoke["hidden_features"], CategoricalDistribution) and 32 in smoke["hidden_features"].choices
    with pytest.raises(KeyError):
        tune.search_space("magic", "quick")


def test_the_finetune_space_tunes_fine_tuning_only_and_every_trial_keeps_the_budgets_trunk():
    import optuna

    from bench.run import resolve_config
    from bench.strategies import pretrain_spec

    for strategy in ("ptft", "mpt"):
        space = tune.search_space(strategy, "quick", space="finetune")
        assert set(space) == {"lr", "weight_decay", "batch_size", "epochs", "ft_mode"}, strategy
        own = pretrain_spec(resolve_config("devi2024-dc", strategy, "quick", 0, "cpu", split={"ft_size": 800}))
        sampler = optuna.samplers.RandomSampler(seed=3)
        study = optuna.create_study(sampler=sampler)
        for _ in range(12):  # any drawn point: the trunk request (so its cache key) is the budget's own
            overrides = tune.suggest(study.ask(), space)
            cfg = resolve_config("devi2024-dc", strategy, "quick", 0, "cpu", split={"ft_size": 800},
                                 overrides=overrides)
            assert pretrain_spec(cfg) == own, overrides
        # the full space does change the trunk: another width is another pre-training
        wide = resolve_config("devi2024-dc", strategy, "quick", 0, "cpu", split={"ft_size": 800},
                              overrides={"hidden_features": 128})
        assert pretrain_spec(wide) != own
    with pytest.raises(ValueError, match="scratch has none"):
        tune.search_space("scratch", "quick", space="finetune")
    with pytest.raises(ValueError, match="choose one of full, finetune"):
        tune.search_space("ptft", "quick", space="trunk")


def test_suggested_parameters_reach_the_run_config_and_key():
    import optuna

    from bench.run import resolve_config, run_key

    params = {"lr": 3e-3, "weight_decay": 1e-4, "batch_size": 16, "hidden_features": 128, "alignn_layers": 3,
              "gcn_layers": 1, "epochs": 25, "ft_mode": "2-body", "weighting": "count"}
    overrides = tune.suggest(optuna.trial.FixedTrial(params), tune.search_space("mpt", "quick"))
    assert overrides == params
    cfg = resolve_config("piezo", "mpt", "quick", 0, "cpu", overrides=overrides)
    assert cfg["train"]["lr"] == 3e-3 and cfg["train"]["batch_size"] == 16 and cfg["train"]["epochs"] == 25
    assert cfg["backbone_config"]["hidden_features"] == 128 and cfg["backbone_config"]["alignn_layers"] == 3
    assert cfg["ft_mode"] == "2-body" and cfg["pretrain"]["weighting"] == "count"
    base = resolve_config("piezo", "mpt", "quick", 0, "cpu")
    assert base == resolve_config("piezo", "mpt", "quick", 0, "cpu", overrides={})  # no overrides: same run
    assert run_key(cfg, "h") != run_key(base, "h")
    with pytest.raises(KeyError, match="unknown override"):
        resolve_config("piezo", "scratch", "quick", 0, "cpu", overrides={"learning_rate": 1.0})


def test_params_option_parsing():
    assert tune.resolve_params(None, "piezo", "scratch", "smoke") is None
    assert tune.resolve_params('{"lr": 0.01}', "piezo", "scratch", "smoke") == {"lr": 0.01}
    with pytest.raises(ValueError, match="'best' or a JSON object"):
        tune.resolve_params("fastest", "piezo", "scratch", "smoke")
    with pytest.raises(KeyError, match="run `bench tune` first"):
        tune.resolve_params("best", "piezo", "scratch", "smoke")


def test_storage_urls_and_password_hiding(tmp_path):
    assert tune.storage_url(None).startswith("sqlite:///") and tune.storage_url(None).endswith("/optuna.db")
    assert tune.storage_url(str(tmp_path / "s.db")) == f"sqlite:///{tmp_path / 's.db'}"
    assert tune.sanitise("postgresql://bob:secret@db.example:5432/optuna") == \
        "postgresql://bob:***@db.example:5432/optuna"


# -- stale trials (fast: a quadratic objective) ------------------------------------------------------------------
DIE_MID_TRIAL = r"""
import os, sys
from bench.tune import open_study, worker_id
study = open_study(sys.argv[2], sys.argv[1])
trial = study.ask()
trial.suggest_float("x", -10, 10)
trial.report(5.0, 1)
trial.set_user_attr("worker", worker_id())
os._exit(0)  # dies without telling the study: the trial stays RUNNING
"""


def test_trial_of_a_dead_process_is_failed_and_retried(tmp_path):
    from optuna.trial import TrialState

    url, name = f"sqlite:///{tmp_path / 'o.db'}", "stale"
    subprocess.run([sys.executable, "-c", DIE_MID_TRIAL, url, name], check=True, timeout=120)
    study = tune.open_study(name, url)
    (dead,) = study.get_trials(states=(TrialState.RUNNING,))
    alive = tune.worker_id()
    assert tune.worker_is_dead(dead.user_attrs["worker"]) and not tune.worker_is_dead(alive)
    assert not tune.worker_is_dead(alive | {"host": "elsewhere"})  # other machines: left to the heartbeat

    seen = []

    def objective(trial):
        seen.append(dict(trial.params) or None)
        return (trial.suggest_float("x", -10, 10) - 2) ** 2

    tune.optimize_until(study, objective, 3, log=lambda msg: None)
    trials = study.get_trials()
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert trials[0].state == TrialState.FAIL
    assert len([t for t in trials if t.state == TrialState.COMPLETE]) == 3
    retry = trials[1]  # the queued retry runs first, with the dead trial's parameters and reports
    assert retry.system_attrs["failed_trial"] == 0 and retry.params == trials[0].params
    assert retry.intermediate_values == {1: 5.0} and seen[0] == trials[0].params
    assert retry.user_attrs["worker"]["pid"] == os.getpid()


def test_interrupted_trial_queues_its_retry(tmp_path):
    from optuna.trial import TrialState

    study = tune.open_study("ctrl-c", f"sqlite:///{tmp_path / 'o.db'}")

    def objective(trial):
        trial.suggest_float("x", -10, 10)
        trial.report(1.0, 1)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        tune.optimize_until(study, objective, 3)
    failed, retry = study.get_trials()
    assert failed.state == TrialState.FAIL and retry.state == TrialState.WAITING
    assert retry.params == failed.params and retry.intermediate_values == {1: 1.0}
    assert "worker" not in retry.user_attrs  # a queued trial belongs to no process yet


def test_a_study_keeps_its_task_and_seed(data_dir):
    study = tune.open_study("piezo-scratch-smoke")
    study.set_user_attr("seed", 1)
    with pytest.raises(ValueError, match="seed 1"):
        tune.tune("piezo", "scratch", 3, "smoke", seed=0)


def test_the_budgets_own_settings_are_a_point_of_its_space_and_the_records_run():
    from bench.run import plan_run

    for budget in ("smoke", "quick", "paper"):
        for strategy, name in [("scratch", "full"), *((s, n) for s in ("ptft", "mpt") for n in ("full", "finetune"))]:
            space = tune.search_space(strategy, budget, space=name)
            point = tune.budget_point(space, strategy, budget)
            assert set(point) == set(space), (strategy, budget, name)
            assert all(d._contains(d.to_internal_repr(point[k])) for k, d in space.items())
    # the same run key as a run without overrides: the peer trial is the run every record of the cell comes from
    point = tune.budget_point(tune.search_space("scratch", "quick"), "scratch", "quick")
    plain = plan_run("piezo", "scratch", "quick", 0, "cpu", ft_size=100, trial=2)
    assert plan_run("piezo", "scratch", "quick", 0, "cpu", ft_size=100, trial=2, overrides=point).key == plain.key
    assert plan_run("piezo", "scratch", "quick", 0, "cpu", ft_size=100, trial=2, overrides=point | {"lr": 1e-2}).key \
        != plain.key
    point = tune.budget_point(tune.search_space("mpt", "quick", space="finetune"), "mpt", "quick")
    assert plan_run("piezo", "mpt", "quick", 0, "cpu", ft_size=100, trial=2, overrides=point).key \
        == plan_run("piezo", "mpt", "quick", 0, "cpu", ft_size=100, trial=2).key


def test_a_subset_study_is_named_for_its_subset_and_keeps_it(data_dir):
    assert tune.study_name("devi2024-dc", "scratch", "quick", ft_size=800, trial=1) == "devi2024-dc-scratch-quick-n800-t1"
    assert tune.study_name("piezo", "scratch", "quick", "cgcnn", 100, 2) == "piezo-scratch-quick-cgcnn-n100-t2"
    old = tune.open_study("piezo-scratch-smoke")  # made on the default split, before subsets were selectable
    for k, v in {"task": "piezo", "strategy": "scratch", "budget": "smoke", "seed": 0}.items():
        old.set_user_attr(k, v)
    with pytest.raises(ValueError, match="ft_size None, not 100"):
        tune.tune("piezo", "scratch", 1, "smoke", study="piezo-scratch-smoke", ft_size=100)
    sub = tune.open_study("piezo-scratch-smoke-n100-t1")
    sub.set_user_attr("ft_size", 100), sub.set_user_attr("trial", 1)
    with pytest.raises(ValueError, match="trial 1, not 2"):
        tune.tune("piezo", "scratch", 1, "smoke", study="piezo-scratch-smoke-n100-t1", ft_size=100, trial=2)
    # a fine-tuning-only study has its own name, and an old study (full space) is not continued as one
    assert tune.study_name("devi2024-dc", "ptft", "quick", ft_size=800, trial=1, space="finetune") \
        == "devi2024-dc-ptft-quick-n800-t1-finetune"
    old_ptft = tune.open_study("piezo-ptft-smoke-n100-t1")
    for k, v in {"task": "piezo", "strategy": "ptft", "budget": "smoke", "seed": 0, "ft_size": 100, "trial": 1}.items():
        old_ptft.set_user_attr(k, v)
    with pytest.raises(ValueError, match="space 'full', not 'finetune'"):
        tune.tune("piezo", "ptft", 1, "smoke", study="piezo-ptft-smoke-n100-t1", ft_size=100, space="finetune")


def test_a_subset_study_runs_the_budget_first_and_reports_it_beside_the_best(data_dir):
    from rich.console import Console

    study = tune.tune("piezo", "scratch", 2, "smoke", ft_size=100, trial=2, device="cpu", console=Console(quiet=True))
    assert study.study_name == "piezo-scratch-smoke-n100-t2"
    first = study.trials[0]
    assert first.user_attrs["budget_settings"] and first.params == tune.budget_point(
        tune.search_space("scratch", "smoke"), "scratch", "smoke")
    info = tune.summary(study)
    assert info["budget_trial"] == 0 and info["budget_val_mae"] == first.value
    assert info["best_val_mae"] <= info["budget_val_mae"]
    assert study.user_attrs["ft_size"] == 100 and study.user_attrs["trial"] == 2
    # every trial ran on that subset: 100 -> 90/10 train/validation, capped by the smoke budget's limits
    from mlflow import MlflowClient

    client = MlflowClient(study.user_attrs["mlflow_tracking_uri"])
    for t in study.trials:
        run = client.get_run(t.user_attrs["mlflow_run_id"])
        assert run.data.params.get("split.ft_size", run.data.params.get("ft_size")) == "100", run.data.params


# -- a pruned trial: the run stops, its MLflow run ends KILLED and says why ---------------------------------------
def test_pruned_trial_stops_its_run_and_marks_it(data_dir, isolated_home):
    import optuna
    from mlflow import MlflowClient
    from optuna.trial import TrialState
    from rich.console import Console

    class PruneAtOnce(optuna.pruners.BasePruner):
        def prune(self, study, trial):
            return True

    url = tune.storage_url(None)
    study = tune.open_study("prune", url, pruner=PruneAtOnce())
    objective = tune.make_objective("piezo", "scratch", "smoke", "prune", url, device="cpu",
                                    console=Console(quiet=True))
    study.optimize(objective, n_trials=1)
    (trial,) = study.get_trials()
    assert trial.state == TrialState.PRUNED and list(trial.intermediate_values) == [1]
    client = MlflowClient(f"sqlite:///{isolated_home / 'mlflow.db'}")
    run = client.get_run(trial.user_attrs["mlflow_run_id"])
    assert run.info.status == "KILLED"
    assert run.data.tags["optuna.pruned"] == "true" and run.data.tags["optuna.study"] == "prune"
    assert run.data.tags["optuna.trial_number"] == "0"
    assert len(client.get_metric_history(run.info.run_id, "val_mae")) == 1  # stopped after the first epoch
    assert "test_mae" not in run.data.metrics


# -- the command: a smoke study, killed mid-study and rerun ------------------------------------------------------
def _trials(db):
    import sqlite3

    import optuna

    # Optuna's RDB storage creates and stamps the schema when it opens a fresh file; opening it here while the
    # tuner does the same races on alembic_version and kills the tuner. Look read-only until the study exists.
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
            ready = con.execute("SELECT 1 FROM alembic_version").fetchone() and con.execute(
                "SELECT 1 FROM studies WHERE study_name = ?", ("piezo-scratch-smoke",)).fetchone()
    except sqlite3.Error:  # not created yet, or being created
        return []
    if not ready:
        return []
    return optuna.load_study(study_name="piezo-scratch-smoke", storage=f"sqlite:///{db}").get_trials()


def test_smoke_study_killed_and_rerun_ends_complete(data_dir, isolated_home, tmp_path):
    from mlflow import MlflowClient
    from optuna.trial import TrialState

    cmd = [sys.executable, "-m", "bench.cli_tune", "--task", "piezo", "--strategy", "scratch", "--trials", "3",
           "--budget", "smoke", "--device", "cpu"]
    db = isolated_home / "optuna.db"
    with open(tmp_path / "first.log", "w") as log:
        first = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 240
        try:
            while time.time() < deadline and first.poll() is None:
                trials = _trials(db) if db.exists() else []
                if any(t.state == TrialState.COMPLETE for t in trials) and any(
                        t.state == TrialState.RUNNING and "worker" in t.user_attrs for t in trials):
                    break
                time.sleep(1)
            assert first.poll() is None, "the study ended before it could be killed:\n" + \
                (tmp_path / "first.log").read_text()
            assert time.time() < deadline, "no trial completed in time:\n" + (tmp_path / "first.log").read_text()
            time.sleep(2)  # into the second trial's run
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait()
    killed = [t.number for t in _trials(db) if t.state == TrialState.RUNNING]
    assert killed

    second = subprocess.run(cmd, capture_output=True, text=True, timeout=400)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "left running by a process that died" in second.stderr

    trials = _trials(db)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) >= 3
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert all(trials[k].state == TrialState.FAIL for k in killed)
    retries = [t for t in trials if t.system_attrs.get("failed_trial") in killed]
    assert retries and all(t.params == trials[t.system_attrs["failed_trial"]].params for t in retries)

    client = MlflowClient(f"sqlite:///{isolated_home / 'mlflow.db'}")
    for t in complete:
        run = client.get_run(t.user_attrs["mlflow_run_id"])
        assert run.info.status == "FINISHED"
        assert run.data.tags["optuna.study"] == "piezo-scratch-smoke"
        assert run.data.tags["optuna.storage"] == f"sqlite:///{db}"
        assert run.data.metrics["best_val_mae"] <= t.value + 1e-12  # the objective is a validation score

    best = tune.best_overrides("piezo", "scratch", "smoke")
    study = tune.load_study("piezo-scratch-smoke")
    assert best == study.best_params and study.user_attrs["mlflow_experiment"] == "piezo"


# -- other backbones ---------------------------------------------------------------------------------------------
def test_search_space_per_backbone():
    from bench.finetune import MODES

    common = {"lr", "weight_decay", "batch_size", "epochs"}
    cgcnn = tune.search_space("ptft", "quick", "cgcnn")
    assert set(cgcnn) == common | {"atom_features", "conv_layers", "hidden_features", "ft_mode"}
    assert 64 in cgcnn["atom_features"].choices and cgcnn["conv_layers"].low <= 3 <= cgcnn["conv_layers"].high
    assert set(cgcnn["ft_mode"].choices) == set(MODES) - {"3-body"}  # CGCNN has no 3-body part to train
    schnet = tune.search_space("scratch", "smoke", "schnet")
    assert set(schnet) == common | {"hidden_features", "num_filters", "interactions"}
    assert max(schnet["hidden_features"].choices) == 32 and schnet["interactions"].high == 1  # smoke: no bigger
    assert "alignn_layers" not in schnet
    # the shipped CHGNet trunk is fine-tuned around its own learning rate, a tenth of the budget's
    from bench.budgets import get_budget

    lr = get_budget("quick").lr
    assert cgcnn["lr"].low == pytest.approx(lr / 10) and cgcnn["lr"].high == pytest.approx(lr * 10)
    chgnet = tune.search_space("ptft", "quick", "chgnet")
    assert chgnet["lr"].low == pytest.approx(lr / 100) and chgnet["lr"].high == pytest.approx(lr)
    assert tune.search_space("scratch", "quick", "chgnet")["lr"].high == pytest.approx(lr * 10)


def test_study_names_and_studies_keep_their_backbone(data_dir):
    assert tune.study_name("piezo", "scratch", "smoke") == "piezo-scratch-smoke"  # ALIGNN's names unchanged
    assert tune.study_name("piezo", "scratch", "smoke", "cgcnn") == "piezo-scratch-smoke-cgcnn"
    study = tune.open_study("piezo-scratch-smoke")
    study.set_user_attr("task", "piezo")  # a study from before --backbone: it holds ALIGNN trials
    with pytest.raises(ValueError, match="backbone 'alignn', not 'cgcnn'"):
        tune.tune("piezo", "scratch", 1, "smoke", study="piezo-scratch-smoke", backbone="cgcnn")


def test_a_schnet_trial_runs_schnet(data_dir, isolated_home):
    from mlflow import MlflowClient

    from bench.tracking import Tracker

    study = tune.tune("piezo", "scratch", 1, "smoke", backbone="schnet")
    assert study.study_name == "piezo-scratch-smoke-schnet" and study.user_attrs["backbone"] == "schnet"
    run = MlflowClient(Tracker(None).uri).get_run(study.best_trial.user_attrs["mlflow_run_id"])
    assert run.data.tags["backbone"] == "schnet"
    assert set(study.best_trial.params) >= {"interactions", "num_filters"}
