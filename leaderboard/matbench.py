"""Matbench results files from our cross-validation records (``bench leaderboard export --matbench``).

The file is what ``matbench.MatbenchBenchmark.to_file`` writes and ``MatbenchBenchmark.from_file`` reads back
(matbench 0.6, benchmark ``matbench_v0.1``): per task and fold the test predictions keyed by the dataset's own
ids (``mb-log-gvrh-00006``), the fold's scores (mae, rmse, mape, max_error, as matbench's ``score_array``), the
run behind each fold as the fold's parameters, our metadata, a datestamp and matbench's content hash.

Only tasks whose rows *are* a Matbench dataset qualify (``tasks/matbench.py``: every row kept in file order, so
``--fold K`` is Matbench's fold K); the small stand-ins and the sources Matbench was filtered from do not.
Matbench refuses a task unless all five folds are recorded (``MatbenchTask.validate``), so a task with missing
folds is left out of the file, with the folds it lacks named.

This module does not import matbench: the file is written from the format (and the checks compare each record's
test ids with the fold ``tasks.splits.KFoldSplit`` gives over the dataset's ids, which the tests prove equal to
the folds in matbench's own validation file).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from leaderboard.records import Run

BENCHMARK = "matbench_v0.1"
MATBENCH_VERSION = "0.6"  # the version stamped in the file; matbench only warns when its own differs
N_FOLDS = 5


class MatbenchExportError(ValueError):
    """Records that cannot make a Matbench file; the message names the task, fold or record file."""


@dataclass(frozen=True)
class MatbenchDataset:
    task: str
    dataset: str  # matbench_log_gvrh
    rows: int

    @property
    def prefix(self) -> str:  # matbench.data_ops.load: the ids of mpcontribs
        return self.dataset.replace("matbench", "mb").replace("_", "-")

    def mb_id(self, row: int) -> str:
        width = math.floor(math.log(self.rows, 10)) + 1
        return f"{self.prefix}-{row + 1:0{width}d}"

    def ids(self) -> list[str]:
        return [self.mb_id(i) for i in range(self.rows)]


def matbench_datasets() -> dict[str, MatbenchDataset]:
    """Our task name -> the Matbench dataset its rows are (only tasks that keep every row in file order)."""
    from tasks.matbench import _DATASETS, TASKS

    out = {}
    for task in TASKS:
        dataset = Path(task.files[0]).name.split(".")[0]
        out[task.name] = MatbenchDataset(task.name, dataset, _DATASETS[dataset][1])
    return out


@dataclass(frozen=True)
class ExportSpec:
    """What to export: tasks (None: every Matbench task with records) and filters that pick one algorithm."""

    tasks: tuple[str, ...] | None = None
    strategy: str | None = None  # the record-name label: scratch, ptft-mp-e-form, mpt
    budget: str | None = None
    seed: int | None = None


@dataclass
class ExportReport:
    tasks: dict[str, str] = field(default_factory=dict)  # task -> algorithm label
    left_out: list[str] = field(default_factory=list)  # why each task with records was not written


def algorithm(run: Run) -> str:
    """One line naming what was trained, the same for every fold of one algorithm."""
    c = run.config
    pt = run.pretrain
    source = pt.get("source") or "+".join(pt.get("sources") or [])
    label = c["strategy"] + (f"-{source}" if c["strategy"] == "ptft" and source else "")
    mode = "" if run.ft_mode == "all" else f" ft_mode={run.ft_mode}"
    return f"{run.backbone} {label}{mode} budget={run.budget} seed={c['seed']}"


def _label(run: Run) -> str:
    pt = run.pretrain
    return run.strategy + (f"-{pt.get('source')}" if run.strategy == "ptft" and pt.get("source") else "")


def _select(runs: list[Run], spec: ExportSpec) -> dict[str, list[Run]]:
    known = matbench_datasets()
    if spec.tasks:
        unknown = [t for t in spec.tasks if t not in known]
        if unknown:
            raise MatbenchExportError(f"not a Matbench task: {', '.join(unknown)} (Matbench tasks: "
                                      f"{', '.join(known)}; others are not Matbench's rows and folds)")
    wanted = set(spec.tasks or known)
    by_task: dict[str, list[Run]] = {}
    for run in runs:
        if run.task not in wanted or run.config["split"].get("fold") is None:
            continue
        if spec.strategy and spec.strategy not in (run.strategy, _label(run)):
            continue
        if spec.budget and run.budget != spec.budget:
            continue
        if spec.seed is not None and run.config["seed"] != spec.seed:
            continue
        by_task.setdefault(run.task, []).append(run)
    return by_task


def _fold_runs(task: str, runs: list[Run]) -> dict[int, Run]:
    algos = sorted({algorithm(r) for r in runs})
    if len(algos) > 1:
        raise MatbenchExportError(
            f"{task}: fold records of {len(algos)} algorithms; a Matbench file holds one. Pick one with "
            f"--strategy/--budget/--seed: " + "; ".join(
                f"{a} (folds {', '.join(str(r.trial) for r in runs if algorithm(r) == a)})" for a in algos))
    folds: dict[int, Run] = {}
    for run in sorted(runs, key=lambda r: r.record.get("finished_at") or 0):
        fold = run.trial
        if fold in folds:
            raise MatbenchExportError(f"{task}: fold {fold} has two records of one algorithm ({folds[fold].path}, "
                                      f"{run.path}); delete the one not to submit")
        folds[fold] = run
    return folds


def _fold_data(ds: MatbenchDataset, fold: int, run: Run, expected: list[str]) -> dict[str, float]:
    ids = (run.record.get("split_ids") or {}).get("test")
    preds = run.predictions
    if not isinstance(ids, list) or preds is None:
        raise MatbenchExportError(f"{run.path}: no split_ids.test or test_predictions; Matbench needs a "
                                  f"prediction per test id")
    mb = [_as_mb_id(ds, i, run.path) for i in ids]
    if set(mb) != set(expected) or len(mb) != len(expected):
        missing, extra = set(expected) - set(mb), set(mb) - set(expected)
        cap = (run.config.get("data_limits") or {}).get("test")
        why = (f"its test set was capped at {cap} (budget {run.budget}): run the fold at a budget without a cap"
               if cap else "a run with a capped test set or on a different copy of the data cannot be submitted")
        raise MatbenchExportError(
            f"{run.path}: its test ids are not Matbench's fold {fold} of {ds.dataset} ({len(mb)} ids, fold has "
            f"{len(expected)}; {len(missing)} missing, {len(extra)} not in the fold"
            f"{', e.g. ' + sorted(missing or extra)[0] if missing or extra else ''}): {why}")
    return {i: float(p) for i, p in zip(mb, preds[1])}


def _as_mb_id(ds: MatbenchDataset, rid, path) -> str:
    rid = str(rid)
    if rid.startswith(ds.prefix + "-"):
        return rid
    if rid.isdigit() and int(rid) < ds.rows:  # a source file without an index: ids are row numbers
        return ds.mb_id(int(rid))
    raise MatbenchExportError(f"{path}: test id {rid!r} is neither a {ds.dataset} id ({ds.mb_id(0)}…) nor a row "
                              f"number")


def scores(y_true, y_pred) -> dict[str, float]:
    """matbench.data_ops.score_array for regression (mape ignores |y_true| <= 1e-5, as matbench does)."""
    import numpy as np

    t, p = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    err = p - t
    mask = np.abs(t) > 1e-5
    return {"mae": float(np.mean(np.abs(err))), "rmse": float(math.sqrt(np.mean(err ** 2))),
            "mape": float(np.mean(np.abs(err[mask] / t[mask]))), "max_error": float(np.max(np.abs(err)))}


def expected_folds(ds: MatbenchDataset) -> list[list[str]]:
    """Matbench's test ids per fold: our KFoldSplit over the dataset's rows (see tests: equal to matbench's)."""
    from tasks.data import Record, TaskData
    from tasks.matbench import TASKS

    cv = next(t.cv for t in TASKS if t.name == ds.task)
    data = TaskData({i: Record(i, None, 0.0, None) for i in ds.ids()})
    return [cv.assign(data, fold=k)["test"] for k in range(N_FOLDS)]


def _task_dict(ds: MatbenchDataset, folds: dict[int, Run]) -> dict:
    expected = expected_folds(ds)
    results = {}
    for k in range(N_FOLDS):
        run = folds[k]
        data = _fold_data(ds, k, run, expected[k])
        y_true = run.predictions[0]
        params = {"run_key": run.record["run_key"], "record": run.path.name, "algorithm": algorithm(run)}
        results[f"fold_{k}"] = {"data": data, "uncertainty": None, "parameters": params,
                                "scores": scores(y_true, list(data.values()))}
    return {"@module": "matbench.task", "@class": "MatbenchTask", "benchmark_name": BENCHMARK,
            "dataset_name": ds.dataset, "results": results}


def _immutify(d: dict) -> dict:
    """matbench.util.immutify_dictionary on JSON-native values: dicts sorted by key, recursively through dicts
    only (lists are kept as they are, as matbench does), so the hash below is the one from_file recomputes."""
    return dict(sorted(((k, _immutify(v) if isinstance(v, dict) else v) for k, v in d.items()),
                       key=lambda kv: kv[0]))


def content_hash(d: dict) -> str:
    return hashlib.sha256(json.dumps(_immutify(d)).encode("utf-8")).hexdigest()


def build_results(runs: list[Run], spec: ExportSpec) -> tuple[dict, ExportReport]:
    """The results file as a dict, and which tasks went in and why others did not."""
    datasets = matbench_datasets()
    by_task = _select(runs, spec)
    report = ExportReport()
    for task in spec.tasks or ():
        if task not in by_task and by_task:
            report.left_out.append(f"{task}: no --fold records match")
    tasks = {}
    commits = set()
    for task, task_runs in sorted(by_task.items()):
        folds = _fold_runs(task, task_runs)
        missing = [k for k in range(N_FOLDS) if k not in folds]
        if missing:
            report.left_out.append(
                f"{task}: folds {', '.join(map(str, missing))} missing (has {', '.join(map(str, sorted(folds)))}); "
                f"matbench refuses a task without all {N_FOLDS} folds: run `bench run --task {task} --fold K` "
                f"for each")
            continue
        ds = datasets[task]
        tasks[ds.dataset] = _task_dict(ds, folds)
        report.tasks[task] = algorithm(folds[0])
        commits |= {r.record.get("git_commit", "") for r in folds.values()}
    if not by_task:
        filters = ", ".join(f"{k} {v}" for k, v in (("strategy", spec.strategy), ("budget", spec.budget),
                                                     ("seed", spec.seed)) if v is not None)
        raise MatbenchExportError(f"nothing to export: no --fold records of {', '.join(spec.tasks or datasets)}"
                                  + (f" with {filters}" if filters else "")
                                  + f" among {len(runs)} record(s)")
    if not tasks:
        raise MatbenchExportError("nothing to export: no Matbench task has records of all 5 folds" +
                                  "".join(f"\n  {why}" for why in report.left_out))
    meta = {"software": "tl-bench", "algorithm": {t: a for t, a in report.tasks.items()},
            "git_commits": sorted(commits)}
    d = {"@module": "matbench.bench", "@class": "MatbenchBenchmark", "version": MATBENCH_VERSION,
         "benchmark_name": BENCHMARK, "tasks": tasks, "user_metadata": meta,
         "datestamp": datetime.datetime.now(datetime.timezone.utc).strftime("%Y.%m.%d %H:%M.%S")}
    d["hash"] = content_hash(d)
    return d, report


def write_results(runs: list[Run], spec: ExportSpec, output: Path) -> ExportReport:
    """Write the file as matbench's ``to_file`` does: plain JSON, whatever the name (``results.json.gz``, the
    name Matbench submissions use, is what ``to_file("results.json.gz")`` writes too; ``from_file`` reads text)."""
    d, report = build_results(runs, spec)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_text(json.dumps(d), encoding="utf-8")
    tmp.replace(output)
    return report
