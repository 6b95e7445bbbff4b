"""The classical baselines (mean, composition-gbr) through bench run, records, the leaderboard and every
command that takes --backbone."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

from bench.cli import app
from bench.run import run_benchmark
from bench.spec import RunSpec, SpecError
from tests.bench.tinytask import register_tiny


def _bench(*args):
    return CliRunner().invoke(app, list(args))


def _tiny_target(record_id: str) -> float:
    return 0.1 * int(record_id[1:])  # register_tiny's made-up targets: m{k} -> 0.1 k


def test_mean_baseline_mae_is_numpys(data_dir, isolated_home):
    task = register_tiny(30, "bl-mean")
    result = run_benchmark(task, "scratch", "smoke", device="cpu", backbone="mean", console=Console(quiet=True))
    record = json.loads((result.workdir / "result.json").read_text())
    ids = record["split_ids"]
    train = np.array([_tiny_target(i) for i in ids["train"]])
    test = np.array([_tiny_target(i) for i in ids["test"]])
    assert len(test) >= 2 and not set(ids["train"]) & set(ids["test"])
    assert result.test_metrics["mae"] == pytest.approx(np.mean(np.abs(test - train.mean())), rel=1e-12)
    assert record["test_predictions"]["y_pred"] == pytest.approx([train.mean()] * len(test))
    assert not (result.workdir / "model.pt").exists()  # no model file: nothing a later load could run


def test_magpie_features_of_known_compositions():
    from pymatgen.core import Composition

    from backbones.baselines.features import composition_features, feature_labels

    labels = feature_labels()
    assert len(labels) == 132

    def feature(formula, name):
        return composition_features(Composition(formula))[labels.index(f"MagpieData {name}")]

    assert feature("NaCl", "mean Number") == pytest.approx(14.0)  # (11 + 17) / 2
    assert feature("NaCl", "range Number") == pytest.approx(6.0)
    # Fe2O3: Z = 26 (x2/5), 8 (x3/5): mean 15.2, mean |Z - 15.2| = (2 * 10.8 + 3 * 7.2) / 5
    assert feature("Fe2O3", "mean Number") == pytest.approx(15.2)
    assert feature("Fe2O3", "avg_dev Number") == pytest.approx(8.64)
    assert feature("Fe2O3", "minimum Number") == 8 and feature("Fe2O3", "maximum Number") == 26


def test_feature_cache_is_reused_and_a_damaged_one_recomputed(data_dir, isolated_home):
    from backbones.baselines.features import FeatureCache
    from bench import paths
    from tasks import get_task

    task = get_task(register_tiny(6, "bl-cache"))
    records = list(task.load(paths.data_dir()).records.values())
    first = FeatureCache(paths.cache_dir(), task.name, "hash-a")
    x = first.features(records, "tiny")
    assert first.misses == 6 and first.path.exists() and x.shape == (6, 132)
    again = FeatureCache(paths.cache_dir(), task.name, "hash-a")
    assert np.array_equal(again.features(records, "tiny"), x, equal_nan=True) and again.hits == 6
    assert FeatureCache(paths.cache_dir(), task.name, "hash-b").path != first.path  # keyed by data hash
    first.path.write_bytes(b"not a zip")
    damaged = FeatureCache(paths.cache_dir(), task.name, "hash-a")
    assert "unreadable" in damaged.note
    assert np.array_equal(damaged.features(records, "tiny"), x, equal_nan=True) and damaged.misses == 6


def test_unparsable_structure_is_named_by_entry(data_dir, isolated_home):
    from backbones.baselines.features import FeatureCache
    from bench import paths
    from bench.dataset import DatasetError
    from tasks.data import Record

    bad = Record("broken-7", "data_x\n_cell_length_a 3.0\n", 1.0, "cif")
    with pytest.raises(DatasetError, match="broken-7"):
        FeatureCache(paths.cache_dir(), "tiny", "h").features([bad], "tiny (rows.csv)")


def test_gbr_run_through_bench_run_writes_a_valid_record(data_dir, isolated_home, tmp_path):
    from bench.metrics import evaluate
    from bench.records import export_record
    from leaderboard.records import load_record

    task = register_tiny(40, "bl-gbr")
    out = _bench("run", "--task", task, "--backbone", "composition-gbr", "--budget", "smoke", "--device", "cpu")
    assert out.exit_code == 0, out.output
    [result_json] = (isolated_home / "runs").glob("*/result.json")
    run = load_record(export_record(result_json, tmp_path / "results"))  # the leaderboard's reader
    assert run.backbone == "composition-gbr" and run.strategy == "scratch" and "composition-gbr" in run.path.name
    rec = run.record
    y_true, y_pred = run.predictions
    assert y_true == pytest.approx([_tiny_target(i) for i in rec["split_ids"]["test"]])
    assert run.metrics == pytest.approx(evaluate(y_true, y_pred))
    assert rec["baseline"]["n_trees"] == 300 and rec["baseline"]["model_saved"] is False
    assert rec["config"]["backbone_config"]["max_iter"] == 300
    assert rec["versions"]["scikit-learn"] != "not installed" and rec["data_hash"] and rec["git_commit"]
    assert {"train", "val", "test"} <= set(rec["split_ids"]) and rec["wall_seconds"] > 0
    # tracked like any run: FINISHED, with the task's tags and the record as an artifact
    from bench.tracking import Tracker

    client = Tracker().client
    mlrun = client.get_run(rec["run_id"])
    assert mlrun.info.status == "FINISHED" and mlrun.data.tags["backbone"] == "composition-gbr"
    assert "test_mae" in mlrun.data.metrics
    assert "record.json" in {a.path for a in client.list_artifacts(rec["run_id"])}
    # predict refuses it, saying why, instead of "no model file"
    pred = _bench("predict", "--model", str(result_json.parent), "x.cif")
    assert pred.exit_code == 2 and "not supported for baselines" in pred.output
    by_id = _bench("predict", "--model", rec["run_id"], "x.cif")  # an MLflow run id: its backbone tag says so
    assert by_id.exit_code == 2 and "not supported for baselines" in by_id.output


@pytest.mark.parametrize("backbone", ["mean", "composition-gbr"])
@pytest.mark.parametrize("strategy", ["ptft", "mpt"])
def test_pretraining_strategies_are_refused_for_baselines(backbone, strategy, isolated_home):
    with pytest.raises(SpecError, match=f"{backbone} is a baseline, trained on the target alone"):
        RunSpec("piezo", strategy, "smoke", backbone=backbone)
    out = _bench("run", "--task", "piezo", "--strategy", strategy, "--backbone", backbone, "--budget", "smoke")
    assert out.exit_code == 2 and "Use --strategy scratch" in out.output
    assert not (isolated_home / "runs").exists()


def test_baselines_take_no_params_tune_or_pretrain(isolated_home):
    with pytest.raises(SpecError, match="fixed hyper-parameters"):
        RunSpec("piezo", "scratch", "smoke", backbone="composition-gbr", overrides={"lr": 0.1})
    with pytest.raises(SpecError, match="trains no epochs"):
        RunSpec("piezo", "scratch", "smoke", epochs=5, backbone="mean")
    tune = _bench("tune", "--task", "piezo", "--backbone", "composition-gbr", "--trials", "1", "--budget", "smoke")
    assert tune.exit_code == 2 and "not tunable" in tune.output
    pretrain = _bench("pretrain", "--source", "fe", "--backbone", "mean", "--budget", "smoke")
    assert pretrain.exit_code == 2 and "no trunk to pre-train" in pretrain.output
    assert not (isolated_home / "runs").exists()


def test_backbones_command_lists_the_baselines():
    out = CliRunner().invoke(app, ["backbones"], env={"COLUMNS": "250"})
    assert out.exit_code == 0, out.output
    lines = {line.split("│")[1].strip(): line for line in out.output.splitlines() if line.count("│") > 3}
    assert "baseline" in lines["mean"] and "300 trees" in lines["composition-gbr"]
    assert "Ward et al. 2016" in lines["composition-gbr"] and "BSD-3-Clause" in lines["composition-gbr"]


def test_split_records_are_the_gnn_runs_structures(data_dir, isolated_home):
    """Baselines read split_records, GNN runs load_splits: the same ids, smoke caps included."""
    from bench import paths
    from bench.dataset import load_splits, split_records
    from bench.graphs.cache import GraphCache
    from tasks import get_task

    task = get_task(register_tiny(30, "bl-split"))
    limits = {"train": 8, "val": 3, "test": None}
    parts, _ = split_records(task, paths.data_dir(), limits, seed=3)
    graphs = load_splits(task, paths.data_dir(), GraphCache(paths.cache_dir() / "graphs"), limits, seed=3)
    assert {k: [r.id for r in v] for k, v in parts.items()} == {k: v.ids for k, v in graphs.items()}
    assert len(parts["train"]) == 8


def test_compare_keeps_a_baseline_apart_from_alignn_scratch(tmp_path):
    from leaderboard.compare import compare
    from leaderboard.records import load_records
    from tests.leaderboard.test_build import make_record, write_records, write_reference

    alignn = make_record("devi2024-pz", "scratch", 800, 1, skill=0.5)
    mean = make_record("devi2024-pz", "scratch", 800, 1, skill=0.0)
    mean["config"]["backbone"], mean["run_key"] = "mean", "0123456789ab"
    folder = write_records(tmp_path / "results", [alignn, mean])
    assert len(list(folder.iterdir())) == 2  # the backbone is in the file name
    cells = {c.label: c for c in compare(load_records(folder), write_reference(tmp_path / "ref.csv"))}
    assert cells["scratch"].ours[1]["mae"] == alignn["test_metrics"]["mae"]
    assert cells["baseline mean"].ours[1]["mae"] == mean["test_metrics"]["mae"]
    assert cells["baseline mean"].paper == {}  # the paper has no such row


def test_sweep_runs_a_baseline_and_exports_its_record(data_dir, isolated_home, tmp_path):
    from leaderboard.records import load_records

    task = register_tiny(20, "bl-sweep")
    args = ("sweep", "--task", task, "--backbone", "mean", "--strategies", "scratch", "--ft-sizes", "all",
            "--trials", "1", "--budget", "smoke", "--device", "cpu", "--export", "--results-dir",
            str(tmp_path / "results"))
    out = _bench(*args)
    assert out.exit_code == 0, out.output
    [run] = load_records(tmp_path / "results")
    assert run.backbone == "mean" and run.path.name.startswith(f"{task}__mean__scratch__smoke__full")
    again = _bench(*args)  # the committed record is found by its run key: nothing reruns
    assert again.exit_code == 0 and "committed record" in again.output
    refused = _bench(*args[:6], "scratch,ptft", *args[7:])
    assert refused.exit_code == 2 and "mean is a baseline" in refused.output


def test_missing_matminer_says_what_to_install(monkeypatch):
    import sys

    from backbones.baselines import features

    features._featurizer.cache_clear()
    monkeypatch.setitem(sys.modules, "matminer.featurizers.composition", None)  # import fails
    try:
        with pytest.raises(features.MissingExtra, match="pip install --no-deps matminer==0.10.1"):
            features.feature_labels()
    finally:
        features._featurizer.cache_clear()

