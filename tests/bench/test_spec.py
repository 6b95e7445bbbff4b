"""Every option of a run is checked before any work starts (RunSpec), and no MLflow run is left RUNNING."""

from __future__ import annotations

import shutil

import pytest
from typer.testing import CliRunner

from bench.spec import RunSpec, SpecError
from tests.bench.tinytask import refresh_registry, register_tiny


@pytest.fixture
def tiny(data_dir, isolated_home):
    """``tiny(n)`` registers an n-structure task; the registry forgets it afterwards."""
    yield register_tiny
    shutil.rmtree(isolated_home / "user_tasks", ignore_errors=True)
    refresh_registry()


def _bench(*args):
    from bench.cli import app

    return CliRunner().invoke(app, list(args))


def _nothing_made(home) -> bool:
    """No run folder, no pre-training entry, no MLflow store: the command stopped before any work."""
    return not (home / "runs").exists() and not (home / "cache" / "pretrained").exists() \
        and not (home / "mlflow.db").exists()


# -- RunSpec ------------------------------------------------------------------------------------------------------
def test_valid_spec_keeps_its_options():
    spec = RunSpec("piezo", "ptft", "smoke", seed=3, device="cpu", epochs=2, ft_size=100, trial=2,
                   pt_source="fe", pt_size="941", ft_mode="last-layer", overrides={"lr": 1, "hidden_features": 16})
    assert spec.pt_size == 941 and spec.pretrain == {"source": "fe", "pt_size": 941}
    assert spec.overrides == {"lr": 1, "hidden_features": 16}


@pytest.mark.parametrize("kwargs, option", [
    ({"epochs": 0}, "--epochs"),
    ({"epochs": True}, "--epochs"),
    ({"device": "tpu"}, "--device"),
    ({"seed": -1}, "--seed"),
    ({"budget": "huge"}, "budget"),
    ({"ft_size": 1}, "--ft-size"),
    ({"ft_size": 10, "trial": 6}, "--trial"),
    ({"fold": 1, "ft_size": 10}, "--fold"),
    ({"fold": 7}, "--fold"),
    ({"strategy": "ptft", "pt_size": -3}, "--pt-size"),
    ({"strategy": "ptft", "pt_size": "abc"}, "--pt-size"),
    ({"strategy": "ptft", "pt_source": "nope"}, "--pt-source"),
    ({"strategy": "mpt", "mpt_sources": ("fe",)}, "--mpt-sources"),
    ({"pt_source": "fe"}, "--pt-source"),  # scratch pre-trains nothing: never silently ignored
    ({"ft_mode": "last-layer"}, "--ft-mode"),
    ({"strategy": "ptft", "ft_mode": "frozen"}, "fine-tuning mode"),
    ({"overrides": {"lr": "abc"}}, "--params lr"),
    ({"overrides": {"lr": -1.0}}, "--params lr"),
    ({"overrides": {"batch_size": 2.5}}, "--params batch_size"),
    ({"overrides": {"epochs": 0}}, "--params epochs"),
    ({"overrides": {"loss": "huber"}}, "--params loss"),
    ({"overrides": {"hidden_features": "big"}}, "--params hidden_features"),
    ({"overrides": {"norm": "group"}}, "--params norm"),
    ({"overrides": {"learning_rate": 0.1}}, "'learning_rate'"),
    ({"overrides": {"seed": 1}}, "--seed"),
    ({"overrides": {"ft_mode": "all"}}, "--params ft_mode"),
])
def test_bad_option_names_itself(kwargs, option):
    with pytest.raises(SpecError) as err:
        RunSpec("piezo", **kwargs)
    assert option in str(err.value)


def test_unknown_override_lists_the_known_ones():
    with pytest.raises(SpecError, match=r"known: .*batch_size.*hidden_features.*lr"):
        RunSpec("piezo", overrides={"learning_rate": 0.1})


def test_run_benchmark_validates_before_anything(isolated_home):
    from bench.run import run_benchmark

    with pytest.raises(SpecError, match="--epochs"):
        run_benchmark("piezo", budget="smoke", epochs=0)
    with pytest.raises(SpecError, match="unknown pre-training option"):
        run_benchmark("piezo", "ptft", budget="smoke", pretrain={"size": 3})
    with pytest.raises(TypeError, match="not both"):
        run_benchmark("piezo", spec=RunSpec("piezo"))
    assert _nothing_made(isolated_home)


# -- the CLI: one line, exit code 2, nothing made -----------------------------------------------------------------
@pytest.mark.parametrize("args, message", [
    (["--epochs", "0"], "--epochs must be an integer ≥ 1; got 0"),
    (["--device", "tpu"], "--device must be auto, cpu, cuda or cuda:N; got 'tpu'"),
    (["--params", '{"lr": "abc"}'], "--params lr must be a number; got 'abc'"),
    (["--strategy", "ptft", "--pt-size", "-3"], "--pt-size must be a positive number"),
])
def test_run_rejects_bad_option_before_work(args, message, data_dir, isolated_home):
    result = _bench("run", "--task", "piezo", "--budget", "smoke", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.output
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")  # one clear line, last
    assert result.stderr.count("error") == 1
    assert _nothing_made(isolated_home)


def test_pretrain_bad_pt_size_leaves_no_cache_folder(data_dir, isolated_home):
    result = _bench("pretrain", "--source", "fe", "--for-task", "piezo", "--pt-size", "-3", "--budget", "smoke")
    assert result.exit_code == 2, result.output
    assert "--pt-size must be a positive number" in result.stderr
    assert _nothing_made(isolated_home)


def test_pretrain_rejects_bad_device_and_weighting(data_dir, isolated_home):
    assert "--device" in _bench("pretrain", "--source", "fe", "--device", "tpu").stderr
    result = _bench("pretrain", "--sources", "fe,bg", "--strategy", "mpt", "--weighting", "most")
    assert result.exit_code == 2 and "--weighting must be one of equal, count" in result.stderr
    assert _nothing_made(isolated_home)


def test_sweep_checks_every_cell_first(data_dir, isolated_home):
    result = _bench("sweep", "--task", "piezo", "--strategies", "scratch,ptft", "--ft-sizes", "10",
                    "--trials", "1", "--pt-sizes", "941,-3", "--budget", "smoke")
    assert result.exit_code == 2 and "--pt-size" in result.stderr, result.output
    result = _bench("sweep", "--task", "piezo", "--strategies", "scratch", "--ft-sizes", "10", "--trials", "1",
                    "--budget", "smoke", "--epochs", "0")
    assert result.exit_code == 2 and "--epochs" in result.stderr, result.output
    assert _nothing_made(isolated_home)


def test_tune_checks_options_before_the_study(data_dir, isolated_home):
    result = _bench("tune", "--task", "piezo", "--budget", "smoke", "--device", "tpu", "--trials", "1")
    assert result.exit_code == 2 and "--device" in result.stderr, result.output
    assert not (isolated_home / "optuna.db").exists()


# -- a task too small for its split -------------------------------------------------------------------------------
def _runs(home) -> list:
    from mlflow import MlflowClient

    if not (home / "mlflow.db").exists():
        return []
    client = MlflowClient(f"sqlite:///{home / 'mlflow.db'}")
    return [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])]


def test_task_too_small_says_so_before_any_mlflow_run(tiny, isolated_home):
    from rich.console import Console

    from bench.dataset import DatasetError
    from bench.run import run_benchmark

    tiny(3)
    with pytest.raises(DatasetError, match=r"task 'tiny' is too small for its split: train \d+, val \d+, test 0"):
        run_benchmark("tiny", budget="smoke", device="cpu", console=Console(quiet=True))
    assert _runs(isolated_home) == []
    result = _bench("run", "--task", "tiny", "--budget", "smoke", "--device", "cpu")
    assert result.exit_code == 2 and "too small for its split" in result.stderr


# -- no MLflow run is left RUNNING --------------------------------------------------------------------------------
class NonFiniteLossError(ArithmeticError):
    """Stands in for bench.train's: an error that is neither a ValueError nor a RuntimeError."""


def _fail_with(exc):
    def fail(*args, **kwargs):
        raise exc

    return fail


@pytest.mark.parametrize("where, exc, status", [
    ("bench.run.Trainer.fit", KeyboardInterrupt(), "KILLED"),
    ("bench.run.Trainer.fit", NonFiniteLossError("loss is nan at epoch 1"), "FAILED"),
    ("bench.run.predict", RuntimeError("out of memory"), "FAILED"),  # after training: once left RUNNING
])
def test_run_never_left_running(where, exc, status, tiny, isolated_home, monkeypatch):
    from rich.console import Console

    from bench.run import run_benchmark

    tiny(30)
    monkeypatch.setattr(where, _fail_with(exc))
    with pytest.raises(type(exc)):
        run_benchmark("tiny", budget="smoke", device="cpu", epochs=1, console=Console(quiet=True))
    assert [r.info.status for r in _runs(isolated_home)] == [status]


def test_pretraining_never_left_running(tiny, isolated_home, monkeypatch):
    from rich.console import Console

    from bench.pretrain import PretrainSpec, pretrained_model

    tiny(30)
    monkeypatch.setattr("bench.pretrain.Trainer.fit", _fail_with(NonFiniteLossError("loss is nan")))
    spec = PretrainSpec(("tiny",), "all", "smoke", 0, "alignn", {"alignn_layers": 1, "gcn_layers": 1,
                                                               "hidden_features": 16, "embedding_features": 8})
    with pytest.raises(NonFiniteLossError):
        pretrained_model(spec, Console(quiet=True), "cpu")
    assert [r.info.status for r in _runs(isolated_home)] == ["FAILED"]
