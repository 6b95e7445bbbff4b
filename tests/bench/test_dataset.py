import math

import pandas as pd
import pytest

from bench.dataset import DatasetError, build_graphs, check_records, load_splits
from bench.graphs.cache import GraphCache
from bench.structures import TargetError
from tasks import RandomSplit, Task
from tasks.loaders import matminer_csv


def _write_csv(path, frame):
    with open(path, "w") as fh:
        fh.write("# ref: test data\n")
        frame.to_csv(fh, index=False)


@pytest.fixture
def piezo_rows(data_dir):
    frame = pd.read_csv(data_dir / "raw/matminer_v0.4.0/piezoelectric_tensor.csv.gz", skiprows=1, nrows=30)
    return frame[["material_id", "structure", "eij_max"]].reset_index(drop=True)


def _task(tmp_path, name="toy"):
    return Task(name=name, description="test", target="eij_max", units="C/m²", files=("toy.csv",),
                loader=matminer_csv("structure", "cif", "material_id"), split=RandomSplit(0.2, 0.2, seed=1))


def test_broken_cif_names_the_file_and_the_entry(tmp_path, piezo_rows):
    rows = piezo_rows.copy()
    rows.loc[7, "structure"] = rows.loc[7, "structure"][:120]  # truncated mid-header
    rows.loc[11, "structure"] = "data_garbage\n_cell_length_a not-a-number\n"
    _write_csv(tmp_path / "toy.csv", rows)
    task = _task(tmp_path)
    with pytest.raises(DatasetError) as err:
        build_graphs(list(task.load(tmp_path).records.values()), GraphCache(tmp_path / "cache"), "toy (toy.csv)")
    msg = str(err.value)
    assert "2 of 30 structures" in msg and "toy.csv" in msg
    assert f"entry {rows.loc[7, 'material_id']}" in msg and f"entry {rows.loc[11, 'material_id']}" in msg


def test_nan_targets_are_rejected_with_a_count(tmp_path, piezo_rows):
    rows = piezo_rows.copy()
    rows.loc[[2, 5, 9], "eij_max"] = [math.nan, math.inf, math.nan]
    _write_csv(tmp_path / "toy.csv", rows)
    task = _task(tmp_path)
    with pytest.raises(TargetError) as err:
        check_records(list(task.load(tmp_path).records.values()), "toy")
    msg = str(err.value)
    assert "3" in msg and rows.loc[2, "material_id"] in msg
    with pytest.raises(TargetError):
        load_splits(task, tmp_path, GraphCache(tmp_path / "cache"))


def test_splits_are_disjoint_and_labelled(tmp_path, piezo_rows):
    _write_csv(tmp_path / "toy.csv", piezo_rows)
    splits = load_splits(_task(tmp_path), tmp_path, GraphCache(tmp_path / "cache"))
    ids = {k: set(v.ids) for k, v in splits.items()}
    assert sum(map(len, ids.values())) == 30
    assert not (ids["train"] & ids["test"]) and not (ids["val"] & ids["test"]) and not (ids["train"] & ids["val"])
    for part in splits.values():
        assert [float(g.y) for g in part.graphs] == pytest.approx(list(part.targets))


def test_subsample_limits_are_seeded(tmp_path, piezo_rows):
    _write_csv(tmp_path / "toy.csv", piezo_rows)
    task = _task(tmp_path)
    a = load_splits(task, tmp_path, GraphCache(tmp_path / "c"), {"train": 5}, seed=3)
    b = load_splits(task, tmp_path, GraphCache(tmp_path / "c"), {"train": 5}, seed=3)
    c = load_splits(task, tmp_path, GraphCache(tmp_path / "c"), {"train": 5}, seed=4)
    assert a["train"].ids == b["train"].ids and len(a["train"]) == 5
    assert a["train"].ids != c["train"].ids
    assert a["test"].ids == c["test"].ids
