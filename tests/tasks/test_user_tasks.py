"""`bench data add`: your own data as a task (CSV + structure folder, ALIGNN JSON, id_prop.csv + POSCARs)."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from bench.cli import app

N = 24  # 23 usable rows: a 10 % test set of 2, the least a run accepts (bench.run.MIN_SPLIT)


@pytest.fixture(scope="module")
def piezo_frame(data_dir):
    return pd.read_csv(data_dir / "raw/matminer_v0.4.0/piezoelectric_tensor.csv.gz", skiprows=1, nrows=N)


@pytest.fixture(scope="module")
def structures(piezo_frame):
    from pymatgen.core import Structure

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [Structure.from_str(c, fmt="cif") for c in piezo_frame["structure"]]


@pytest.fixture
def csv_input(tmp_path, piezo_frame):
    """data.csv (id, formula, eij) and a folder of CIF files named after the ids."""
    folder = tmp_path / "cifs"
    folder.mkdir()
    for mid, cif in zip(piezo_frame["material_id"], piezo_frame["structure"]):
        (folder / f"{mid}.cif").write_text(cif)
    table = pd.DataFrame({"mpid": piezo_frame["material_id"], "formula": piezo_frame["formula"],
                          "eij": piezo_frame["eij_max"].astype(object)})
    table.loc[3, "eij"] = "na"
    table.to_csv(tmp_path / "data.csv", index=False)
    return tmp_path / "data.csv", folder


def _add(*args):
    result = CliRunner().invoke(app, ["data", "add", *map(str, args)])
    return result.exit_code, " ".join(result.output.split())


def _spec(home: Path, name: str) -> dict:
    return json.loads((home / "user_tasks" / f"{name}.json").read_text())


@pytest.fixture
def registry():
    """The task registry rebuilt from this test's BENCH_HOME (and restored afterwards)."""
    import tasks
    import tasks.user

    def rebuild():
        importlib.reload(tasks.user)
        tasks.all_tasks.cache_clear()
        return tasks.all_tasks()

    yield rebuild
    importlib.reload(tasks.user)
    tasks.all_tasks.cache_clear()


def test_csv_and_cif_folder(csv_input, isolated_home, tmp_path, piezo_frame, registry):
    csv, folder = csv_input
    code, out = _add("mine", "--csv", csv, "--structures", folder, "--target", "eij", "--units", "C/m²")
    assert code == 0, out
    assert f"added task 'mine': {N} rows" in out and f"usable records: {N - 1} of {N}" in out
    assert "1 missing target" in out
    spec = _spec(isolated_home, "mine")
    assert spec["target"] == "eij" and spec["origin"]["kind"] == "csv"

    # the data is a copy: the task survives deleting the originals
    for p in folder.iterdir():
        p.unlink()
    csv.unlink()
    task = registry()["mine"]
    assert Path(task.files[0]).is_absolute() and Path(task.files[0]).is_relative_to(isolated_home)
    data = task.load(tmp_path / "any-data-dir")
    assert len(data) == N - 1 and "formula" not in data.ids
    assert data.ids[0] == piezo_frame["material_id"][0]
    assert data.records[data.ids[0]].fmt == "cif"
    assert dict(data.dropped)[piezo_frame["material_id"][3]] == "missing target: 'na'"


def test_alignn_json(tmp_path, structures, isolated_home, registry):
    entries = [{"jid": f"JVASP-{i}", "atoms": {"lattice_mat": s.lattice.matrix.tolist(),
                                               "coords": s.frac_coords.tolist(),
                                               "elements": [site.specie.symbol for site in s], "cartesian": False},
                "target": float(i)} for i, s in enumerate(structures)]
    path = tmp_path / "dataset.json"
    path.write_text(json.dumps(entries))
    code, out = _add("from-json", "--json", path)
    assert code == 0, out
    data = registry()["from-json"].load(tmp_path)
    assert data.ids == [f"JVASP-{i}" for i in range(N)]
    assert data.records["JVASP-5"].target == 5.0

    code, out = _add("bad-key", "--json", path, "--target", "gap")
    assert code == 2 and "no key 'gap'" in out and "jid, atoms, target" in out


def test_id_prop_and_poscar_folder(tmp_path, structures, registry):
    folder = tmp_path / "alignn"
    folder.mkdir()
    lines = []
    for i, s in enumerate(structures):
        s.to(filename=str(folder / f"POSCAR-{i}.vasp"), fmt="poscar")
        lines.append(f"POSCAR-{i}.vasp,{0.1 * i:.3f}")
    (folder / "id_prop.csv").write_text("\n".join(lines) + "\n")
    code, out = _add("from-idprop", "--structures", folder)
    assert code == 0, out
    task = registry()["from-idprop"]
    data = task.load(tmp_path)
    assert data.ids[:2] == ["POSCAR-0", "POSCAR-1"] and data.records["POSCAR-2"].target == pytest.approx(0.2)
    assert data.records["POSCAR-2"].fmt == "poscar"
    assert task.target == "target" and task.family == "user"

    # every strategy accepts the task (resolved as `bench run` does; nothing trained here)
    from bench.run import resolve_config

    ptft = resolve_config("from-idprop", "ptft", "smoke", 0, "cpu", pretrain={"source": "fe"})
    assert ptft["pretrain"]["source"] == "devi2024-fe"
    mpt = resolve_config("from-idprop", "mpt", "smoke", 0, "cpu")
    assert len(mpt["pretrain"]["sources"]) == 7

    (folder / "POSCAR-4.vasp").unlink()
    code, out = _add("broken", "--structures", folder)
    assert code == 2 and f"1 of {N} structure files not found" in out and "POSCAR-4.vasp" in out


def test_bad_inputs_give_clear_errors(csv_input, isolated_home):
    csv, folder = csv_input
    code, out = _add("x", "--csv", csv, "--structures", folder, "--target", "gap")
    assert code == 2 and "target column 'gap' not in" in out and "available columns: mpid, formula, eij" in out

    missing = sorted(folder.iterdir())[0]
    missing.unlink()
    code, out = _add("x", "--csv", csv, "--structures", folder, "--target", "eij")
    assert code == 2 and f"1 of {N} structure files not found" in out and missing.stem in out
    assert not (isolated_home / "user_tasks" / "x.json").exists()

    code, out = _add("piezo", "--csv", csv, "--structures", folder, "--target", "eij")
    assert code == 2 and "'piezo' is the name of a built-in task" in out

    code, out = _add("bad/name", "--csv", csv, "--structures", folder, "--target", "eij")
    assert code == 2 and "invalid task name" in out


def test_duplicate_name_needs_force(csv_input, isolated_home):
    csv, folder = csv_input
    assert _add("dup", "--csv", csv, "--structures", folder, "--target", "eij")[0] == 0
    code, out = _add("dup", "--csv", csv, "--structures", folder, "--target", "eij")
    assert code == 2 and "already exists" in out and "--force" in out
    # formulas are not numbers: every row would be dropped, so the replacement is refused and the task kept
    code, out = _add("dup", "--csv", csv, "--structures", folder, "--target", "formula", "--force")
    assert code == 2 and f"no usable rows: all {N} rows were dropped" in out, out
    assert _spec(isolated_home, "dup")["target"] == "eij"
    result = CliRunner().invoke(app, ["data", "remove", "dup"])
    assert result.exit_code == 0 and not (isolated_home / "user_tasks" / "dup.json").exists()
    assert not (isolated_home / "user_data" / "dup").exists()


def test_listed_and_runnable(csv_input, tmp_path):
    """As a user runs it: `bench data add`, `bench tasks`, `bench run --budget smoke` (subprocesses)."""
    csv, folder = csv_input
    env = {**os.environ, "BENCH_HOME": str(tmp_path / "home"), "BENCH_DATA_DIR": str(tmp_path / "data")}

    def bench(*args):
        proc = subprocess.run([sys.executable, "-m", "bench", *map(str, args)], capture_output=True, text=True,
                              env=env, timeout=600)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    bench("data", "add", "my-piezo", "--csv", csv, "--structures", folder, "--target", "eij", "--units", "C/m2")
    assert "my-piezo" in bench("tasks").stdout
    out = bench("run", "--task", "my-piezo", "--budget", "smoke", "--epochs", "1").stdout
    assert "MAE" in out and re.search(r"MLflow run: \w+", out)


def test_no_usable_rows_is_refused_with_the_reasons(csv_input, isolated_home, registry):
    """Every row dropped: the task is not registered (it used to be, and died later with StopIteration)."""
    csv, folder = csv_input
    for path in folder.iterdir():
        path.write_text("data_x\n_cell_length_a 3\n")  # cut short: no structure in any file
    code, out = _add("empty", "--csv", csv, "--structures", folder, "--target", "eij")
    assert code == 2, out
    assert f"no usable rows: all {N} rows were dropped ({N - 1} invalid structure, 1 missing target)" in out
    assert "unparseable CIF: the cell is incomplete" in out and "the task was not added" in out
    assert not (isolated_home / "user_tasks" / "empty.json").exists()
    assert not (isolated_home / "user_data" / "empty").exists()
    assert "empty" not in registry()


def _table_with_paths(tmp_path, piezo_frame, names):
    folder = tmp_path / "inside"
    folder.mkdir()
    for mid, cif in zip(piezo_frame["material_id"], piezo_frame["structure"]):
        (folder / f"{mid}.cif").write_text(cif)
    (tmp_path / "outside.cif").write_text(piezo_frame["structure"][0])
    files = [f"{m}.cif" for m in piezo_frame["material_id"]]
    for row, name in names.items():
        files[row] = name
    table = pd.DataFrame({"id": [f"m{i}" for i in range(N)], "file": files, "y": range(N)})
    table.to_csv(tmp_path / "t.csv", index=False)
    return tmp_path / "t.csv", folder


def test_structure_paths_outside_the_folder_are_refused(tmp_path, piezo_frame, isolated_home):
    outside = tmp_path / "outside.cif"
    csv, folder = _table_with_paths(tmp_path, piezo_frame, {2: "../outside.cif", 5: str(outside)})
    args = ("--csv", csv, "--structures", folder, "--target", "y", "--structure-column", "file")
    code, out = _add("paths", *args)
    assert code == 2, out
    assert "2 structure path(s) point outside the structure folder" in out
    assert "t.csv row 3 (id m2): '../outside.cif'" in out and f"t.csv row 6 (id m5): '{outside}'" in out
    assert "--allow-outside" in out and not (isolated_home / "user_tasks" / "paths.json").exists()

    code, out = _add("paths", *args, "--allow-outside")
    assert code == 0, out
    assert "--allow-outside: structure paths leaving the structure folder were read" in out
    assert _spec(isolated_home, "paths")["origin"]["allow_outside"] is True


def test_link_out_of_the_folder_and_id_prop_paths_are_refused(tmp_path, piezo_frame):
    csv, folder = _table_with_paths(tmp_path, piezo_frame, {})
    (folder / "link.cif").symlink_to(tmp_path / "outside.cif")
    (folder / "id_prop.csv").write_text("link.cif,1.0\n../outside.cif,2.0\n" + "".join(
        f"{m}.cif,{i}\n" for i, m in enumerate(piezo_frame["material_id"])))
    code, out = _add("idprop", "--structures", folder)
    assert code == 2 and "id_prop.csv line 1 (id link.cif): 'link.cif'" in out
    assert "id_prop.csv line 2 (id ../outside.cif): '../outside.cif'" in out
