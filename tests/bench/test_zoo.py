"""The model zoo: shipped trunks match what the default commands request, load verified, and a tampered or foreign
file is refused; `bench models` lists them; fetching by name is sha256-checked (local HTTP server)."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

from bench import zoo
from bench.artifacts import ArtifactError, CorruptArtifactError

SHIPPED = zoo.entries()


# -- the shipped trunks ------------------------------------------------------------------------------------
@pytest.mark.parametrize("entry", SHIPPED, ids=[e.name for e in SHIPPED])
def test_shipped_trunk_is_what_its_commands_request(entry, data_dir):
    """Fails when the quick budget, the graph, the PT defaults or the pre-training code change what a default
    command asks for: the shipped trunk would then sit unused. Rebuild it: run the command, `bench models add`."""
    for options in entry.serves:
        got = zoo.requested_key(options, data_dir)
        assert got == entry.key, (f"`{zoo.command_line(options)}` now requests trunk {got}, not the shipped "
                                  f"{entry.name} ({entry.key}): re-pre-train it and `bench models add {entry.name}`")


@pytest.mark.parametrize("entry", SHIPPED, ids=[e.name for e in SHIPPED])
def test_shipped_trunk_verifies_and_has_a_full_card(entry):
    model, card = zoo.load(entry)
    assert card["key"] == entry.key and card["zoo"]["name"] == entry.name
    for field in ("spec", "budget", "data", "metrics", "wall_seconds", "versions", "hardware", "git_commit"):
        assert field in card, field
    assert np.isfinite(card["metrics"]["best_val_mae"])
    assert card["data"]["exclusion"]["tasks"], "a shipped trunk must state the test sets it excluded"
    assert entry.files["model.pt"]["size"] < 5_000_000  # small enough for the repository


def test_default_commands_are_covered():
    """The headline command and the devi2024 ptft defaults are served by a shipped trunk."""
    served = {(s["task"], s["strategy"], s.get("pt_source")) for e in SHIPPED for s in e.serves}
    for task in ("piezo", "devi2024-dc", "devi2024-ph", "devi2024-pz", "devi2024-gv", "devi2024-ebg",
                 "devi2024-2d"):
        assert (task, "mpt", None) in served, task
        for source in ("fe", "bg"):
            assert (task, "ptft", source) in served, (task, source)


# -- the mechanism, on a smoke trunk -------------------------------------------------------------------------
OPTIONS = {"task": "devi2024-dc", "strategy": "ptft", "pt_source": "fe", "budget": "smoke"}


@pytest.fixture
def smoke_zoo(monkeypatch, piezo_structures, tmp_path, data_dir):
    """A zoo in tmp_path holding one smoke trunk (pre-trained on 20 structures); the cache emptied after."""
    import bench.pretrain as pretrain
    from bench import paths
    from bench.run import resolve_config
    from bench.strategies import pretrain_spec

    def collect(spec, data_dir, console):
        structures = piezo_structures[:20]
        targets = np.array([[float(s.volume) / len(s)] for s in structures])
        return structures, targets, [f"x:{i}" for i in range(20)], {
            "n_structures": 20, "sources": {}, "exclusion": {"tasks": {"devi2024-dc": {}}}}
    monkeypatch.setattr(pretrain, "collect", collect)
    config = resolve_config("devi2024-dc", "ptft", "smoke", 0, "cpu", pretrain={"source": "fe"})
    spec = pretrain_spec(config)
    trained, card = pretrain.pretrained_model(spec, Console(stderr=True))
    root = tmp_path / "zoo"
    root.mkdir()
    entry = zoo.add("smoke-fe", [OPTIONS], "a test trunk", root=root)
    shutil.rmtree(paths.cache_dir() / "pretrained")
    monkeypatch.setattr(zoo, "zoo_dir", lambda: root)
    return pretrain, spec, entry, trained


def test_matching_request_loads_the_shipped_trunk_and_trains_nothing(smoke_zoo, capsys):
    from bench import paths

    pretrain, spec, entry, trained = smoke_zoo
    model, card = pretrain.pretrained_model(spec, Console(stderr=True))
    err = " ".join(capsys.readouterr().err.split())
    assert f"Using the shipped pre-trained trunk {entry.name}" in err and "Pre-training on" not in err
    assert not (paths.cache_dir() / "pretrained").exists()  # nothing trained, nothing written
    assert all(np.array_equal(a, b) for a, b in zip(model.state_dict().values(), trained.state_dict().values()))
    assert card["zoo"]["name"] == entry.name


def test_record_says_which_shipped_trunk(smoke_zoo):
    from bench.strategies import _trunk_info

    pretrain, spec, entry, _ = smoke_zoo
    _, card = pretrain.pretrained_model(spec, Console(stderr=True))
    info = _trunk_info({"task": "devi2024-dc", "split": {"fold": None}, "pretrain": {"source": "devi2024-fe"}}, card)
    assert info["pretrained_zoo"]["name"] == entry.name and "pretrained_run_id" not in info


def test_tampered_trunk_is_refused_not_retrained(smoke_zoo):
    from bench import paths

    pretrain, spec, entry, _ = smoke_zoo
    path = entry.folder(zoo.zoo_dir()) / "model.pt"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x40
    path.write_bytes(bytes(raw))
    with pytest.raises(CorruptArtifactError, match="sha256 .* differs from the manifest") as err:
        pretrain.pretrained_model(spec, Console(stderr=True))
    assert str(path) in str(err.value) and zoo.NO_ZOO_ENV in str(err.value)
    assert not (paths.cache_dir() / "pretrained").exists()


def test_manifest_edited_to_match_a_tampered_file_is_still_caught(smoke_zoo):
    """Someone re-hashes a changed trunk into the manifest: the file's own content hash still catches it."""
    from bench.download import sha256_file

    pretrain, spec, entry, trained = smoke_zoo
    root = zoo.zoo_dir()
    path = entry.folder(root) / "model.pt"
    weights = max(trained.state_dict().values(), key=lambda t: t.numel()).contiguous().numpy().tobytes()
    raw = path.read_bytes()
    at = raw.find(weights)
    assert at >= 0
    data = bytearray(raw)
    data[at + len(weights) // 2] ^= 0x40
    path.write_bytes(bytes(data))
    blob = json.loads((root / zoo.MANIFEST).read_text())
    blob["trunks"][0]["files"]["model.pt"]["sha256"] = sha256_file(path)
    (root / zoo.MANIFEST).write_text(json.dumps(blob))
    with pytest.raises(ArtifactError, match="content does not match"):
        pretrain.pretrained_model(spec, Console(stderr=True))


def test_no_zoo_switch_pretrains_locally(smoke_zoo, monkeypatch, capsys):
    pretrain, spec, _, _ = smoke_zoo
    monkeypatch.setenv(zoo.NO_ZOO_ENV, "1")
    pretrain.pretrained_model(spec, Console(stderr=True))
    assert "Pre-training" in capsys.readouterr().err


def test_unknown_name_and_bad_manifest(tmp_path):
    (tmp_path / zoo.MANIFEST).write_text("{not json")
    with pytest.raises(zoo.ZooError, match="unreadable zoo manifest"):
        zoo.entries(tmp_path)
    (tmp_path / zoo.MANIFEST).write_text(json.dumps({"trunks": []}))
    with pytest.raises(zoo.ZooError, match="no trunk named 'x'"):
        zoo.get("x", tmp_path)


# -- fetching by name ----------------------------------------------------------------------------------------
@pytest.fixture
def http_server(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(_Quiet, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_fetch_by_name_is_checked_and_then_used(smoke_zoo, http_server, monkeypatch, capsys):
    from bench import paths

    pretrain, spec, entry, _ = smoke_zoo
    served, url = http_server
    shutil.copytree(entry.folder(zoo.zoo_dir()), served / entry.name)
    # a listed-only entry: not shipped, fetched into the user cache
    root = zoo.zoo_dir()
    blob = json.loads((root / zoo.MANIFEST).read_text())
    blob["trunks"][0]["shipped"] = False
    (root / zoo.MANIFEST).write_text(json.dumps(blob))
    (served / entry.name / "model.pt").write_bytes(b"not a trunk")
    from bench.download import IntegrityError

    with pytest.raises(IntegrityError, match="rejected"):
        zoo.fetch(entry.name, url)
    assert not (paths.cache_dir() / "pretrained" / entry.key / "model.pt").exists()
    shutil.copyfile(entry.folder(root) / "model.pt", served / entry.name / "model.pt")
    folder = zoo.fetch(entry.name, url)
    assert folder == paths.cache_dir() / "pretrained" / entry.key
    capsys.readouterr()
    pretrain.pretrained_model(spec, Console(stderr=True))
    assert "Reusing pre-trained checkpoint" in capsys.readouterr().err


def test_fetch_without_an_address_says_what_to_give(smoke_zoo, monkeypatch):
    monkeypatch.delenv(zoo.URL_ENV, raising=False)
    with pytest.raises(zoo.ZooError, match="--url BASE"):
        zoo.fetch(smoke_zoo[2].name)


# -- the command -------------------------------------------------------------------------------------------------
def test_bench_models_lists_shows_and_verifies(smoke_zoo):
    from bench.cli import app

    entry = smoke_zoo[2]
    runner = CliRunner()
    listed = runner.invoke(app, ["models"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0 and entry.name in listed.output and "shipped" in listed.output
    shown = runner.invoke(app, ["models", "show", entry.name])
    assert shown.exit_code == 0 and "verified" in shown.output and entry.key in shown.output
    assert runner.invoke(app, ["models", "verify"]).exit_code == 0
    path = entry.folder(zoo.zoo_dir()) / "card.json"
    path.write_text(path.read_text().replace('"seed"', '"Seed"', 1))
    failed = runner.invoke(app, ["models", "verify"])
    assert failed.exit_code == 1 and "FAILED" in failed.output
    missing = runner.invoke(app, ["models", "show", "nope"])
    assert missing.exit_code == 2 and "no trunk named 'nope'" in missing.output
