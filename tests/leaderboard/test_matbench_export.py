"""``bench leaderboard export --matbench``: our folds are matbench's, and the file we write is one the matbench
package loads and scores the same as we do. matbench's datasets are never downloaded: its loader is replaced by
a generated dataframe with the real dataset's ids (its folds live in its validation file, over every row)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.metrics import evaluate
from leaderboard.matbench import ExportSpec, MatbenchExportError, build_results, expected_folds, matbench_datasets
from leaderboard.records import load_records
from tasks import get_task
from tasks.data import Record, TaskData
from tests.leaderboard.test_build import make_record, write_records

MATBENCH_TASKS = ("matbench-log-gvrh", "matbench-log-kvrh", "mp-gap", "mp-e-form")


@pytest.fixture(scope="module")
def matbench():
    pytest.importorskip("matminer", reason="matbench needs matminer: pip install --no-deps matbench matminer")
    return pytest.importorskip("matbench")


def _frame(dataset: str, seed: int = 0):
    """The dataframe matbench's ``load`` returns, generated: its ids, no structures, random targets."""
    import pandas as pd
    from matbench.metadata import mbv01_metadata

    ds = next(d for d in matbench_datasets().values() if d.dataset == dataset)
    meta = mbv01_metadata[dataset]
    y = np.random.default_rng(seed).normal(1.0, 0.5, ds.rows)
    return pd.DataFrame({meta.input_type: [None] * ds.rows, meta.target: y}, index=pd.Index(ds.ids(), name="mbid"))


@pytest.fixture
def offline_matbench(matbench, monkeypatch):
    """matbench with its dataset loader returning generated frames (no network); the frames by dataset."""
    import matbench.task

    frames = {}

    def load(name, *args, **kwargs):
        frames.setdefault(name, _frame(name))
        return frames[name]

    monkeypatch.setattr(matbench.task, "load", load)
    return frames


@pytest.mark.parametrize("task_name", [t if t.startswith("matbench") else pytest.param(t, marks=pytest.mark.slow)
                                       for t in MATBENCH_TASKS])  # the MP sets: 100k+ rows, ~8 s each
def test_our_folds_are_matbenchs(offline_matbench, task_name):
    from matbench.task import MatbenchTask

    ds = matbench_datasets()[task_name]
    mb = MatbenchTask(ds.dataset, autoload=True)
    task = get_task(task_name)
    by_id = TaskData({i: Record(i, {}, 0.0, None) for i in ds.ids()})  # the source's index: mb ids
    by_row = TaskData({str(i): Record(str(i), {}, 0.0, None) for i in range(ds.rows)})  # no index: row numbers
    ours_expected = expected_folds(ds)  # what the exporter checks records against
    for fold in mb.folds:
        want_test = list(mb.get_test_data(fold, as_type="df").index)
        want_train = set(mb.get_train_and_val_data(fold, as_type="df").index)
        ours = task.protocol(fold).assign(by_id, fold=fold)
        assert ours["test"] == want_test  # same ids, same order
        assert set(ours["train"]) | set(ours["val"]) == want_train and not set(ours["train"]) & set(ours["val"])
        rows = task.protocol(fold).assign(by_row, fold=fold)["test"]
        assert [ds.mb_id(int(i)) for i in rows] == want_test
        assert ours_expected[fold] == want_test


def _fold_records(task: str, frame, folds=range(5), strategy="scratch", **kw) -> list[dict]:
    """Records of ``--fold K`` runs on the generated dataset: test ids and truths as ``bench run`` stores them."""
    ds = matbench_datasets()[task]
    target = frame.columns[1]
    out = []
    for k in folds:
        test = expected_folds(ds)[k]
        y_true = frame.loc[test, target].to_numpy()
        y_pred = y_true + np.random.default_rng(k).normal(0, 0.1 + 0.02 * k, len(test))
        rec = make_record(task, strategy, None, k, skill=0.5, **kw)
        rec["config"]["split"] = {"ft_size": None, "trial": None, "fold": k}
        rec["split_ids"] = {"train": ["x"], "val": ["y"], "test": test}
        rec["test_predictions"] = {"y_true": [float(v) for v in y_true], "y_pred": [float(v) for v in y_pred]}
        rec["test_metrics"] = evaluate(y_true, y_pred)
        rec["task_info"] |= {"family": "matbench", "units": "log10(GPa)"}
        rec["run_key"] = hashlib.sha256(repr((task, strategy, k, sorted(kw.items()))).encode()).hexdigest()[:12]
        out.append(rec)
    return out


def test_exported_file_loads_in_matbench_with_our_scores(offline_matbench, tmp_path):
    from matbench.bench import MatbenchBenchmark
    from matbench.task import MatbenchTask

    frame = _frame("matbench_log_gvrh")
    records = _fold_records("matbench-log-gvrh", frame)
    folder = write_records(tmp_path / "results", records)
    out = tmp_path / "results.json.gz"
    res = CliRunner().invoke(app, ["leaderboard", "export", "--matbench", "--results", str(folder),
                                   "--output", str(out)])
    assert res.exit_code == 0, res.output
    assert "matbench-log-gvrh: 5 folds, alignn scratch budget=quick seed=0" in res.output

    mb = MatbenchBenchmark.from_file(str(out))  # validates every fold's ids and scores, checks the hash
    task = mb.matbench_log_gvrh
    assert task.all_folds_recorded and mb.is_valid
    for k, rec in enumerate(records):
        fold = task.results[f"fold_{k}"]
        assert fold.scores.mae == pytest.approx(rec["test_metrics"]["mae"], rel=1e-12)
        assert fold.scores.rmse == pytest.approx(rec["test_metrics"]["rmse"], rel=1e-12)
        assert fold.parameters.run_key == rec["run_key"]
    assert task.scores.mae.mean == pytest.approx(np.mean([r["test_metrics"]["mae"] for r in records]))

    # matbench's own scoring of the same predictions (its record() looks the truths up by id in its dataframe):
    # a prediction attached to the wrong id would score differently
    fresh = MatbenchTask("matbench_log_gvrh", autoload=True)
    for k in fresh.folds:
        ids = list(fresh.get_test_data(k, as_type="df").index)
        fresh.record(k, [task.results[f"fold_{k}"].data[i] for i in ids])
        for metric in ("mae", "rmse", "mape", "max_error"):
            assert fresh.results[f"fold_{k}"].scores[metric] == pytest.approx(
                task.results[f"fold_{k}"].scores[metric], rel=1e-9)


def test_missing_folds_leave_the_task_out(offline_matbench, tmp_path):
    """matbench refuses a task without all 5 folds (shown below), so such a task is left out, named."""
    from matbench.bench import MatbenchBenchmark

    records = _fold_records("matbench-log-gvrh", _frame("matbench_log_gvrh"), folds=(0, 1, 3))
    records += _fold_records("matbench-log-kvrh", _frame("matbench_log_kvrh"))
    folder = write_records(tmp_path / "results", records)
    out = tmp_path / "results.json.gz"
    res = CliRunner().invoke(app, ["leaderboard", "export", "--matbench", "--results", str(folder), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "left out matbench-log-gvrh: folds 2, 4 missing (has 0, 1, 3)" in res.output
    mb = MatbenchBenchmark.from_file(str(out))
    assert list(mb.tasks_map) == ["matbench_log_kvrh"]

    only_partial = CliRunner().invoke(app, ["leaderboard", "export", "--matbench", "--results", str(folder),
                                            "-o", str(tmp_path / "b.json.gz"), "--task", "matbench-log-gvrh"])
    assert only_partial.exit_code == 2 and not (tmp_path / "b.json.gz").exists()
    assert "nothing to export" in only_partial.output and "folds 2, 4 missing" in only_partial.output

    # why: the same file with one fold emptied (hash recomputed) is refused by matbench itself
    from leaderboard.matbench import content_hash

    d = json.loads(out.read_text())
    d["tasks"]["matbench_log_kvrh"]["results"]["fold_4"]["data"] = {}
    d.pop("hash")
    d["hash"] = content_hash(d)
    with pytest.raises(ValueError, match="not recorded"):
        MatbenchBenchmark.from_dict(d)


def test_records_that_are_not_matbenchs_folds_are_refused(tmp_path):
    import pandas as pd  # no matbench needed here: truths come from a generated frame

    ds = matbench_datasets()["matbench-log-gvrh"]
    frame = pd.DataFrame({"structure": [None] * ds.rows, "log10(G_VRH)": np.linspace(0.5, 2.5, ds.rows)},
                         index=ds.ids())
    records = _fold_records("matbench-log-gvrh", frame)
    capped = records[2]
    capped["split_ids"]["test"] = capped["split_ids"]["test"][:100]  # a --limit-test run
    capped["test_predictions"] = {k: v[:100] for k, v in capped["test_predictions"].items()}
    folder = write_records(tmp_path / "r", records)
    with pytest.raises(MatbenchExportError, match=r"fold2.*not Matbench's fold 2 of matbench_log_gvrh \(100 ids"
                                                  r".*different copy of the data"):
        build_results(load_records(folder), ExportSpec())
    capped["config"]["data_limits"]["test"] = 100  # what --budget smoke records
    folder = write_records(tmp_path / "r1", records)
    with pytest.raises(MatbenchExportError, match=r"capped at 100 \(budget quick\)"):
        build_results(load_records(folder), ExportSpec())

    other = _fold_records("matbench-log-gvrh", frame, strategy="mpt", sources=["mp-gap"])
    folder2 = write_records(tmp_path / "r2", _fold_records("matbench-log-gvrh", frame) + other)
    with pytest.raises(MatbenchExportError, match="2 algorithms.*--strategy"):
        build_results(load_records(folder2), ExportSpec())
    d, report = build_results(load_records(folder2), ExportSpec(strategy="mpt"))
    assert report.tasks == {"matbench-log-gvrh": "alignn mpt budget=quick seed=0"}

    with pytest.raises(MatbenchExportError, match="not a Matbench task: piezo"):
        build_results(load_records(folder2), ExportSpec(tasks=("piezo",)))
    res = CliRunner().invoke(app, ["leaderboard", "export", "--task", "piezo"])
    assert res.exit_code == 2 and "go with --matbench" in res.output


def test_row_number_ids_are_matbench_ids(tmp_path):
    """A source copy without an index gives row numbers as ids: exported under matbench's ids for those rows."""
    import pandas as pd

    ds = matbench_datasets()["matbench-log-kvrh"]
    frame = pd.DataFrame({"structure": [None] * ds.rows, "log10(K_VRH)": np.linspace(1.0, 2.0, ds.rows)},
                         index=ds.ids())
    records = _fold_records("matbench-log-kvrh", frame)
    want, _ = build_results(load_records(write_records(tmp_path / "a", records)), ExportSpec())
    for rec in records:
        rec["split_ids"]["test"] = [str(int(i.rsplit("-", 1)[1]) - 1) for i in rec["split_ids"]["test"]]
    got, _ = build_results(load_records(write_records(tmp_path / "b", records)), ExportSpec())
    assert got["tasks"] == want["tasks"]
    assert list(got["tasks"]["matbench_log_kvrh"]["results"]["fold_0"]["data"])[:2] == \
        expected_folds(ds)[0][:2] == ["mb-log-kvrh-00006", "mb-log-kvrh-00010"]


def test_export_from_the_mlflow_store(offline_matbench, tmp_path):
    from matbench.bench import MatbenchBenchmark

    from bench.tracking import Tracker

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = Tracker(uri)
    for rec in _fold_records("matbench-log-kvrh", _frame("matbench_log_kvrh")):
        tracker.start("matbench-log-kvrh", f"fold{rec['config']['split']['fold']}")
        tracker.log_json(rec, "record.json")
        tracker.finish("FINISHED")
    out = tmp_path / "results.json.gz"
    res = CliRunner().invoke(app, ["leaderboard", "export", "--matbench", "--from-mlflow", "--tracking-uri", uri,
                                   "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert list(MatbenchBenchmark.from_file(str(out)).tasks_map) == ["matbench_log_kvrh"]
    assert not (tmp_path / "results").exists()  # the records went through a temporary folder only


def test_no_fold_records_says_where_it_looked(tmp_path):
    folder = write_records(tmp_path / "r", [make_record("devi2024-pz", "scratch", 800, 1, skill=0.5)])
    res = CliRunner().invoke(app, ["leaderboard", "export", "--matbench", "--results", str(folder), "--budget",
                                   "paper", "-o", str(tmp_path / "x.json")])
    assert res.exit_code == 2 and not (tmp_path / "x.json").exists()
    assert "no --fold records of mp-e-form, mp-gap, matbench-log-gvrh, matbench-log-kvrh with budget paper among " \
           f"1 record(s) in {folder}" in " ".join(res.output.split())
