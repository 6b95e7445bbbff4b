"""A small user task (real piezo structures, made-up targets) registered in the test's BENCH_HOME."""

from __future__ import annotations

import importlib
import os
from pathlib import Path


def register_tiny(n: int, name: str = "tiny") -> str:
    """Register ``n`` structures as task ``name`` and rebuild the registry of this process (subprocesses started
    afterwards with the same BENCH_HOME find it too)."""
    import pandas as pd

    import tasks
    import tasks.user

    data = Path(os.environ["BENCH_DATA_DIR"]) / "raw/matminer_v0.4.0/piezoelectric_tensor.csv.gz"
    frame = pd.read_csv(data, skiprows=1, nrows=n)
    rows = [[f"m{k}", s, 0.1 * k, "cif"] for k, s in enumerate(frame["structure"])]
    tasks.user.register(name, rows, "y", {"source": "tests", "kind": "csv"}, force=True)
    refresh_registry()
    return name


def refresh_registry() -> None:
    import tasks
    import tasks.user

    importlib.reload(tasks.user)
    tasks.all_tasks.cache_clear()
