"""Test settings: real data from ../shared/data (else the datasets shipped in bench/data), every user directory
in a temporary folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
SHIPPED_DATA = REPO / "bench" / "data"


def default_data_dir() -> Path:
    """The full shared copy where it exists (CI may also set BENCH_DATA_DIR), else the shipped small datasets:
    a fresh clone runs every test those suffice for; the others skip, naming the missing file."""
    return DEFAULT_DATA if (DEFAULT_DATA / "raw").is_dir() else SHIPPED_DATA


def pytest_configure(config):
    os.environ.setdefault("BENCH_DATA_DIR", str(default_data_dir()))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = Path(os.environ["BENCH_DATA_DIR"])
    if not (path / "raw").exists():
        pytest.skip(f"shared data not found at {path} (set BENCH_DATA_DIR)")
    return path


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """Runs, caches and the MLflow store of each test live in a fresh folder, never in the user's home."""
    home = tmp_path_factory.mktemp("bench-home")
    monkeypatch.setenv("BENCH_HOME", str(home))
    monkeypatch.delenv("BENCH_CACHE_DIR", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return home


@pytest.fixture(scope="session")
def piezo_structures(data_dir):
    """A few real structures (pymatgen) from the piezoelectric dataset."""
    import warnings

    import pandas as pd
    from pymatgen.core import Structure

    frame = pd.read_csv(data_dir / "raw/matminer_v0.4.0/piezoelectric_tensor.csv.gz", skiprows=1, nrows=40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [Structure.from_str(s, fmt="cif") for s in frame["structure"]]
