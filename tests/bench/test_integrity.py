"""Integrity of what is loaded (content hash + identity on every trusted artifact), no code from files, and
non-finite training never recorded as finished."""

from __future__ import annotations

import json
import math
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from rich.console import Console

from backbones.alignn import ALIGNN
from backbones.heads import LinearHead
from bench.artifacts import (ArtifactError, CorruptArtifactError, ForeignArtifactError, UnverifiedArtifactError,
                             load_torch, save_torch, stamp_json, verify_json)
from bench.checkpoint import load_model, save_model
from bench.dataset import LabelledGraphs
from bench.graphs import build_graph
from bench.graphs.build import GraphParams
from bench.model import PropertyModel
from bench.train import NonFiniteLossError, TrainConfig, Trainer

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # rich would wrap warnings (and paths) at 80 columns


@pytest.fixture(scope="module")
def tiny_data(piezo_structures):
    graphs = [build_graph(s) for s in piezo_structures[:24]]
    ys = [float(len(s)) / 10 for s in piezo_structures[:24]]
    for g, y in zip(graphs, ys):
        g.y = torch.tensor([[y]])
    return (LabelledGraphs([str(i) for i in range(16)], graphs[:16], np.array(ys[:16])),
            LabelledGraphs([str(i) for i in range(16, 24)], graphs[16:], np.array(ys[16:])))


def _model():
    torch.manual_seed(0)
    return PropertyModel(ALIGNN(alignn_layers=1, gcn_layers=1, hidden_features=8, embedding_features=4),
                         LinearHead(8))


def flip_weight_byte(path: Path, tensor: torch.Tensor) -> None:
    """Flip one byte inside ``tensor``'s stored data (found by its bytes), as a bad disk sector would."""
    raw = path.read_bytes()
    needle = tensor.detach().contiguous().numpy().tobytes()
    at = raw.find(needle)
    assert at >= 0, "tensor data not found in the file"
    data = bytearray(raw)
    data[at + len(needle) // 2] ^= 0x40
    path.write_bytes(bytes(data))


def _same_weights(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


# -- the mechanism -----------------------------------------------------------------------------------------
def test_flipped_byte_in_a_torch_artifact_is_caught(tmp_path):
    weights = torch.arange(4096, dtype=torch.float32)
    path = save_torch(tmp_path / "a.pt", {"w": weights, "n": np.float64(2.5)}, {"run_key": "k1"})
    payload, verified = load_torch(path, {"run_key": "k1"})
    assert verified and torch.equal(payload["w"], weights) and payload["n"] == 2.5
    with pytest.raises(ForeignArtifactError, match="run_key 'k1' \\(expected 'k2'\\)"):
        load_torch(path, {"run_key": "k2"})
    flip_weight_byte(path, weights)
    with pytest.raises(CorruptArtifactError, match=r"a\.pt: content does not match its sha256"):
        load_torch(path, {"run_key": "k1"})


def test_json_artifact_edit_is_caught(tmp_path):
    body = stamp_json({"test_metrics": {"mae": 0.5}, "where": tmp_path}, {"run_key": "k"})
    assert verify_json(tmp_path / "r.json", json.loads(json.dumps(body)), {"run_key": "k"})
    body["test_metrics"]["mae"] = 0.4
    with pytest.raises(CorruptArtifactError, match="r.json: content does not match"):
        verify_json(tmp_path / "r.json", body, {"run_key": "k"})


class WritesAFile:
    """A pickle payload: unpickling it calls ``open(marker, "w")``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def test_pickle_payload_in_last_pt_is_refused_and_nothing_runs(tmp_path, tiny_data, capsys):
    live = tmp_path / "proof-the-payload-is-live"
    pickle.loads(pickle.dumps(WritesAFile(live))).close()
    assert live.exists()  # plain unpickling would run it

    marker = tmp_path / "pwned"
    run = tmp_path / "run"
    run.mkdir()
    torch.save({"model": WritesAFile(marker), "state": {}}, run / "last.pt")
    with pytest.raises(CorruptArtifactError, match="refused unread, as loading it could run code"):
        load_torch(run / "last.pt")
    train, val = tiny_data
    cfg = TrainConfig(epochs=1, batch_size=8, lr=1e-2, select="last")
    state = Trainer(_model(), cfg, run).fit(train, val)
    assert state.epoch == 1 and not marker.exists()
    err = capsys.readouterr().err
    assert "(it calls io.open); refused unread, as loading it could run code" in err and "starting over" in err


def _calls(text: str, name: str):
    """The full text of every ``name(...)`` call (parentheses balanced)."""
    for match in re.finditer(re.escape(name) + r"\(", text):
        depth, k = 0, match.end() - 1
        while k < len(text):
            depth += {"(": 1, ")": -1}.get(text[k], 0)
            if depth == 0:
                break
            k += 1
        yield text.count("\n", 0, match.start()) + 1, text[match.start():k + 1]


def test_every_torch_load_in_the_repository_is_weights_only():
    offenders, seen = [], 0
    for path in sorted(REPO.rglob("*.py")):
        if any(part.startswith(".") for part in path.relative_to(REPO).parts):
            continue  # .venv, .git
        for line, call in _calls(path.read_text(encoding="utf-8", errors="replace"), "torch.load"):
            seen += 1
            if not re.search(r"weights_only\s*=\s*True", call):
                offenders.append(f"{path.relative_to(REPO)}:{line}")
    assert seen >= 3 and not offenders, f"torch.load without weights_only=True: {offenders}"


# -- run checkpoints -----------------------------------------------------------------------------------------
from tests.bench.test_train import Crash, CrashAfter  # the kill -9 stand-in the resume tests use


def _crash_then(tmp_path, tiny_data, damage):
    train, val = tiny_data
    cfg = TrainConfig(epochs=3, batch_size=4, lr=1e-2, seed=3, select="last", checkpoint_every_s=0.0)
    reference = _model()
    Trainer(reference, cfg, tmp_path / "ref").fit(train, val)
    with pytest.raises(Crash):
        Trainer(_model(), cfg, tmp_path / "run", progress=CrashAfter(6)).fit(train, val)
    damage(tmp_path / "run")
    resumed = _model()
    state = Trainer(resumed, cfg, tmp_path / "run").fit(train, val)
    assert state.epoch == 3
    return reference, resumed


def test_corrupt_last_pt_resumes_from_prev(tmp_path, tiny_data, capsys):
    def corrupt(run):
        (run / "last.pt").write_bytes((run / "last.pt").read_bytes()[:1000])  # truncated write
    reference, resumed = _crash_then(tmp_path, tiny_data, corrupt)
    err = capsys.readouterr().err
    assert "last.pt: cannot be read" in err and "resuming from the previous checkpoint prev.pt" in err
    assert _same_weights(reference, resumed)  # the fallback is as exact as a normal resume


def test_both_checkpoints_corrupt_start_over(tmp_path, tiny_data, capsys):
    def corrupt(run):
        model = torch.load(run / "last.pt", weights_only=True)["model"]
        flip_weight_byte(run / "last.pt", max(model.values(), key=torch.Tensor.numel))
        (run / "prev.pt").write_bytes(b"not a checkpoint")
    reference, resumed = _crash_then(tmp_path, tiny_data, corrupt)
    err = capsys.readouterr().err
    assert "content does not match its sha256" in err and "no usable checkpoint left, starting over" in err
    assert _same_weights(reference, resumed)


def test_checkpoint_of_another_configuration_is_not_resumed(tmp_path, tiny_data, capsys):
    train, val = tiny_data
    Trainer(_model(), TrainConfig(epochs=1, batch_size=8, lr=1e-2), tmp_path).fit(train, val)
    state = Trainer(_model(), TrainConfig(epochs=2, batch_size=8, lr=5e-3), tmp_path).fit(train, val)
    assert state.epoch == 2 and len(state.history) == 2  # trained both epochs itself
    assert "produced by something else" in capsys.readouterr().err


def test_corrupt_best_pt_trains_again(tmp_path, tiny_data, capsys):
    train, val = tiny_data
    cfg = TrainConfig(epochs=2, batch_size=8, lr=1e-2, select="best")
    reference = _model()
    Trainer(reference, cfg, tmp_path / "ref").fit(train, val)
    seen = []

    def damage_on_last_epoch(record):
        seen.append(record["epoch"])
        if len(seen) == 2:
            (tmp_path / "run" / "best.pt").write_bytes(b"garbage")
    model = _model()
    Trainer(model, cfg, tmp_path / "run", on_epoch=damage_on_last_epoch).fit(train, val)
    assert "best-validation model is lost, training again from the start" in capsys.readouterr().err
    assert _same_weights(reference, model)


def test_non_finite_loss_names_epoch_and_step(tmp_path, tiny_data):
    train, val = tiny_data
    graphs = [g.clone() for g in train.graphs]
    graphs[5].y = torch.tensor([[float("inf")]])
    bad = LabelledGraphs(train.ids, graphs, train.targets)
    trainer = Trainer(_model(), TrainConfig(epochs=2, batch_size=4, lr=1e-2, seed=0), tmp_path)
    with pytest.raises(NonFiniteLossError, match=r"training loss is (inf|nan) at epoch 1/2, step \d/4"):
        trainer.fit(bad, val)
    assert not (tmp_path / "last.pt").exists()  # nothing diverged was checkpointed


# -- model files -------------------------------------------------------------------------------------------
def test_model_file_hash_and_identity(tmp_path):
    model = _model()
    path = save_model(tmp_path / "model.pt", model, GraphParams(), {"units": "eV"}, {"run_key": "abc"})
    loaded, _, meta = load_model(path, identity={"run_key": "abc"})
    assert _same_weights(model, loaded) and meta["integrity"] == "verified"
    with pytest.raises(ForeignArtifactError):
        load_model(path, identity={"run_key": "other"})
    flip_weight_byte(path, max(model.state_dict().values(), key=torch.Tensor.numel))
    with pytest.raises(CorruptArtifactError, match=re.escape(str(path))):
        load_model(path)


def test_model_file_from_before_hashes_loads_only_unverified(tmp_path):
    model = _model()
    legacy = tmp_path / "old.pt"
    torch.save({"format": "tl-bench-model/1", "architecture": model.architecture(),
                "state_dict": model.state_dict(), "graph_params": {}, "meta": {}}, legacy)
    assert load_model(legacy)[2]["integrity"].startswith("not verified")
    with pytest.raises(UnverifiedArtifactError):
        load_model(legacy, identity={"run_key": "abc"})


# -- pre-trained trunks ------------------------------------------------------------------------------------
@pytest.fixture
def fake_sources(monkeypatch, piezo_structures):
    """Pre-training on 20 real structures instead of a source pool: what is tested is the cache."""
    import bench.pretrain as pretrain

    def collect(spec, data_dir, console):
        structures = piezo_structures[:20]
        targets = np.array([[float(s.volume) / len(s)] for s in structures])
        return structures, targets, [f"x:{i}" for i in range(20)], {"n_structures": 20, "sources": {}}
    monkeypatch.setattr(pretrain, "collect", collect)
    return pretrain


def _spec(seed=0):
    from bench.budgets import get_budget
    from bench.pretrain import PretrainSpec
    from bench.run import _backbone_defaults

    return PretrainSpec(("devi2024-fe",), budget="smoke", seed=seed,
                        backbone_config=_backbone_defaults("alignn") | get_budget("smoke").backbone_config("alignn"))


def _folder(spec):
    from bench import paths
    from bench.pretrain import cache_key

    return paths.cache_dir() / "pretrained" / cache_key(spec, paths.data_dir())


def test_trunk_with_flipped_bytes_is_rebuilt(fake_sources, data_dir, capsys):
    spec = _spec()
    first, card = fake_sources.pretrained_model(spec, Console(stderr=True))
    model_file = _folder(spec) / "model.pt"
    flip_weight_byte(model_file, max(first.state_dict().values(), key=torch.Tensor.numel))
    capsys.readouterr()
    again, _ = fake_sources.pretrained_model(spec, Console(stderr=True))
    err = capsys.readouterr().err
    assert "not usable" in err and "content does not match its sha256" in err and "pre-training it again" in err
    assert _same_weights(first, again)  # rebuilt from the entry's own verified checkpoints
    assert fake_sources.pretrained_model(spec, Console(stderr=True))[1]["key"] == card["key"]
    assert "Reusing pre-trained checkpoint" in capsys.readouterr().err


def test_trunk_of_another_key_is_refused(fake_sources, data_dir):
    spec, other = _spec(0), _spec(1)
    fake_sources.pretrained_model(spec, Console(stderr=True))
    source, target = _folder(spec), _folder(other)
    assert source != target
    # the whole entry copied under the other key
    shutil.copytree(source, target)
    with pytest.raises(ForeignArtifactError, match=f"rm -r {re.escape(str(target))}"):
        fake_sources.pretrained_model(other, Console(stderr=True))
    # only model.pt swapped, beside a card that is the other key's own
    card = json.loads((target / "card.json").read_text())
    (target / "card.json").write_text(json.dumps(stamp_json(card | {"key": target.name},
                                                            {"cache_key": target.name})))
    with pytest.raises(ForeignArtifactError, match=f"model.pt.*{source.name}"):
        fake_sources.pretrained_model(other, Console(stderr=True))
    assert (target / "model.pt").exists()  # refused, not overwritten


def test_bad_card_json_names_the_file(fake_sources, data_dir, capsys):
    spec = _spec()
    fake_sources.pretrained_model(spec, Console(stderr=True))
    card = _folder(spec) / "card.json"
    card.write_text('{"key": "x", ')
    capsys.readouterr()
    fake_sources.pretrained_model(spec, Console(stderr=True))
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert f"{card}: is not readable JSON" in err and "pre-training it again" in err
    assert json.loads(card.read_text())["key"] == card.parent.name


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # the std of a label set with inf
def test_diverging_pretraining_ends_failed_and_caches_nothing(fake_sources, data_dir, isolated_home, monkeypatch):
    from mlflow import MlflowClient

    real = fake_sources.collect

    def with_an_infinite_label(*args):
        structures, targets, ids, report = real(*args)
        targets[3, 0] = math.inf
        return structures, targets, ids, report
    monkeypatch.setattr(fake_sources, "collect", with_an_infinite_label)
    spec = _spec()
    with pytest.raises(NonFiniteLossError, match="training loss is (nan|inf) at epoch 1/3"):
        fake_sources.pretrained_model(spec, Console(stderr=True))
    folder = _folder(spec)
    assert not (folder / "model.pt").exists() and not (folder / "card.json").exists()
    run = MlflowClient(tracking_uri=f"sqlite:///{isolated_home / 'mlflow.db'}").get_run(
        (folder / "mlflow_run_id").read_text())
    assert run.info.status == "FAILED" and "training loss is" in run.data.tags["error"]


# -- runs: result.json, NaN -> FAILED ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def graph_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("graphs")


@pytest.fixture
def piezo_runs(isolated_home, data_dir, graph_cache, monkeypatch):
    """Smoke runs on piezo; the graph cache (content-addressed, safe to share) is built once for the module."""
    monkeypatch.setenv("BENCH_CACHE_DIR", str(graph_cache))
    return isolated_home


def _mlflow_status(home: Path, run_id: str) -> tuple[str, dict]:
    from mlflow import MlflowClient

    run = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow.db'}").get_run(run_id)
    return run.info.status, run.data.tags


def test_diverging_run_ends_failed_in_mlflow(piezo_runs):
    from bench.run import plan_run, run_benchmark

    with pytest.raises(NonFiniteLossError, match="training loss is nan at epoch 1/3"):
        run_benchmark("piezo", budget="smoke", device="cpu", overrides={"lr": 1e30}, console=Console(stderr=True))
    workdir = plan_run("piezo", budget="smoke", overrides={"lr": 1e30}).workdir
    status, tags = _mlflow_status(piezo_runs, (workdir / "mlflow_run_id").read_text())
    assert status == "FAILED" and "training loss is nan" in tags["error"]
    assert not (workdir / "result.json").exists()


def test_non_finite_test_metrics_end_failed(piezo_runs, monkeypatch):
    import bench.run as run

    monkeypatch.setattr(run, "predict", lambda model, graphs, **kw: np.full((len(graphs), 1), np.nan))
    with pytest.raises(run.NonFiniteError, match="test mae, rmse, r2, mad_mae, predictions not finite"):
        run.run_benchmark("piezo", budget="smoke", device="cpu", epochs=1, console=Console(stderr=True))
    workdir = run.plan_run("piezo", budget="smoke", epochs=1).workdir
    assert _mlflow_status(piezo_runs, (workdir / "mlflow_run_id").read_text())[0] == "FAILED"
    assert not (workdir / "result.json").exists()


def test_result_json_is_verified_before_it_is_reported(piezo_runs):
    from bench.run import run_benchmark

    first = run_benchmark("piezo", budget="smoke", device="cpu", epochs=1, console=Console(stderr=True))
    done = first.workdir / "result.json"
    result = json.loads(done.read_text())
    assert result["integrity"]["identity"] == {"run_key": result["run_key"]}
    model_file = first.workdir / "model.pt"
    load_model(model_file, identity={"run_key": result["run_key"]})  # the run's model file is its own
    again = run_benchmark("piezo", budget="smoke", device="cpu", epochs=1, console=Console(stderr=True))
    assert again.resumed_finished and again.test_metrics == first.test_metrics

    edited = result | {"test_metrics": result["test_metrics"] | {"mae": 0.001}}
    done.write_text(json.dumps(edited))
    with pytest.raises(ArtifactError, match=f"content does not match.*rm -r {re.escape(str(first.workdir))}"):
        run_benchmark("piezo", budget="smoke", device="cpu", epochs=1, console=Console(stderr=True))

    legacy_nan = {k: v for k, v in result.items() if k != "integrity"}
    legacy_nan["test_metrics"] = result["test_metrics"] | {"mae": float("nan")}
    done.write_text(json.dumps(legacy_nan))
    with pytest.raises(ArtifactError, match="non-finite test metrics \\(mae\\)"):
        run_benchmark("piezo", budget="smoke", device="cpu", epochs=1, console=Console(stderr=True))


@pytest.mark.slow
def test_cli_prints_divergence_without_traceback(data_dir):
    proc = subprocess.run([sys.executable, "-m", "bench", "run", "--task", "piezo", "--budget", "smoke",
                           "--params", '{"lr": 1e30}'], capture_output=True, text=True, timeout=300)
    err = " ".join(proc.stderr.split())
    assert proc.returncode != 0
    assert "error: training loss is nan at epoch 1/3" in err and "Traceback" not in proc.stderr


# -- committed records -------------------------------------------------------------------------------------
def _record():
    from tests.leaderboard.test_build import make_record

    return make_record("devi2024-pz", "scratch", 100, 1, skill=0.5)


def _load(tmp_path, record, name=None):
    from bench.records import record_name
    from leaderboard.records import load_record

    path = tmp_path / (name or record_name(record))
    path.write_text(json.dumps(record))
    return load_record(path)


def test_record_with_nan_metric_is_rejected(tmp_path):
    from leaderboard.records import RecordError

    record = _record()
    record["test_metrics"]["rmse"] = float("nan")
    with pytest.raises(RecordError, match="'test_metrics' should be finite; not for 'rmse' \\(nan\\)"):
        _load(tmp_path, record)
    record = _record()
    record["test_predictions"]["y_pred"][3] = math.inf
    with pytest.raises(RecordError, match="'test_predictions' values should be finite"):
        _load(tmp_path, record)


def test_stamped_record_is_verified(tmp_path):
    from leaderboard.records import RecordError

    record = stamp_json(_record(), {"run_key": _record()["run_key"]})
    assert _load(tmp_path, record).metrics == record["test_metrics"]
    edited = json.loads(json.dumps(record))
    edited["test_metrics"]["mae"] /= 2
    with pytest.raises(RecordError, match="content does not match its sha256.*export the record again"):
        _load(tmp_path, edited)
    with pytest.raises(RecordError, match="the file name says run 000000000000"):
        _load(tmp_path, record, name=f"devi2024-pz__scratch__quick__n100-t1__seed0__{'0' * 12}.json")


def test_committed_records_carry_a_verified_hash():
    from leaderboard.records import load_records

    results = REPO / "leaderboard" / "results"
    runs = load_records(results)  # verifies each hash and run key
    unstamped = [r.path.name for r in runs if "integrity" not in r.record]
    assert runs and not unstamped, f"records without a content hash: {unstamped}"
