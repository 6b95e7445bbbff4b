"""CHGNet through every command: its own graph rule in the run's config and model file, ``--pt-source mptrj``
as the shipped weights (sha256-checked, leakage on the record), refusals of what it cannot do, the suite
without chgnet installed."""

from __future__ import annotations

import json
import math
import sys

import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

from bench.spec import RunSpec, SpecError

TINY = "tiny"  # 24 piezo structures, made-up targets (tests/bench/tinytask.py)
CHGNET_GRAPH = {"rule": "chgnet", "atom_graph_cutoff": 6.0, "bond_graph_cutoff": 3.0,
                "build": "backbones.chgnet.graphs:chgnet_graph",
                "converter": "chgnet.graph.CrystalGraphConverter(algorithm='fast')", "version": 1}


def _bench(*args):
    from bench.cli import app

    return CliRunner().invoke(app, list(args), env={"COLUMNS": "240"})  # wide: table cells not wrapped


@pytest.fixture(scope="module")
def chgnet():
    return pytest.importorskip("chgnet")


@pytest.fixture(scope="module")
def module_home(tmp_path_factory):
    return tmp_path_factory.mktemp("chgnet-home")


@pytest.fixture
def home(module_home, monkeypatch, data_dir):
    """One BENCH_HOME for this module's runs (so each smoke run trains once), holding the tiny task."""
    from tests.bench.tinytask import refresh_registry, register_tiny

    monkeypatch.setenv("BENCH_HOME", str(module_home))
    register_tiny(24)
    yield module_home
    monkeypatch.undo()
    refresh_registry()  # the other modules' registry: no tiny task


def _smoke(strategy: str, **kw):
    from bench.run import run_benchmark

    return run_benchmark(TINY, strategy, "smoke", device="cpu", backbone="chgnet", epochs=1,
                         console=Console(quiet=True), **kw)


# -- configuration: the graph rule and the shipped trunk ---------------------------------------------------------

def test_config_names_chgnets_graph_rule_not_alignns():
    from bench.run import resolve_config

    scratch = resolve_config("piezo", "scratch", "smoke", 0, "cpu", backbone="chgnet")
    assert scratch["graph"] == CHGNET_GRAPH
    assert scratch["backbone_config"] == {"model_name": "0.3.0", "pretrained": False}
    assert resolve_config("piezo", "scratch", "smoke", 0, "cpu")["graph"] == {"cutoff": 8.0, "max_neighbors": 12}
    ptft = resolve_config("piezo", "ptft", "smoke", 0, "cpu", backbone="chgnet", pretrain={"source": "mptrj"})
    assert ptft["pretrain"] == {"source": "mptrj", "trunk": "chgnet-0.3.0-mptrj"}
    assert ptft["backbone_config"] == {"model_name": "0.3.0", "pretrained": True}
    # chgnet's only trunk is the shipped one: it is also the default source (bench tune has no --pt-source)
    assert resolve_config("piezo", "ptft", "smoke", 0, "cpu", backbone="chgnet")["pretrain"] == ptft["pretrain"]


def test_graph_source_refuses_a_config_made_for_another_rule(tmp_path):
    from bench.dataset import graph_source

    assert graph_source("chgnet", tmp_path, CHGNET_GRAPH).rule.as_dict() == CHGNET_GRAPH
    with pytest.raises(ValueError, match="is not backbone chgnet's"):
        graph_source("chgnet", tmp_path, CHGNET_GRAPH | {"version": 0})


@pytest.mark.parametrize("kwargs, message", [
    ({"strategy": "ptft", "pt_source": "mptrj"},
     r"--pt-source mptrj is the shipped chgnet trunk \(chgnet-0.3.0-mptrj\).*--backbone chgnet only, not alignn"),
    ({"strategy": "ptft", "pt_source": "fe", "backbone": "chgnet"},
     r"--pt-source fe with --backbone chgnet: .* not pre-trained here; .* --pt-source mptrj"),
    ({"strategy": "mpt", "backbone": "chgnet"}, r"--strategy mpt with --backbone chgnet: multi-property"),
    ({"strategy": "mpt", "mpt_sources": ("mptrj", "bg")}, r"--mpt-sources: mptrj is a shipped trunk"),
    ({"strategy": "ptft", "pt_source": "mptrj", "pt_size": 100, "backbone": "chgnet"},
     r"--pt-size: the mptrj trunk is shipped"),
    ({"backbone": "chgnet", "overrides": {"pretrained": True}}, r"--params pretrained: for backbone chgnet the "
                                                                r"strategy decides it"),
    ({"backbone": "chgnet", "overrides": {"three_body_cutoff": 3.0}},
     r"--params three_body_cutoff: the graph levers change the ALIGNN graph"),
])
def test_what_chgnet_and_mptrj_cannot_do_is_refused_before_any_work(kwargs, message):
    with pytest.raises(SpecError, match=message):
        RunSpec("piezo", budget="smoke", **kwargs)


def test_every_mode_applies_to_chgnet_3_body_included():
    for mode in ("all", "last-layer", "new-head", "2-body", "3-body", "all-but-embedding"):
        RunSpec("piezo", "ptft", "smoke", ft_mode=mode, backbone="chgnet", pt_source="mptrj")


@pytest.mark.parametrize("args, message", [
    (["--source", "mptrj", "--backbone", "chgnet"], "--source mptrj is shipped pre-trained"),
    (["--source", "fe", "--backbone", "chgnet"], "--backbone chgnet: pre-training builds the ALIGNN graph"),
])
def test_pretrain_command_refuses_chgnet_and_mptrj(args, message, isolated_home):
    out = _bench("pretrain", *args, "--budget", "smoke", "--for-task", "piezo")
    assert out.exit_code == 2, out.output
    assert message in " ".join(out.output.split())
    assert not (isolated_home / "mlflow.db").exists()


def test_weights_whose_sha256_is_not_the_cards_are_refused(chgnet, monkeypatch):
    from backbones.chgnet import weights

    monkeypatch.setitem(weights.SHA256, "0.3.0", "0" * 64)
    with pytest.raises(ValueError, match=r"has sha256 d14ab7c0.*not the 0{64} of the chgnet==0.4.2 weights .*"
                                         r"refusing to load it"):
        weights.load_checkpoint("0.3.0")


def test_weights_sha256_is_the_cards():
    from backbones.chgnet.weights import SHA256
    from bench.foundation import load_card

    assert load_card("chgnet-0.3.0-mptrj")["model"]["weight_file_sha256"] == SHA256["0.3.0"]


# -- runs at the smoke budget ------------------------------------------------------------------------------------

@pytest.fixture
def ptft_run(chgnet, data_dir, home):
    return _smoke("ptft", pretrain={"source": "mptrj"}, ft_mode="all")


def test_ptft_from_mptrj_records_the_trunk_and_its_leakage(ptft_run):
    result = json.loads((ptft_run.workdir / "result.json").read_text())
    assert all(math.isfinite(v) for v in result["test_metrics"].values())
    info = result["strategy_info"]
    assert info["pretrained_key"] == "chgnet-0.3.0-mptrj" and info["pretrained_sources"] == "mptrj"
    assert info["foundation"]["weight_file_sha256"].startswith("d14ab7c0") and info["foundation"]["package"] == (
        "chgnet==0.4.2")
    assert info["trunk_saw_target_property"] is False and info["trunk_saw_test_structures"] is True
    assert "Materials Project" in info["test_structure_leakage"]
    assert info["pretrained_exclusion"]["n_excluded"] == 0 and info["trainable"] == 399_886
    assert result["config"]["graph"] == CHGNET_GRAPH


def test_model_file_round_trips_and_predicts_with_chgnets_graph(ptft_run, tmp_path, data_dir):
    """Two test structures written as CIF files, predicted from the saved model: the numbers the model in
    memory gave them at the end of the run (its test predictions)."""
    import warnings

    from backbones.chgnet.graphs import CHGNET_RULE
    from bench.checkpoint import load_model
    from bench.predict import predict_files
    from bench.structures import parse_structure
    from tasks import get_task

    key = json.loads((ptft_run.workdir / "result.json").read_text())["run_key"]
    model, rule, meta = load_model(ptft_run.workdir / "model.pt", identity={"run_key": key})
    assert rule == CHGNET_RULE and meta["integrity"] == "verified" and model.backbone_name == "chgnet"
    saved = pd.read_csv(ptft_run.workdir / "test_predictions.csv").head(2)
    data = get_task(TINY).load(data_dir)
    files = []
    for i in saved["id"]:
        record = data.records[str(i)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            structure = parse_structure(record.structure, record.fmt, source=str(i))
        files.append(tmp_path / f"{i}.cif")
        structure.to(filename=str(files[-1]))
    out = _bench("predict", "--model", str(ptft_run.workdir / "model.pt"), "--format", "json", *map(str, files))
    assert out.exit_code == 0, out.output
    predicted = [p["value"] for p in json.loads(out.output)]
    assert predicted == pytest.approx(list(saved["y_pred"]), abs=1e-4)
    assert [p.value for p in predict_files(model, rule, files)] == pytest.approx(predicted, abs=1e-6)


def test_predict_with_a_chgnet_model_without_chgnet_says_how_to_install(ptft_run, monkeypatch, piezo_structures,
                                                                        tmp_path):
    piezo_structures[0].to(filename=str(tmp_path / "a.cif"))
    monkeypatch.setitem(sys.modules, "chgnet", None)
    out = _bench("predict", "--model", str(ptft_run.workdir / "model.pt"), str(tmp_path / "a.cif"))
    assert out.exit_code == 2 and 'pip install -e ".[chgnet]"' in " ".join(out.output.split()), out.output


def test_a_model_file_of_another_graph_version_is_refused(tmp_path):
    from bench.artifacts import ArtifactError
    from bench.checkpoint import _graph_of

    blob = {"architecture": {"backbone": "chgnet"}, "graph_rule": CHGNET_GRAPH | {"version": 7}}
    with pytest.raises(ArtifactError, match=r"m.pt: holds a graph rule .* graph version 7 .* builds version 1"):
        _graph_of(blob, tmp_path / "m.pt", "")


def test_scratch_run_trains_fresh_weights_on_chgnets_graph(chgnet, data_dir, home):
    result = _smoke("scratch")
    record = json.loads((result.workdir / "result.json").read_text())
    assert record["config"]["graph"] == CHGNET_GRAPH and record["config"]["backbone_config"]["pretrained"] is False
    assert "trunk_saw_test_structures" not in record["strategy_info"]
    assert all(math.isfinite(v) for v in result.test_metrics.values())


@pytest.mark.slow  # two smoke cells, then a tuning trial (a minute or two on a shared CPU)
def test_sweep_and_tune_take_chgnet(chgnet, data_dir, home):
    out = _bench("sweep", "--task", TINY, "--backbone", "chgnet", "--strategies", "scratch,ptft",
                 "--pt-sources", "mptrj", "--ft-sizes", "all", "--trials", "1", "--budget", "smoke", "--epochs", "1",
                 "--device", "cpu")
    assert out.exit_code == 0, out.output
    assert "pre-training run" not in out.output  # the shipped trunk needs none
    out = _bench("tune", "--task", TINY, "--strategy", "ptft", "--backbone", "chgnet", "--trials", "1",
                 "--budget", "smoke", "--device", "cpu")
    assert out.exit_code == 0, out.output


def test_sweep_refuses_chgnet_with_a_source_it_cannot_use(chgnet, isolated_home):
    out = _bench("sweep", "--task", "piezo", "--backbone", "chgnet", "--strategies", "ptft", "--ft-sizes", "10",
                 "--trials", "1", "--budget", "smoke")
    assert out.exit_code == 2, out.output
    assert "--pt-sources mptrj" in " ".join(out.output.split())
    assert not (isolated_home / "runs").exists()


# -- without chgnet installed ------------------------------------------------------------------------------------

def test_without_chgnet_the_suite_starts_and_says_how_to_install(monkeypatch, isolated_home):
    monkeypatch.setitem(sys.modules, "chgnet", None)  # import chgnet now fails, as when it is not installed
    hint = 'pip install -e ".[chgnet]"'
    with pytest.raises(SpecError, match=r"--backbone chgnet needs the optional dependency chgnet"):
        RunSpec("piezo", budget="smoke", backbone="chgnet")
    RunSpec("piezo", budget="smoke", backbone="cgcnn")  # the others are unaffected
    out = _bench("run", "--task", "piezo", "--budget", "smoke", "--backbone", "chgnet")
    assert out.exit_code == 2 and hint in " ".join(out.output.split()), out.output
    assert not (isolated_home / "runs").exists()
    listing = _bench("backbones")
    assert listing.exit_code == 0, listing.output
    text = " ".join(listing.output.split())
    assert "140,993" in text and "— (chgnet not installed)" in text
    assert "chgnet*" in text and '* needs an optional dependency (extra), chgnet: pip install -e ".[chgnet]"' in text


def test_backbones_lists_chgnet_with_size_graph_citation_licence(chgnet):
    out = _bench("backbones")
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    assert "399,886" in out.output  # trunk 399,821 + a one-output head
    assert "Deng et al." in text and "BSD-3-Clause" in text and 'chgnet: pip install -e ".[chgnet]"' in text
    assert "atom graph 6 Å, bond graph 3 Å" in text
