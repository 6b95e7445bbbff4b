"""CGCNN and SchNet through every strategy at the smoke budget, and --backbone through every command."""

from __future__ import annotations

import math

import pytest
from rich.console import Console
from typer.testing import CliRunner

from backbones.cgcnn import CGCNN
from bench.checkpoint import load_model
from bench.run import resolve_config, run_benchmark
from bench.spec import RunSpec, SpecError

STRATEGIES = {"scratch": {}, "ptft": {"pretrain": {"source": "fe"}, "ft_mode": "2-body"}, "mpt": {}}


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("backbone-cache")


@pytest.fixture
def cache(shared_cache, isolated_home, monkeypatch):
    """Graphs and pre-trained trunks shared by this module's runs (each run still has its own BENCH_HOME)."""
    monkeypatch.setenv("BENCH_CACHE_DIR", str(shared_cache))
    return shared_cache


# mpt builds the graphs of several sources (~30 s here on a shared CPU the first time): slow
@pytest.mark.parametrize("strategy", ["scratch", "ptft", pytest.param("mpt", marks=pytest.mark.slow)])
@pytest.mark.parametrize("backbone", ["cgcnn", "schnet"])
def test_smoke_run_through_every_strategy(backbone, strategy, data_dir, cache):
    result = run_benchmark("piezo", strategy, "smoke", device="cpu", backbone=backbone,
                           console=Console(quiet=True), **STRATEGIES[strategy])
    metrics = result.test_metrics
    assert all(math.isfinite(metrics[k]) for k in ("mae", "rmse", "r2")), metrics
    model, _, _ = load_model(result.workdir / "model.pt")
    assert model.backbone_name == model.backbone.name == backbone
    if strategy != "scratch":  # fine-tuned from a trunk of the same backbone
        assert any((cache / "pretrained").iterdir())
    print(f"{backbone} {strategy}: {metrics}")


def test_alignn_config_and_graph_rule_unchanged_by_other_backbones():
    """Run keys and cached trunks of ALIGNN rest on its config: the per-backbone budgets keep it as it was."""
    alignn = resolve_config("piezo", "scratch", "smoke", 0, "cpu")
    assert alignn["backbone_config"] == dict(alignn_layers=1, gcn_layers=1, hidden_features=32,
                                             embedding_features=16, edge_bins=80, angle_bins=40, cutoff=8.0,
                                             norm="batch")
    cgcnn = resolve_config("piezo", "scratch", "smoke", 0, "cpu", backbone="cgcnn")
    assert cgcnn["graph"] == alignn["graph"]  # one graph cache entry serves every backbone
    assert cgcnn["backbone"] == "cgcnn" and cgcnn["backbone_config"]["conv_layers"] == 1
    quick = resolve_config("piezo", "scratch", "quick", 0, "cpu", backbone="schnet")["backbone_config"]
    assert quick == dict(hidden_features=128, num_filters=128, interactions=3, num_gaussians=50, cutoff=8.0,
                         readout_features=64)  # quick = the paper's sizes


def test_backbone_options_are_checked():
    with pytest.raises(SpecError, match="unknown backbone 'megnet'; known backbones: alignn, cgcnn, schnet"):
        RunSpec("piezo", budget="smoke", backbone="megnet")
    with pytest.raises(SpecError, match="--ft-mode: fine-tuning mode 3-body .* backbone cgcnn has none"):
        RunSpec("piezo", "ptft", "smoke", ft_mode="3-body", backbone="cgcnn")
    with pytest.raises(SpecError, match="--params ft_mode: fine-tuning mode 3-body .* backbone schnet"):
        RunSpec("piezo", "ptft", "smoke", overrides={"ft_mode": "3-body"}, backbone="schnet")
    RunSpec("piezo", "ptft", "smoke", ft_mode="3-body")  # ALIGNN has a 3-body part
    assert RunSpec("piezo", budget="smoke", backbone="cgcnn", overrides={"conv_layers": 2}).overrides
    with pytest.raises(SpecError, match="unknown parameter 'alignn_layers'"):
        RunSpec("piezo", budget="smoke", backbone="cgcnn", overrides={"alignn_layers": 2})
    with pytest.raises(SpecError, match="--params num_gaussians must be ≥ 2"):
        RunSpec("piezo", budget="smoke", backbone="schnet", overrides={"num_gaussians": 1})


def _bench(*args):
    from bench.cli import app

    return CliRunner().invoke(app, list(args))


@pytest.mark.parametrize("command", [
    ["run", "--task", "piezo"], ["pretrain", "--source", "fe", "--for-task", "piezo"],
    ["sweep", "--task", "piezo", "--strategies", "scratch", "--ft-sizes", "10", "--trials", "1"],
    ["tune", "--task", "piezo", "--trials", "1"]])
def test_every_command_takes_and_checks_backbone(command, data_dir, isolated_home):
    bad = _bench(*command, "--budget", "smoke", "--backbone", "megnet")
    assert bad.exit_code == 2, bad.output
    assert "unknown backbone 'megnet'; known backbones: alignn, cgcnn, schnet" in bad.output
    assert not (isolated_home / "runs").exists() and not (isolated_home / "mlflow.db").exists()


def test_backbones_command_lists_each_with_its_size():
    out = _bench("backbones")
    assert out.exit_code == 0, out.output
    assert "80,833" in out.output and "238,593" in out.output and "140,993" in out.output  # + 1-output head
    assert "Xie & Grossman" in out.output and "Schütt" in out.output


def test_budget_description_names_the_backbone_it_runs():
    from bench.budgets import get_budget

    smoke = get_budget("smoke")
    assert smoke.describe() == smoke.summary and "ALIGNN" in smoke.describe("alignn")
    cgcnn = smoke.describe("cgcnn")
    assert cgcnn.startswith("cgcnn at atom_features 16, conv_layers 1") and "ALIGNN" not in cgcnn
    assert "3 epochs on 64 training structures" in cgcnn
    assert get_budget("quick").describe("schnet").startswith("schnet at its paper's sizes; 40 epochs")


def test_each_backbone_pretrains_its_own_trunk(data_dir):
    from bench.pretrain import PretrainSpec, cache_key
    from bench.run import budget_backbone_config

    keys = {cache_key(PretrainSpec(("flla-e-form",), 941, "smoke", 0, name, budget_backbone_config(name, "smoke"),
                                   ("piezo",)), data_dir) for name in ("alignn", "cgcnn", "schnet")}
    assert len(keys) == 3


class Undeclared(CGCNN):
    """A backbone that does not declare its group kinds (as a new one may forget to)."""
    name = "undeclared"
    group_kinds = frozenset()


def test_backbone_without_declared_kinds_is_judged_by_its_real_groups(monkeypatch):
    import backbones
    from backbones.heads import LinearHead
    from bench.finetune import apply_mode
    from bench.model import PropertyModel

    monkeypatch.setitem(backbones.BACKBONES, "undeclared", f"{__name__}:Undeclared")
    RunSpec("piezo", "ptft", "smoke", ft_mode="2-body", backbone="undeclared")  # not refused for lack of kinds
    trunk = Undeclared(atom_features=8, conv_layers=1, hidden_features=8)
    with pytest.raises(ValueError, match="3-body .* backbone undeclared has none"):
        apply_mode(PropertyModel(trunk, LinearHead(8), "undeclared"), "3-body")
