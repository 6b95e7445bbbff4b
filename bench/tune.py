"""Hyper-parameter tuning with Optuna: one study per task x strategy x budget, one benchmark run per trial.

- The objective is the validation MAE of the model a run evaluates (best epoch, or last epoch for budgets that
  keep the last model); test metrics are never looked at.
- Each epoch's validation MAE is reported to the trial; a median pruner stops runs that fall behind.
- Every trial is an MLflow run (experiment = the task) tagged ``optuna.study``, ``optuna.trial_number`` and
  ``optuna.storage``; the trial records the run id (user attribute ``mlflow_run_id``).
- Storage: a sqlite file in the user data directory by default; any SQLAlchemy URL (``postgresql://...``)
  lets workers on several machines share one study.
- Resuming: ``--trials N`` means N *complete* trials, so rerunning the command continues the study. A trial
  whose process died (``kill -9``, a lost machine) is failed and retried with the same parameters, which
  resumes the run from its checkpoint: at once when the dead process ran on this machine, otherwise once its
  heartbeat is stale. A trial interrupted by Ctrl-C / SIGTERM queues its own retry before exiting.
"""

from __future__ import annotations

import copy
import inspect
import json
import math
import os
import random
import socket
import time
import warnings
from pathlib import Path
from typing import Any, Callable

from bench import paths
from bench.tune_space import budget_point, check_space, search_space, suggest  # noqa: F401  (bench/tune_space.py)

HEARTBEAT_INTERVAL_S = 20
HEARTBEAT_GRACE_S = 90
MAX_RETRY = 3
OLD_DEFAULTS = {"backbone": "alignn", "ft_size": None, "trial": None, "space": "full"}


# -- storage and study ------------------------------------------------------------------------------------------
def default_storage() -> str:
    path = paths.user_data_dir() / "optuna.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def storage_url(storage: str | None) -> str:
    """``None`` -> ``$BENCH_OPTUNA_STORAGE``, else the default sqlite file; a bare path -> a sqlite file
    there; URLs pass through."""
    storage = storage or os.environ.get("BENCH_OPTUNA_STORAGE")
    if not storage:
        return default_storage()
    if "://" not in storage:
        path = Path(storage).expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"
    return storage


def sanitise(url: str) -> str:
    """The URL without its password (what goes into tags and printed messages)."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1] if "@" in url else url


def study_name(task: str, strategy: str, budget: str, backbone: str = "alignn", ft_size: int | None = None,
               trial: int = 1, space: str = "full") -> str:
    # ALIGNN's studies keep the names they were created with; a fine-tuning subset adds its label (-n800-t1),
    # a fine-tuning-only space its own (-finetune)
    return (f"{task}-{strategy}-{budget}" + ("" if backbone == "alignn" else f"-{backbone}")
            + (f"-n{ft_size}-t{trial}" if ft_size is not None else "") + ("" if space == "full" else f"-{space}"))


def open_storage(storage: str | None = None, heartbeat: bool = True):
    """An RDB storage with heartbeats (stale trials are failed and retried) when ``heartbeat``."""
    import optuna

    url = storage_url(storage)
    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        engine_kwargs["connect_args"] = {"timeout": 60}  # several processes on one file wait for its lock
    kwargs: dict[str, Any] = {}
    if heartbeat:
        warnings.filterwarnings("ignore", message=".*(heartbeat_interval|grace_period|_trial_callback)")
        params = inspect.signature(optuna.storages.RDBStorage).parameters
        callback = "heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback" in params \
            else "failed_trial_callback"  # optuna < 4.9
        kwargs = {"heartbeat_interval": HEARTBEAT_INTERVAL_S, "grace_period": HEARTBEAT_GRACE_S, callback: retry_trial}
    if url.startswith("sqlite:///"):
        # Creating the tables of a fresh file is serialised among processes by a lock beside it.
        from bench.locks import first_use

        with first_use(Path(url[len("sqlite:///"):])):
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **kwargs)
    for attempt in range(4):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **kwargs)
        except Exception as err:  # workers on other machines starting together race to create the tables
            from sqlalchemy.exc import SQLAlchemyError

            if attempt == 3 or not isinstance(err, SQLAlchemyError):
                raise
            time.sleep(0.5 + random.random())


def open_study(name: str, storage: str | None = None, pruner=None, sampler=None, heartbeat: bool = True):
    """Create the study or load it if it exists (minimising)."""
    import optuna

    return optuna.create_study(storage=open_storage(storage, heartbeat), study_name=name, direction="minimize",
                               load_if_exists=True, pruner=pruner, sampler=sampler)


def load_study(name: str, storage: str | None = None):
    import optuna

    url = storage_url(storage)
    try:
        return optuna.load_study(study_name=name, storage=open_storage(url, heartbeat=False))
    except KeyError:
        raise KeyError(f"no study {name!r} in {sanitise(url)}; run `bench tune` first") from None


# -- workers, stale trials, retries ------------------------------------------------------------------------------
def _proc_start(pid: int) -> str | None:
    """Start time of a process (clock ticks since boot), None if it does not exist or is a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def worker_id() -> dict[str, Any]:
    """Who runs a trial: host, boot, pid and process start time (so a reused pid is not mistaken for it)."""
    pid = os.getpid()
    return {"host": socket.gethostname(), "boot": _boot_id(), "pid": pid, "start": _proc_start(pid)}


def worker_is_dead(worker: dict[str, Any] | None) -> bool:
    """True only when the worker provably ran on this machine (same boot) and its process is gone."""
    if not worker or worker.get("host") != socket.gethostname() or worker.get("boot") != _boot_id():
        return False
    pid = worker.get("pid")
    if not isinstance(pid, int):
        return False
    if Path("/proc").is_dir():
        return _proc_start(pid) != worker.get("start")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def retry_trial(study, trial) -> None:
    """Queue a failed trial again with the same parameters and intermediate values (its run resumes from its
    checkpoint: the parameters give the same run key); at most MAX_RETRY times."""
    import optuna

    system_attrs = {"failed_trial": trial.number, **copy.deepcopy(trial.system_attrs)}
    system_attrs["retry_history"] = [*system_attrs.get("retry_history", []), trial.number]
    if len(system_attrs["retry_history"]) > MAX_RETRY:
        return
    study.add_trial(optuna.create_trial(  # the layout optuna's RetryHeartbeatStaleTrialCallback uses
        state=optuna.trial.TrialState.WAITING, params=trial.params, distributions=trial.distributions,
        user_attrs={k: v for k, v in trial.user_attrs.items() if k not in ("worker", "mlflow_run_id")},
        system_attrs=system_attrs, intermediate_values=trial.intermediate_values))


def fail_dead_trials(study) -> list[int]:
    """Fail (and retry) the RUNNING trials whose process died on this machine; returns their numbers."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    failed = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not worker_is_dead(t.user_attrs.get("worker")):
            continue
        try:
            if not study._storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL):
                continue
        except UpdateFinishedTrialError:  # another process got there first
            continue
        retry_trial(study, study._storage.get_trial(t._trial_id))
        failed.append(t.number)
    return failed


def n_complete(study) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


def optimize_until(study, objective: Callable, n_trials: int, catch: tuple = (),
                   log: Callable[[str], None] = print) -> None:
    """Run trials until the study holds ``n_trials`` COMPLETE trials (pruned and failed ones do not count).

    Several workers may run this on one study; each may finish the trial it is running when the target is
    reached, so a study can end with up to (workers - 1) trials more than asked.
    """
    import optuna
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    revived = fail_dead_trials(study)
    if revived:
        log(f"Trials {', '.join(map(str, revived))} were left running by a process that died: failed, and "
            "queued again with the same parameters (their runs resume from checkpoints).")
    if n_complete(study) >= n_trials:
        return

    def wrapped(trial: optuna.Trial):
        trial.set_user_attr("worker", worker_id())
        try:
            return objective(trial)
        except KeyboardInterrupt:  # leave a retry behind: rerunning the command resumes this run
            retry_trial(study, study._storage.get_trial(trial._trial_id))
            raise

    study.optimize(wrapped, callbacks=[MaxTrialsCallback(n_trials, states=(TrialState.COMPLETE,))], catch=catch)


def make_pruner(budget: str):
    """Median pruner on per-epoch validation MAE: two complete trials first, and never before a few epochs."""
    import optuna

    from bench.budgets import get_budget

    return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=max(2, get_budget(budget).epochs // 8))


# -- the objective -----------------------------------------------------------------------------------------------
def make_objective(task: str, strategy: str, budget: str, name: str, storage: str, seed: int = 0,
                   device: str = "auto", tracking_uri: str | None = None, console=None,
                   backbone: str = "alignn", ft_size: int | None = None, trial_no: int = 1,
                   space_name: str = "full") -> Callable:
    import optuna
    from mlflow import MlflowClient

    from bench.run import plan_run, resolve_device, run_benchmark
    from bench.tracking import Tracker

    space = search_space(strategy, budget, backbone, space_name)
    uri = Tracker(tracking_uri).uri

    def objective(trial: optuna.Trial) -> float:
        overrides = suggest(trial, space)
        tags = {"optuna.study": name, "optuna.trial_number": trial.number, "optuna.storage": sanitise(storage)}

        def report(record: dict) -> None:
            step = record["epoch"] + 1
            trial.report(record["val_mae"], step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"val_mae {record['val_mae']:.4g} after epoch {step} is behind the median")

        if console:
            console.print(f"[bold]Trial {trial.number}[/] of study {name}: {overrides}")
        plan = plan_run(task, strategy, budget, seed, resolve_device(device), overrides=overrides,
                        backbone=backbone, ft_size=ft_size, trial=trial_no)
        trial.set_user_attr("workdir", str(plan.workdir))
        try:
            result = run_benchmark(task, strategy, budget, seed, device, tracking_uri, console=console,
                                   overrides=overrides, on_epoch=report, extra_tags=tags, backbone=backbone,
                                   ft_size=ft_size, trial=trial_no)
        except optuna.TrialPruned:
            run_id_file = plan.workdir / "mlflow_run_id"
            if run_id_file.exists():
                run_id = run_id_file.read_text().strip()
                trial.set_user_attr("mlflow_run_id", run_id)
                MlflowClient(uri).set_tag(run_id, "optuna.pruned", "true")
            raise
        # a run that had already finished (same parameters as an earlier trial) comes back as is: tag it too
        client = MlflowClient(uri)
        for k, v in tags.items():
            client.set_tag(result.run_id, k, str(v))
        trial.set_user_attr("mlflow_run_id", result.run_id)
        value = result.val_mae if result.val_mae is not None else result.best_val_mae
        if value is None or not math.isfinite(value):
            raise ValueError(f"run {result.run_id} reported no finite validation MAE ({value})")
        return float(value)

    return objective


# -- the command -------------------------------------------------------------------------------------------------
def tune(task: str, strategy: str, trials: int, budget: str = "quick", storage: str | None = None,
         study: str | None = None, seed: int = 0, device: str = "auto", tracking_uri: str | None = None,
         console=None, backbone: str = "alignn", ft_size: int | None = None, trial: int = 1, space: str = "full"):
    """Run (or continue) the study until it holds ``trials`` complete trials; returns the study.

    ``ft_size``/``trial``: tune on that fine-tuning subset's validation part (the cells records are made on).
    A new study runs the budget's own settings first (``budget_point``): the peer every tuned trial is read
    against, on the same validation data. ``space``: see ``bench.tune_space.search_space``."""
    import optuna
    import torch
    from rich.console import Console

    from bench.budgets import get_budget
    from bench.strategies import get_strategy
    from bench.tracking import Tracker
    from tasks import get_task

    from backbones.baselines import is_baseline

    if is_baseline(backbone):  # before any study exists
        raise ValueError(f"--backbone {backbone}: a baseline is not tunable; its hyper-parameters are fixed (the "
                         f"same in every record, so a floor is never fitted to the test protocol): run it with "
                         f"`bench run --task {task} --backbone {backbone}`")
    console = console or Console(stderr=True)
    task_obj = get_task(task)  # unknown names and missing data fail before the study exists
    get_strategy(strategy), get_budget(budget), check_space(space, strategy)
    missing = [p for p in task_obj.paths(paths.data_dir()) if not p.exists()]
    if missing:
        raise FileNotFoundError(f"task {task!r} needs {missing[0]}; set BENCH_DATA_DIR to the folder holding the "
                                "raw data")
    if trials < 1:
        raise ValueError("--trials must be at least 1")
    url = storage_url(storage)
    name = study or study_name(task, strategy, budget, backbone, ft_size, trial, space)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    s = open_study(name, url, pruner=make_pruner(budget))
    attrs = {"task": task, "strategy": strategy, "budget": budget, "seed": seed, "backbone": backbone,
             "ft_size": ft_size, "trial": trial if ft_size is not None else None, "space": space, "mlflow_experiment": task,
             "mlflow_tracking_uri": sanitise(Tracker(tracking_uri).uri)}
    for k in ("task", "strategy", "budget", "seed", "backbone", "ft_size", "trial", "space"):
        # a study from before backbones (subsets, spaces) were selectable holds ALIGNN trials (on the default
        # split, of the full space)
        old = "task" in s.user_attrs and k not in s.user_attrs and k in OLD_DEFAULTS
        held = OLD_DEFAULTS[k] if old else s.user_attrs.get(k, attrs[k])
        if held != attrs[k]:
            raise ValueError(f"study {name!r} holds trials with {k} {held!r}, not {attrs[k]!r}; "
                             "name another study with --study")
    for k, v in attrs.items():
        if s.user_attrs.get(k) != v:
            s.set_user_attr(k, v)
    if not s.get_trials(deepcopy=False):
        point = budget_point(search_space(strategy, budget, backbone, space), strategy, budget, backbone)
        if point:
            s.enqueue_trial(point, user_attrs={"budget_settings": True})
    done = n_complete(s)
    console.print(f"Study [bold]{name}[/] in {sanitise(url)}: {done} complete trial(s) of {trials}"
                  + (" — continuing" if 0 < done < trials else ""))
    objective = make_objective(task, strategy, budget, name, url, seed, device, tracking_uri, console, backbone,
                               ft_size, trial, space)
    optimize_until(s, objective, trials, catch=(torch.cuda.OutOfMemoryError,), log=console.print)
    return s


def summary(study) -> dict[str, Any]:
    from optuna.trial import TrialState

    counts = {state.name.lower(): 0 for state in TrialState}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name.lower()] += 1
    out: dict[str, Any] = {"study": study.study_name, "trials": counts}
    if counts["complete"]:
        best = study.best_trial
        out |= {"best_trial": best.number, "best_val_mae": best.value, "best_params": best.params,
                "best_mlflow_run_id": best.user_attrs.get("mlflow_run_id")}
    own = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
           if t.user_attrs.get("budget_settings")]
    if own:  # the peer: what the budget itself scores on the same validation data
        out |= {"budget_trial": own[0].number, "budget_val_mae": own[0].value}
    return out


# -- using the result --------------------------------------------------------------------------------------------
def best_overrides(task: str, strategy: str, budget: str, storage: str | None = None,
                   study: str | None = None, backbone: str = "alignn") -> dict[str, Any]:
    """The best complete trial's parameters of the study, as ``run_benchmark(..., overrides=...)``."""
    name = study or study_name(task, strategy, budget, backbone)
    s = load_study(name, storage)
    if not n_complete(s):
        raise ValueError(f"study {name!r} has no complete trial yet")
    return dict(s.best_trial.params)


def resolve_params(params: str | None, task: str, strategy: str, budget: str, storage: str | None = None,
                   study: str | None = None, console=None, backbone: str = "alignn") -> dict[str, Any] | None:
    """``bench run --params``: ``None`` -> None; ``best`` -> the study's best parameters (printed);
    a JSON object -> those parameters."""
    if not params:
        return None
    if params == "best":
        overrides = best_overrides(task, strategy, budget, storage, study, backbone)
        source = f"best trial of study {study or study_name(task, strategy, budget, backbone)}"
    else:
        try:
            overrides = json.loads(params)
        except json.JSONDecodeError:
            overrides = None
        if not isinstance(overrides, dict):
            raise ValueError(f"--params takes 'best' or a JSON object; got {params!r}")
        source = "--params"
    if console:
        console.print(f"Parameters from the {source}: "
                      + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in overrides.items()))
    return overrides
