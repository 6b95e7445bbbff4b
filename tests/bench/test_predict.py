"""`bench predict`: every good file is predicted, every bad one reported with its reason, exit 2 if any failed."""

from __future__ import annotations

import csv
import io
import json

import pytest
import torch
from typer.testing import CliRunner

from backbones.alignn import ALIGNN
from backbones.heads import LinearHead
from bench.checkpoint import save_model
from bench.cli import app
from bench.graphs.build import GraphParams
from bench.model import PropertyModel
from bench.predict import Prediction, predict_files, render


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    torch.manual_seed(0)
    net = PropertyModel(ALIGNN(alignn_layers=1, gcn_layers=1, hidden_features=8, embedding_features=4),
                        LinearHead(8, 1))
    return save_model(tmp_path_factory.mktemp("model") / "model.pt", net, GraphParams(), {"units": "pC/N"})


@pytest.fixture()
def files(tmp_path, piezo_structures):
    """40 good files (more than one chunk of 32) with two bad ones among them, one in each chunk."""
    paths = []
    for k, s in enumerate(piezo_structures[:40]):
        paths.append(tmp_path / f"s{k:02d}.cif")
        s.to(filename=str(paths[-1]))
    broken = tmp_path / "broken.cif"
    broken.write_text("data_x\n_cell_length_a 3\n")
    empty = tmp_path / "POSCAR_empty"
    empty.write_text("Si\n1.0\n5 0 0\n0 5 0\n0 0 5\nSi\n2\ndirect\n0 0 0\n")
    paths.insert(3, broken)
    paths.insert(36, empty)
    return paths


def _cli(*args):
    return CliRunner().invoke(app, ["predict", *map(str, args)])


def test_one_bad_file_does_not_hide_the_good_ones(model_file, files):
    result = _cli("--model", model_file, *files)
    assert result.exit_code == 2
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 40  # every good file, in input order, none of the bad ones
    good = [p for p in files if p.name.startswith("s")]
    assert [line.split("\t")[0] for line in lines] == list(map(str, good))
    assert all(line.endswith("\tpC/N") for line in lines)
    assert "broken.cif: unparseable CIF" in result.stderr
    assert "POSCAR_empty: unparseable POSCAR: the file is truncated" in result.stderr
    assert "2 of 42 files failed; 40 predicted" in result.stderr


def test_predictions_do_not_depend_on_the_bad_files(model_file, files):
    """A bad file must not shift which value goes with which file."""
    good = [p for p in files if p.name.startswith("s")]
    alone = _cli("--model", model_file, *good)
    assert alone.exit_code == 0 and alone.stderr == ""
    mixed = _cli("--model", model_file, *files)
    assert mixed.stdout == alone.stdout


def test_csv_and_json_list_every_file(model_file, files, tmp_path):
    out = tmp_path / "pred.csv"
    result = _cli("--model", model_file, "--format", "csv", "--output", out, *files)
    assert result.exit_code == 2 and result.stdout == ""
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["file"] for r in rows] == list(map(str, files))
    assert rows[3]["prediction"] == "" and "unparseable CIF" in rows[3]["error"]
    assert all(float(r["prediction"]) == float(r["prediction"]) and r["error"] == "" for i, r in enumerate(rows)
               if i not in (3, 36))
    assert f"in {out}" in result.stderr

    result = _cli("--model", model_file, "--format", "json", *files)
    data = json.loads(result.stdout)
    assert len(data) == 42 and data[36]["value"] is None and "POSCAR_empty" in data[36]["error"]
    by_file = {r["file"]: r["prediction"] for r in rows}
    assert all(repr(d["value"]) == by_file[d["file"]] for d in data if d["error"] is None)


def test_unknown_format_and_unwritable_output(model_file, files, tmp_path):
    result = _cli("--model", model_file, "--format", "xml", *files[:1])
    assert result.exit_code == 2 and "unknown --format 'xml'" in result.stderr
    result = _cli("--model", model_file, "--output", tmp_path / "no" / "such" / "dir.csv", *files[:1])
    assert result.exit_code == 2 and "cannot write --output" in result.stderr


def test_all_files_bad_still_reports_each(model_file, tmp_path):
    bad = [tmp_path / "a.cif", tmp_path / "missing.cif"]
    bad[0].write_text("data_a\n")
    preds = list(predict_files(*_load(model_file), bad))
    assert [p.value for p in preds] == [None, None]
    assert "a.cif" in preds[0].error and "cannot read file" in preds[1].error
    assert render(preds, "table") == ""


def test_render_table_keeps_the_old_layout():
    text = render([Prediction("x.cif", 1.23456789, "eV"), Prediction("y.cif", error="y.cif: bad")], "table")
    assert text == "x.cif\t1.23457\teV\n"


def _load(path):
    from bench.checkpoint import load_model

    net, params, _ = load_model(path)
    return net, params
