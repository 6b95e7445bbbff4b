"""Test-set leakage: pre-training never sees a test structure of the run it serves (every protocol, ptft and
mpt), a source of the target's own property is refused unless asked for, and runs check their own splits."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from rich.console import Console

from bench.leakage import LeakageError, check_disjoint, check_trunk_covers_run, ids_digest, run_test_ids
from bench.pretrain import PretrainSpec, cache_key, collect
from bench.run import resolve_config
from bench.strategies import _spec, _trunk_info, mpt_sources, same_property


def _sources(config):
    pt = config["pretrain"]
    return (pt["source"],) if "source" in pt else tuple(pt["sources"])


def _test_structures(task_name, split, data_dir):
    from bench.structures import parse_structure
    from tasks import get_task

    data = get_task(task_name).load(data_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {i: parse_structure(data.records[i].structure, data.records[i].fmt)
                for i in run_test_ids(task_name, split, data_dir)}


# (task, strategy, split, pretrain): every protocol with both pre-training strategies. The fold cases draw
# from pools that hold most of the fold's test structures (log-gvrh from itself, dielectric-n from devi2024-dc:
# 183 of 236 and 172 of 211 at the default PT size), which pre-training on the fixed split's exclusion kept.
CASES = {
    "random-default-ptft": ("dielectric-n", "ptft", {}, {"source": "dc"}),
    "random-default-mpt": ("dielectric-n", "mpt", {}, {"sources": ["dc", "pz"]}),
    "group-ft-subset-ptft": ("devi2024-pz", "ptft", {"ft_size": 100, "trial": 2}, {"source": "gv"}),
    "group-ft-subset-mpt": ("devi2024-pz", "mpt", {"ft_size": 100, "trial": 2}, {"sources": ["gv", "dc"]}),
    "kfold-log-gvrh-fold1-ptft": ("log-gvrh", "ptft", {"fold": 1}, {"source": "gv", "allow_target_source": True}),
    "kfold-dielectric-fold1-ptft": ("dielectric-n", "ptft", {"fold": 1}, {"source": "dc"}),
    "kfold-dielectric-fold2-mpt": ("dielectric-n", "mpt", {"fold": 2}, {"sources": ["dc", "pz"]}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_no_pretraining_structure_matches_a_test_structure_of_the_run(case, data_dir):
    """The pre-training set collected for a run's config, matched (same matcher as cleaning) against the test
    set the run is evaluated on: nothing may match. On the fold cases the exclusion must have removed some."""
    from tasks.cleaning import matching_ids

    task, strategy, split, pretrain = CASES[case]
    config = resolve_config(task, strategy, "smoke", 0, "cpu", split=split, pretrain={"pt_size": 60, **pretrain})
    structures, _, ids, report = collect(_spec(config, _sources(config)), data_dir, Console(quiet=True))
    test = _test_structures(task, config["split"], data_dir)
    leaked = matching_ids(dict(zip(ids, structures)), test)
    assert not leaked, f"{len(leaked)} pre-training structures match {task} test structures: {sorted(leaked)[:5]}"
    excluded = report["exclusion"]["tasks"][task]
    assert excluded["n_test"] == len(test) and excluded["fold"] == split.get("fold")
    if "fold" in split:
        assert excluded["protocol"].startswith(f"fold {split['fold']}")
        assert report["exclusion"]["n_excluded"] > 0, report


def test_log_gvrh_fold1_card_states_the_exclusion(data_dir):
    config = resolve_config("log-gvrh", "ptft", "smoke", 0, "cpu", split={"fold": 1},
                            pretrain={"source": "gv", "allow_target_source": True})
    spec = _spec(config, ("log-gvrh",))
    assert spec.exclude_folds == (("log-gvrh", 1),)
    _, _, _, report = collect(spec, data_dir, Console(quiet=True))
    assert report["exclusion"]["tasks"]["log-gvrh"]["n_test"] == 236
    assert report["sources"]["log-gvrh"]["excluded_matching_target_test"] == report["exclusion"]["n_excluded"] > 0


def test_cache_key_follows_the_evaluated_split(data_dir):
    """A fold-1 trunk is never served to fold 2 or to the fixed split; FT subsets (same fixed test set) and the
    devi2024 family still share one trunk."""
    def key(task, split, source="dc"):
        config = resolve_config(task, "ptft", "smoke", 0, "cpu", split=split, pretrain={"source": source})
        return cache_key(_spec(config, _sources(config)), data_dir)

    folds = {key("dielectric-n", {"fold": f}) for f in range(5)}
    assert len(folds) == 5 and key("dielectric-n", {}) not in folds
    assert key("dielectric-n", {}) == key("dielectric-n", {"ft_size": 100, "trial": 3})
    assert len({key(t, {"ft_size": 100, "trial": 1}, "fe") for t in ("devi2024-pz", "devi2024-dc")}) == 1


def test_excluded_ids_enter_the_key(data_dir, monkeypatch):
    """The key changes when the excluded test ids change although the data files do not (a split protocol
    edited in a task file)."""
    import bench.leakage as leakage

    spec = PretrainSpec(sources=("devi2024-fe",), exclude_tasks=("piezo",))
    before = cache_key(spec, data_dir)
    real = leakage.excluded_tests

    def fewer(*args):
        out = real(*args)
        out["piezo"]["ids"] = out["piezo"]["ids"][1:]
        return out

    monkeypatch.setattr(leakage, "excluded_tests", fewer)
    assert cache_key(spec, data_dir) != before


def test_a_trunk_for_another_split_is_refused(data_dir):
    config = resolve_config("dielectric-n", "ptft", "smoke", 0, "cpu", split={"fold": 2}, pretrain={"source": "dc"})
    fold1 = run_test_ids("dielectric-n", {"fold": 1}, data_dir)
    card = {"key": "k", "data": {"exclusion": {"tasks": {"dielectric-n": {
        "protocol": "fold 1", "test_ids_sha256": ids_digest(fold1)}}}}}
    with pytest.raises(LeakageError, match="fold 1.*not the 211 test structures of dielectric-n"):
        check_trunk_covers_run(card, config, data_dir)
    fold2 = run_test_ids("dielectric-n", {"fold": 2}, data_dir)
    card["data"]["exclusion"]["tasks"]["dielectric-n"]["test_ids_sha256"] = ids_digest(fold2)
    check_trunk_covers_run(card, config, data_dir)
    with pytest.raises(LeakageError, match="does not record"):
        check_trunk_covers_run({"key": "old", "data": {}}, config, data_dir)


def test_a_trunk_that_excluded_piezo_serves_piezo_log_on_the_same_test_ids(data_dir):
    import json

    from bench import zoo

    config = resolve_config("piezo-log", "mpt", "quick", 0, "cpu")
    card = json.loads((zoo.get("alignn-quick-mpt6x941-piezo").folder() / "card.json").read_text())
    check_trunk_covers_run(card, config, data_dir)  # the shipped card: it excluded piezo's (= piezo-log's) test set
    tampered = {"key": "k", "data": {"exclusion": {"tasks": {"piezo": {
        "protocol": "fixed", "test_ids_sha256": ids_digest(run_test_ids("piezo", {}, data_dir)[1:])}}}}}
    with pytest.raises(LeakageError, match="not the 93 test structures of piezo-log"):
        check_trunk_covers_run(tampered, config, data_dir)  # the ids themselves are still compared


def test_collect_fails_loudly_if_a_test_structure_survives(data_dir, monkeypatch):
    """The post-collection guard: a broken per-block filter (simulated) is caught, not trained on."""
    import tasks.cleaning as cleaning

    monkeypatch.setattr(cleaning, "matching_ids", lambda c, r: set())  # the filter lets everything through
    spec = PretrainSpec(sources=("devi2024-pz",), pt_size="all", budget="smoke", exclude_tasks=("piezo",))
    with pytest.raises(LeakageError, match="match excluded test structures"):
        collect(spec, data_dir, Console(quiet=True))


def test_train_val_test_overlap_is_refused():
    check_disjoint({"train": ["a", "b"], "val": ["c"], "test": ["d"]}, "t")
    with pytest.raises(LeakageError, match="t: 1 val ids are also test ids.*c"):
        check_disjoint({"train": ["a"], "val": ["c"], "test": ["c", "d"]}, "t")


def test_run_checks_its_split_before_training(monkeypatch):
    import bench.run as run
    from bench.dataset import LabelledGraphs

    def overlapping(*args, **kwargs):
        part = lambda ids: LabelledGraphs(ids, [], np.zeros(len(ids)))  # noqa: E731
        return {"train": part(["x", "y"]), "val": part(["z"]), "test": part(["y"])}

    monkeypatch.setattr(run, "load_splits", overlapping)
    with pytest.raises(LeakageError, match="piezo: 1 train ids are also test ids"):
        run.run_benchmark("piezo", "scratch", "smoke", device="cpu", console=Console(quiet=True))


# --------------------------------------------------------------------------------- the target as a source


@pytest.mark.parametrize("task, strategy, pretrain", [
    ("piezo", "ptft", {"source": "pz"}),
    ("piezo", "ptft", {"source": "devi2024-pz"}),
    ("log-gvrh", "ptft", {"source": "gv"}),
    ("log-gvrh", "ptft", {"source": "matbench-log-gvrh"}),
    ("devi2024-pz", "ptft", {"source": "pz"}),
    ("piezo", "mpt", {"sources": ["fe", "bg", "pz"]}),
    ("devi2024-gv", "mpt", {"sources": ["fe", "bg", "log-gvrh"]}),
])
def test_a_source_of_the_targets_property_is_refused(task, strategy, pretrain):
    with pytest.raises(ValueError, match="target's own property.*--allow-target-source"):
        resolve_config(task, strategy, "smoke", 0, "cpu", pretrain=pretrain)
    config = resolve_config(task, strategy, "smoke", 0, "cpu", pretrain={**pretrain, "allow_target_source": True})
    assert config["pretrain"]["allow_target_source"] is True
    info = _trunk_info(config)
    assert info["trunk_saw_target_property"] is True and info["pretrained_properties"]


def test_same_property_ties_physical_and_devi2024_tasks():
    assert same_property("piezo", "devi2024-pz") and same_property("log-gvrh", "devi2024-gv")
    assert same_property("phonons", "devi2024-ph") and same_property("log-gvrh", "matbench-log-gvrh")
    assert not same_property("dielectric-n", "devi2024-dc") and not same_property("log-gvrh", "log-kvrh")


def test_ordinary_configs_keep_their_keys_and_say_what_the_trunk_saw():
    config = resolve_config("piezo", "ptft", "smoke", 0, "cpu", pretrain={"source": "fe"})
    assert "allow_target_source" not in config["pretrain"]  # run keys of ordinary runs are unchanged
    assert _trunk_info(config) == {"pretrained_properties": ["flla-e-form"], "trunk_saw_target_property": False}
    scratch = resolve_config("piezo", "scratch", "smoke", 0, "cpu")
    assert _trunk_info(scratch) == {"pretrained_properties": [], "trunk_saw_target_property": False}
    assert not any(same_property(s, "piezo") for s in mpt_sources("piezo"))


def test_cli_refuses_before_any_work(isolated_home):
    from typer.testing import CliRunner

    from bench.cli import app

    runner = CliRunner()
    out = runner.invoke(app, ["run", "--task", "piezo", "--strategy", "ptft", "--pt-source", "pz",
                              "--ft-size", "10", "--budget", "smoke"])
    assert out.exit_code == 2 and "target's own property" in out.output
    out = runner.invoke(app, ["sweep", "--task", "devi2024-pz", "--strategies", "scratch,ptft", "--pt-sources",
                              "fe,pz", "--ft-sizes", "10", "--trials", "1", "--budget", "smoke"])
    assert out.exit_code == 2 and "target's own property" in out.output
    assert "[1/" not in out.output and not (isolated_home / "runs").exists()


def test_new_records_carry_their_twin_flag(data_dir, monkeypatch):
    from bench.leakage import twin_flags

    used = twin_flags("devi2024-pz", {"train": ["pz-1", "pz-365"], "val": [], "test": ["pz-367"]}, data_dir)
    assert used == {"trained_on_test_twin": [["pz-365", "pz-367"]], "twin_check": "checked"}
    assert twin_flags("devi2024-pz", {"train": ["pz-1"], "val": [], "test": ["pz-367"]},
                      data_dir)["trained_on_test_twin"] == []
    import tasks.twins as twins

    monkeypatch.setattr(twins, "TWIN_LIMIT", 100)  # a large task is not checked, and the record says so
    skipped = twin_flags("devi2024-pz", {"train": ["pz-365"], "val": [], "test": ["pz-367"]}, data_dir)
    assert skipped["trained_on_test_twin"] is None and skipped["twin_check"].startswith("not checked: 941 records")
