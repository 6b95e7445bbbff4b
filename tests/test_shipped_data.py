"""The small datasets shipped in bench/data: the manifest holds for them, and with no BENCH_DATA_DIR the tasks
read them (per file: a file in the user data folder still wins)."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bench import paths, shipped_data

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
PIEZO = "raw/matminer_v0.4.0/piezoelectric_tensor.csv.gz"


def test_manifest_lists_exactly_the_shipped_files_with_their_hashes():
    assert shipped_data.verify() == []
    assert shipped_data.unlisted() == []
    assert PIEZO in shipped_data.manifest()
    assert any(rel.startswith("raw/devi2024/pairwise/pz/") for rel in shipped_data.manifest())


def _full_copies() -> list[Path]:
    """../shared/data and the folder BENCH_DATA_DIR names, where they hold a full raw/ (not the shipped one)."""
    found = [SHARED, Path(os.environ.get("BENCH_DATA_DIR") or SHARED)]
    return [p for p in dict.fromkeys(p.resolve() for p in found)
            if (p / "raw").is_dir() and p != paths.shipped_data_dir().resolve()]


@pytest.mark.skipif(not _full_copies(), reason="no full data copy (../shared/data or BENCH_DATA_DIR) present")
def test_shipped_files_are_the_shared_upstream_copies():
    for folder in _full_copies():
        assert shipped_data.verify(folder) == [], folder


def test_verify_names_a_damaged_or_missing_file(tmp_path, monkeypatch):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw/a.csv").write_text("x,y\n1,2\n")
    (tmp_path / "raw/b.csv").write_text("b\n")
    monkeypatch.setattr(paths, "shipped_data_dir", lambda: tmp_path)
    shipped_data.write_manifest()
    assert shipped_data.verify() == []
    (tmp_path / "raw/a.csv").write_text("x,y\n1,3\n")  # same size, other content
    (tmp_path / "raw/b.csv").unlink()
    (tmp_path / "raw/c.csv").write_text("new\n")
    problems = shipped_data.verify()
    assert len(problems) == 2
    assert "a.csv: sha256" in problems[0] and "b.csv: missing" in problems[1]
    assert shipped_data.unlisted() == ["raw/c.csv"]


def test_every_shipped_source_has_a_licence_entry():
    licences = (paths.shipped_data_dir() / "LICENSES.md").read_text()
    folders = {rel.split("/")[1] for rel in shipped_data.manifest()}
    assert folders and all(f"raw/{folder}" in licences for folder in folders)


def test_package_data_globs_cover_every_shipped_file():
    """A wheel (not only an editable install) must carry the data: setuptools' package-data globs, from bench/."""
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["bench"]
    covered = {Path(p).as_posix() for pat in patterns for p in glob.glob(pat, root_dir=REPO / "bench", recursive=True)}
    wanted = {f"data/{rel}" for rel in shipped_data.manifest()} | {"data/manifest.json", "data/LICENSES.md"}
    assert wanted - covered == set()


@pytest.fixture
def fake_shipped(tmp_path, monkeypatch):
    shipped = tmp_path / "shipped"
    (shipped / "raw/src").mkdir(parents=True)
    (shipped / "raw/src/t.csv").write_text("shipped\n")
    monkeypatch.setattr(paths, "shipped_data_dir", lambda: shipped)
    monkeypatch.delenv("BENCH_DATA_DIR", raising=False)
    return shipped


def test_data_file_falls_back_to_the_shipped_copy_per_file(fake_shipped, isolated_home):
    assert paths.data_file("raw/src/t.csv") == fake_shipped / "raw/src/t.csv"
    user = isolated_home / "data/raw/src/t.csv"
    user.parent.mkdir(parents=True)
    user.write_text("downloaded\n")
    assert paths.data_file("raw/src/t.csv") == user  # the user's copy wins
    assert paths.data_file("raw/src/other.csv") == isolated_home / "data/raw/src/other.csv"  # nowhere: named here


def test_bench_data_dir_overrides_without_fallback(fake_shipped, tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path / "mine"))
    assert paths.data_file("raw/src/t.csv") == tmp_path / "mine/raw/src/t.csv"


def test_an_explicit_other_folder_gets_no_fallback(fake_shipped, tmp_path):
    assert paths.data_file("raw/src/t.csv", tmp_path / "elsewhere") == tmp_path / "elsewhere/raw/src/t.csv"


def _default_task_paths(name: str) -> list[Path]:
    from tasks import all_tasks

    return all_tasks()[name].paths(paths.data_dir())


def test_default_tasks_read_the_shipped_files_with_no_setting(monkeypatch, isolated_home):
    from tasks import all_tasks

    monkeypatch.delenv("BENCH_DATA_DIR", raising=False)
    shipped = paths.shipped_data_dir()
    piezo = all_tasks()["piezo"]
    for name in ("piezo", "devi2024-pz", *piezo.mpt_sources):
        for path in _default_task_paths(name):
            assert path.exists() and path.is_relative_to(shipped), (name, path)
    data = all_tasks()["devi2024-pz"].load(paths.data_dir())
    assert len(data.groups["test"]) == 94
    assert all_tasks()["devi2024-fe"].data_hash(paths.data_dir())  # MPT sources hash (and so read) fine


def test_a_download_in_the_user_folder_is_preferred_to_the_shipped_file_it_replaces(monkeypatch, isolated_home):
    monkeypatch.delenv("BENCH_DATA_DIR", raising=False)
    download = isolated_home / "data/raw/matminer_v0.4.0/piezoelectric_tensor.json.gz"
    download.parent.mkdir(parents=True)
    download.write_bytes(b"")
    assert _default_task_paths("piezo") == [download]


def test_tasks_show_works_from_a_clean_environment(tmp_path):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "BENCH_HOME": str(tmp_path / "h"),
           "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-m", "bench", "tasks", "show", "piezo"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "# piezo" in out.stdout and "missing" not in out.stdout.lower()


def test_the_test_suite_falls_back_to_the_shipped_data(monkeypatch, tmp_path):
    from tests import conftest

    monkeypatch.setattr(conftest, "DEFAULT_DATA", tmp_path / "no-shared-data")
    assert conftest.default_data_dir().resolve() == paths.shipped_data_dir()
    (tmp_path / "shared/raw").mkdir(parents=True)
    monkeypatch.setattr(conftest, "DEFAULT_DATA", tmp_path / "shared")
    assert conftest.default_data_dir() == tmp_path / "shared"
