"""The physical-unit tasks: sizes after cleaning (exact), what was dropped, ids, targets, transforms, splits.

Loading the larger tasks parses thousands of structures (10-40 s each): those are marked slow. The loaders'
logic is also checked fast on tiny copies of the source files."""

from __future__ import annotations

import gzip
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tasks import get_task
from tasks.cleaning import category
from tasks.loaders import load_cleaned

# name: (records after cleaning, {dropped category: count}, (test, train, val) of the default split)
EXPECTED = {
    "obelix": (212, {"missing structure": 224, "censored target": 28, "duplicate structure": 7,
                     "duplicate structure, conflicting target": 7}, (21, 172, 19)),
    "dielectric-n": (1054, {"duplicate structure": 2}, (105, 854, 95)),
    "jarvis2d-exfoliation": (735, {"missing target": 328, "duplicate structure": 12,
                                   "duplicate structure, conflicting target": 1}, (74, 595, 66)),
    "jarvis2d-gap": (958, {"duplicate structure": 105, "duplicate structure, conflicting target": 13},
                     (96, 776, 86)),
    "log-gvrh": (1177, {"duplicate structure": 4}, (118, 953, 106)),
    "log-kvrh": (1177, {"duplicate structure": 4}, (118, 953, 106)),
    "phonons": (1511, {"missing structure": 10}, (151, 1224, 136)),
    "band-gap": (2142, {"duplicate material_id": 23, "duplicate structure": 3}, (214, 1735, 193)),
    "flla-e-form": (3935, {"duplicate structure": 3}, (394, 3187, 354)),
    "perovskites": (7572, {}, (757, 6133, 682)),
}
SLOW = {"log-gvrh", "log-kvrh", "phonons", "band-gap", "flla-e-form", "perovskites"}
PARAMS = [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in EXPECTED]


@pytest.mark.parametrize("name", PARAMS)
def test_task_sizes_and_dropped(name, data_dir):
    task = get_task(name)
    data = task.load(data_dir)
    n, dropped, (n_test, n_train, n_val) = EXPECTED[name]
    assert len(data) == n
    assert dict(Counter(category(r) for _, r in data.dropped)) == dropped
    # ids: unique, never both kept and dropped; targets finite
    assert len(set(data.ids)) == len(data.ids)
    assert not set(data.ids) & {i for i, _ in data.dropped}
    assert all(math.isfinite(r.target) for r in data.records.values())
    split = task.split.assign(data)
    assert (len(split["test"]), len(split["train"]), len(split["val"])) == (n_test, n_train, n_val)
    # FT sizes offered are drawable from the pool; CV folds cover every record once
    pool = len(task.split.pool(data))
    assert task.split.ft_sizes and max(task.split.ft_sizes) <= pool
    for size in task.split.ft_sizes:
        assert len(task.split.assign(data, ft_size=size, trial=task.split.trials)["train"]) < size
    tests = [i for f in range(5) for i in task.cv.assign(data, fold=f)["test"]]
    assert sorted(tests) == sorted(data.ids)


def test_declarations():
    for name in EXPECTED:
        task = get_task(name)
        assert task.citation and task.units and task.notes
        assert task.split.test_fraction == 0.1 and task.split.seed == 42 and task.split.trials == 5
        assert task.cv.n_splits == 5 and task.cv.random_state == 18012019
        assert getattr(task.loader, "cleans", False)
    for name in ("flla-e-form", "band-gap", "perovskites", "log-gvrh", "log-kvrh", "dielectric-n"):
        assert "pt_source" in get_task(name).role
    assert "ood_target" in get_task("jarvis2d-gap").role
    assert get_task("obelix").role == ("ft_target",)
    assert {n for n in EXPECTED if get_task(n).target_transform == "log10"} == {"log-gvrh", "log-kvrh", "obelix"}
    assert get_task("obelix").split.ft_sizes == (10, 100)
    assert get_task("jarvis2d-exfoliation").split.ft_sizes == (10, 100, 200, 500)


def test_load_is_cached_and_returns_a_copy(data_dir):
    task = get_task("jarvis2d-gap")
    first = task.load(data_dir)
    first.records.clear()
    first.dropped.clear()
    again = task.load(data_dir)
    assert len(again) == EXPECTED["jarvis2d-gap"][0] and again.dropped
    assert load_cleaned(task, data_dir) is load_cleaned(task, Path(str(data_dir)) / ".")  # one cache entry


# ---------------------------------------------------------------------------------------------------------------
# OBELiX


def test_obelix_rows_map_to_cifs_and_keep_disorder(data_dir):
    from tasks.obelix import read_cifs

    frame = pd.read_csv(data_dir / "raw/obelix/train.csv", dtype=str)
    cifs = read_cifs(data_dir / "raw/obelix/train_cifs.tar.gz")
    assert len(frame) == 478 and frame["ID"].is_unique and len(cifs) == 254
    assert set(cifs) <= set(frame["ID"])  # one CIF per row, named by the row's ID
    assert set(cifs) == set(frame.loc[frame["Cif ID"] == "done", "ID"])
    task = get_task("obelix")
    data = task.load(data_dir)
    structures = load_cleaned(task, data_dir).structures
    usable = len(data) + sum(category(r).startswith("duplicate") for _, r in data.dropped)
    assert usable == 226  # rows with a CIF and a positive conductivity
    assert sum(not s.is_ordered for s in structures.values()) == 166
    assert "226" in task.notes and "178" in task.notes and "166" in task.notes
    assert "occupancy-weighted CGCNN atom features on each site" in task.notes
    assert any("both disordered" in r for _, r in data.dropped)  # other disorder model of the same material


def test_log10_targets_come_from_positive_raw_values(data_dir):
    frame = pd.read_csv(data_dir / "raw/obelix/train.csv", dtype=str).set_index("ID")
    data = get_task("obelix").load(data_dir)
    raw = frame.loc[data.ids, "Ionic conductivity (S cm-1)"].astype(float).to_numpy()
    assert (raw > 0).all()
    np.testing.assert_allclose([r.target for r in data.records.values()], np.log10(raw))


@pytest.mark.slow
@pytest.mark.parametrize("name, column", [("log-gvrh", "G_VRH"), ("log-kvrh", "K_VRH")])
def test_log_moduli_come_from_positive_raw_values(name, column, data_dir):
    frame = pd.read_csv(data_dir / "raw/matminer_v0.4.0/elastic_tensor.csv.gz", skiprows=1).set_index("material_id")
    data = get_task(name).load(data_dir)
    raw = frame.loc[data.ids, column].to_numpy()
    assert (raw > 0).all()
    np.testing.assert_allclose([r.target for r in data.records.values()], np.log10(raw))


@pytest.mark.slow
def test_band_gap_union_on_real_data(data_dir):
    data = get_task("band-gap").load(data_dir)
    dropped = dict(data.dropped)
    assert "mp-1958" in data.ids and "mp-1958@cdvae_mp_20_subset_OPRYAN90/train" in dropped
    assert "mp-1184928" in dropped and "same structure as mp-27988" in dropped["mp-1184928"]
    assert sum(len(v) for v in data.groups.values()) == len(data)


# ---------------------------------------------------------------------------------------------------------------
# loaders on tiny copies of the source files (fast)

_DIELECTRIC = "raw/matminer_v0.4.0/dielectric_constant.csv.gz"
_MP20 = "raw/cdvae_mp_20_subset_OPRYAN90/{}.csv.gz"


def _write_matminer(src: Path, dst: Path, frame: pd.DataFrame) -> None:
    with gzip.open(src, "rt") as fh:
        ref = fh.readline()
    dst.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(dst, "wt") as fh:
        fh.write(ref)
        frame.to_csv(fh, index=False)


def _write_csv(dst: Path, frame: pd.DataFrame) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(dst, "wt") as fh:
        frame.to_csv(fh, index=False)


def test_band_gap_union_dedups_across_sources(data_dir, tmp_path):
    """A material in both sources appears once: by material_id (mp-1958) and by structure under another id
    (mp_20's mp-1184928 is dielectric's mp-27988)."""
    diel = pd.read_csv(data_dir / _DIELECTRIC, skiprows=1)
    diel = diel[diel.material_id.isin(["mp-27988", "mp-1958"]) | (diel.index < 2)]
    _write_matminer(data_dir / _DIELECTRIC, tmp_path / _DIELECTRIC, diel)
    train = pd.read_csv(data_dir / _MP20.format("train"))
    train = train[train.material_id.isin(["mp-1184928", "mp-1958"]) | (train.index < 2)]
    _write_csv(tmp_path / _MP20.format("train"), train)
    for part in ("val", "test"):
        _write_csv(tmp_path / _MP20.format(part), pd.read_csv(data_dir / _MP20.format(part)).head(2))

    data = get_task("band-gap").load(tmp_path)
    assert len(data) == len(diel) + 2 + 2 + 2
    reasons = dict(data.dropped)
    assert set(reasons) == {"mp-1958@cdvae_mp_20_subset_OPRYAN90/train", "mp-1184928"}
    assert category(reasons["mp-1958@cdvae_mp_20_subset_OPRYAN90/train"]) == "duplicate material_id"
    assert "same structure as mp-27988" in reasons["mp-1184928"]
    kept = diel.set_index("material_id").loc["mp-1958", "band_gap"]
    assert data.records["mp-1958"].target == pytest.approx(kept)  # the first source's value is kept
    assert data.groups["matminer_v0.4.0/dielectric_constant"] == list(diel.material_id)


def test_log_modulus_drops_non_positive_values(data_dir, tmp_path):
    rel = "raw/matminer_v0.4.0/elastic_tensor.csv.gz"
    frame = pd.read_csv(data_dir / rel, skiprows=1).head(6).copy()
    frame.loc[1, "G_VRH"] = 0.0
    frame.loc[2, "G_VRH"] = -3.0
    frame.loc[3, "G_VRH"] = float("nan")
    _write_matminer(data_dir / rel, tmp_path / rel, frame)
    data = get_task("log-gvrh").load(tmp_path)
    ids = list(frame.material_id)
    assert data.ids == [ids[0], ids[4], ids[5]]
    cats = {i: category(r) for i, r in data.dropped}
    assert cats == {ids[1]: "non-positive target", ids[2]: "non-positive target", ids[3]: "missing target"}
    np.testing.assert_allclose([r.target for r in data.records.values()],
                               np.log10(frame.loc[[0, 4, 5], "G_VRH"].to_numpy()))
    assert len(get_task("log-kvrh").load(tmp_path)) == 6  # K_VRH untouched


def test_phonons_reports_rows_without_structure(data_dir, tmp_path):
    rel = "raw/automatminer/phonon_dielectric_mp.csv.gz"
    frame = pd.read_csv(data_dir / rel)
    frame = pd.concat([frame.head(3), frame[frame.structure.isna()].head(2)])
    _write_csv(tmp_path / rel, frame)
    data = get_task("phonons").load(tmp_path)
    assert len(data) == 3
    assert [category(r) for _, r in data.dropped] == ["missing structure"] * 2
