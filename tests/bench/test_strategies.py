"""Pre-train/fine-tune and multi-property strategies: checkpoint reuse, leave-target-out, leakage."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from rich.console import Console

from bench.pretrain import PretrainSpec, cache_key, collect, pretrained_model
from bench.strategies import excluded_tests, mpt_sources, resolve_source, same_property


def test_sources_resolve_from_property_codes():
    assert resolve_source("fe", "piezo") == "flla-e-form"  # the target's family first
    assert resolve_source("fe", "devi2024-pz") == "devi2024-fe"
    assert resolve_source("bg", "devi2024-pz") == "devi2024-bg"
    with pytest.raises(KeyError, match="unknown pre-training source"):
        resolve_source("unobtainium", "piezo")


def test_leave_target_out_source_sets():
    for target in ("devi2024-pz", "devi2024-dc", "devi2024-ph", "piezo"):
        sources = mpt_sources(target)
        assert len(sources) >= 2
        assert not any(same_property(s, target) for s in sources), (target, sources)
    assert "devi2024-pz" not in mpt_sources("piezo")  # the same property in another family is still the target
    assert set(mpt_sources("devi2024-pz", ["fe", "bg"])) == {"devi2024-fe", "devi2024-bg"}
    with pytest.raises(ValueError, match="target's own property"):  # asked for explicitly: refused, not dropped
        mpt_sources("devi2024-pz", ["fe", "bg", "pz"])


def test_one_trunk_serves_a_family(data_dir):
    """Pre-training for any devi2024 target leaves out the test sets of all of them, so PZ, DC and PH fine-tune
    from the same cached FE trunk; a target without declared siblings excludes only its own test set."""
    family = excluded_tests("devi2024-pz")
    assert family == excluded_tests("devi2024-dc") == excluded_tests("devi2024-2d")
    assert {"devi2024-pz", "devi2024-dc", "devi2024-ph", "devi2024-gv", "devi2024-ebg", "devi2024-2d"} == set(family)
    assert excluded_tests("piezo") == ("piezo",)
    keys = {cache_key(PretrainSpec(sources=("devi2024-fe",), exclude_tasks=excluded_tests(t)), data_dir)
            for t in ("devi2024-pz", "devi2024-dc", "devi2024-ph")}
    assert len(keys) == 1
    assert cache_key(PretrainSpec(sources=("devi2024-fe",), exclude_tasks=("devi2024-pz",)), data_dir) not in keys


def test_pretraining_data_never_contains_the_target(data_dir):
    spec = PretrainSpec(sources=mpt_sources("devi2024-pz"), pt_size=20, budget="smoke", seed=0,
                        exclude_tasks=("devi2024-pz",))
    structures, targets, ids, report = collect(spec, data_dir, Console(quiet=True))
    assert targets.shape == (len(ids), len(spec.sources))
    assert not any(i.startswith("devi2024-pz:") for i in ids)
    assert set(report["sources"]) == set(spec.sources)
    # every entry carries at least one label, and merged entries may carry several
    assert (~(targets != targets)).any(axis=1).all()


def test_target_test_structures_are_excluded(data_dir):
    """piezo and devi2024-pz hold the same 941 materials: pre-training on the pz pool for the piezo target
    must drop (about) every piezo test structure the pool contains, and keep none."""
    from tasks import get_task
    from tasks.cleaning import matching_ids

    target = get_task("piezo")
    tdata = target.load(data_dir)
    test_ids = target.split.assign(tdata)["test"]
    spec = PretrainSpec(sources=("devi2024-pz",), pt_size="all", budget="paper", seed=0, exclude_tasks=("piezo",))
    structures, _, ids, report = collect(spec, data_dir, Console(quiet=True))
    excluded = report["sources"]["devi2024-pz"]["excluded_matching_target_test"]
    assert excluded >= 0.8 * len(test_ids) * 847 / 941, excluded  # the pool holds 847 of the 941 materials
    assert len(ids) == 847 - excluded
    from bench.structures import parse_structure

    refs = {i: parse_structure(tdata.records[i].structure, "cif") for i in test_ids}
    assert not matching_ids(dict(zip(ids, structures)), refs)


def test_pool_smaller_than_pt_size_is_used_whole(data_dir):
    """MPT for PH draws 941 per source, but PZ's pool holds 847: all of them are used, and the card says so."""
    console = Console(record=True, width=200)
    spec = PretrainSpec(sources=("devi2024-pz",), pt_size=941, budget="paper", seed=0)
    _, _, ids, report = collect(spec, data_dir, console)
    assert len(ids) == 847
    assert report["sources"]["devi2024-pz"] | {"used": 847, "requested": 941} == report["sources"]["devi2024-pz"]
    assert "only 847 usable structures" in console.export_text()


def test_pretrained_checkpoint_is_reused(data_dir):
    spec = PretrainSpec(sources=("devi2024-fe",), pt_size=40, budget="smoke", seed=0,
                        backbone_config=dict(alignn_layers=1, gcn_layers=1, hidden_features=16,
                                             embedding_features=8))
    console = Console(record=True, width=200)
    _, card = pretrained_model(spec, console)
    assert card["data"]["n_structures"] == 40 and card["data"]["n_train"] + card["data"]["n_val"] == 40
    _, again = pretrained_model(spec, console)
    assert again["key"] == card["key"]
    text = console.export_text()
    assert text.count("Pre-training on") == 1 and "Reusing pre-trained checkpoint" in text


def bench(*args, env=None):
    proc = subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.mark.parametrize("strategy_args", [["--strategy", "ptft", "--pt-source", "fe"],
                                           ["--strategy", "mpt"],
                                           ["--strategy", "ptft", "--pt-source", "bg", "--ft-mode", "last-layer"]])
def test_smoke_runs_on_piezo(strategy_args):
    proc = bench("run", "--task", "piezo", "--budget", "smoke", *strategy_args)
    assert "R²" in proc.stdout and "Pre-training on" in proc.stderr


def test_interrupted_sweep_resumes_without_redoing_runs(tmp_path):
    args = ["sweep", "--task", "devi2024-pz", "--strategies", "scratch", "--ft-sizes", "10,100",
            "--trials", "1", "--budget", "smoke"]
    env = {**os.environ, "BENCH_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen([sys.executable, "-m", "bench", *args], env=env, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith("[2/2]"):
            break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert any(line.startswith("[1/2]") for line in seen)
    again = bench(*args, env={"BENCH_HOME": str(tmp_path / "home")})
    assert "[1/2] scratch n=10 trial 1: finished earlier" in again.stderr
    assert "[2/2] scratch n=100 trial 1" in again.stderr and "[2/2] scratch n=100 trial 1: finished" not in again.stderr
    assert "scratch" in again.stdout and "100" in again.stdout
