"""The structures ``bench perf`` measures: real crystals from the piezoelectric table (matminer), rows spread
evenly over the table so that sizes (2-14 sites) are represented as in the dataset."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

PIEZO = "raw/matminer_v0.4.0/piezoelectric_tensor.csv.gz"


def find_table(data_dir: Path | None = None) -> Path:
    """The piezoelectric table under ``data_dir`` (default: ``bench.paths.data_dir()``, then the shared data
    folder beside the repository)."""
    from bench.paths import data_dir as default_data_dir, data_file

    candidates = [Path(data_dir)] if data_dir else [default_data_dir(),
                                                    Path(__file__).resolve().parents[2].parent / "shared" / "data"]
    for root in candidates:
        if data_file(PIEZO, root).exists():  # the configured folder falls back to the shipped copy
            return data_file(PIEZO, root)
    raise FileNotFoundError(f"{PIEZO} not found under {', '.join(str(c) for c in candidates)} "
                            "(set BENCH_DATA_DIR or pass --data-dir)")


def load_structures(n: int, data_dir: Path | None = None) -> dict:
    """``n`` ordered structures at evenly spaced rows of the table, with what each side needs:
    ``pymatgen`` (``Structure.as_dict()``, ours) and ``lattice``/``frac_coords``/``elements`` (jarvis ``Atoms``,
    the peer). Targets are ``eij_max``, standardised."""
    import pandas as pd
    from pymatgen.core import Structure

    path = find_table(data_dir)
    frame = pd.read_csv(path, skiprows=1)  # the first line is a "# ref: ..." comment
    if n < 1:
        raise ValueError("--structures must be >= 1")
    rows = np.unique(np.linspace(0, len(frame) - 1, min(n, len(frame))).round().astype(int)).tolist()
    payloads, ids, targets, skipped = [], [], [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for row in rows:
            s = Structure.from_str(frame["structure"][row], fmt="cif")
            if not s.is_ordered:  # upstream's builder takes one element per site
                skipped.append(int(row))
                continue
            payloads.append({"pymatgen": s.as_dict(), "lattice": s.lattice.matrix.tolist(),
                             "frac_coords": s.frac_coords.tolist(),
                             "elements": [site.specie.symbol for site in s]})
            ids.append(str(frame["material_id"][row]))
            targets.append(float(frame["eij_max"][row]))
    y = np.asarray(targets, dtype=np.float64)
    y = (y - y.mean()) / (y.std() or 1.0)
    return {"path": str(path), "rows": rows, "ids": ids, "structures": payloads, "targets": y.tolist(),
            "skipped_disordered": skipped}
