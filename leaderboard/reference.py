"""The paper's reported numbers (Devi, Butler & Sai Gautam 2024) as reference rows.

The table (one row per run of the authors' repository, recomputed from their per-run prediction files) ships
with the project as ``leaderboard/paper/devi2024_test_metrics.csv.gz`` so that a user's build has the paper's rows
without ``../shared``; ``SHIPPED_SHA256`` pins its decompressed content (the same file as
``../shared/reference/devi2024_test_metrics.csv``). The leaderboard uses the ``main`` study (scratch, PT-941 → FT
from each source, MPT) and the ``ood_2d`` study (2D band gaps, one run on the full training set), mapped to this
suite's task names.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

# the paper's target codes -> this suite's task names
TASK_OF_CODE = {"GV": "devi2024-gv", "PH": "devi2024-ph", "DC": "devi2024-dc", "PZ": "devi2024-pz",
                "EBG": "devi2024-ebg", "BG": "devi2024-bg", "FE": "devi2024-fe", "JARVIS_2D_GAP": "devi2024-2d"}
# the devi2024 targets the suite benchmarks (pages are made for them even before any run is recorded)
TARGET_TASKS = ("devi2024-gv", "devi2024-ph", "devi2024-dc", "devi2024-pz", "devi2024-ebg", "devi2024-2d")
STUDIES = ("main", "ood_2d")
# our metric name -> the csv's column (MAE/RMSE in the paper's min-max scaled units)
COLUMN_OF_METRIC = {"mae": "mae_norm", "rmse": "rmse_norm", "r2": "r2"}
CITATION = "Devi, Butler & Sai Gautam, npj Comput. Mater. 10, 300 (2024)"
SHIPPED = Path(__file__).resolve().parent / "paper" / "devi2024_test_metrics.csv.gz"
SHIPPED_SHA256 = "7b0d239d578604b69aaa75f5bb9d989c3f955625a401f612938098e7eb9b7101"  # of the decompressed csv


def _read_text(csv_path: Path) -> str:
    """The csv's text; a ``.gz`` is decompressed. The shipped copy is checked against its pinned hash, so an
    edited or truncated table is refused instead of silently moving the paper's numbers."""
    raw = csv_path.read_bytes()
    if csv_path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise ValueError(f"{csv_path}: not a readable gzip file ({err})") from None
    if csv_path.resolve() == SHIPPED and hashlib.sha256(raw).hexdigest() != SHIPPED_SHA256:
        raise ValueError(f"{csv_path}: content does not match the pinned sha256 {SHIPPED_SHA256[:12]}…; "
                         "restore it with `git checkout -- leaderboard/paper`")
    return raw.decode("utf-8")


def read_rows(csv_path: Path) -> list[dict[str, str]]:
    """Every line of the paper's table as a dict (the shipped copy checked against its pin)."""
    with io.StringIO(_read_text(Path(csv_path)), newline="") as fh:
        return list(csv.DictReader(fh))


@dataclass
class PaperRow:
    """One strategy of the paper on one target: metric values per FT size (None = full training set)."""

    task: str
    strategy: str
    source: str | None  # our task name of the pre-training source (ptft), else None
    pt_size: str
    study: str
    values: dict[int | None, dict[str, list[float]]] = field(default_factory=dict)  # size -> metric -> trials

    @property
    def label(self) -> str:
        if self.strategy == "ptft":
            return f"paper: ptft ← {self.source} ({self.pt_size})"
        if self.strategy == "mpt":
            return "paper: mpt (other six properties)"
        return f"paper: {self.strategy}"

    @property
    def order(self) -> tuple:
        return ({"scratch": 0, "ptft": 1, "mpt": 2}.get(self.strategy, 3), self.source or "")


def load_reference(csv_path: Path) -> dict[str, list[PaperRow]]:
    """Paper rows per task name, in display order (scratch, ptft by source, mpt)."""
    csv_path = Path(csv_path)
    rows: dict[tuple, PaperRow] = {}
    with io.StringIO(_read_text(csv_path), newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"study", "strategy", "pt_source", "pt_size", "target", "ft_size", "trial"} - set(
            reader.fieldnames or [])
        if missing:
            raise ValueError(f"{csv_path}: not the paper's metrics table (missing columns {sorted(missing)})")
        for line_no, r in enumerate(reader, start=2):
            if r["study"] not in STUDIES or r["target"] not in TASK_OF_CODE:
                continue
            if r.get("ft_mode") not in (None, "", "ALL-UF"):
                continue
            task = TASK_OF_CODE[r["target"]]
            source = TASK_OF_CODE.get(r["pt_source"], r["pt_source"]) if r["strategy"] == "ptft" else None
            key = (task, r["strategy"], source, r["pt_size"], r["study"])
            row = rows.setdefault(key, PaperRow(task, r["strategy"], source, r["pt_size"], r["study"]))
            try:
                size = int(r["ft_size"]) or None  # 0: the whole training set (ood_2d)
                for metric, column in COLUMN_OF_METRIC.items():
                    if r.get(column) not in (None, ""):
                        row.values.setdefault(size, {}).setdefault(metric, []).append(float(r[column]))
            except ValueError as err:
                raise ValueError(f"{csv_path}, line {line_no}: {err}") from None
    out: dict[str, list[PaperRow]] = {}
    for row in sorted(rows.values(), key=lambda p: (p.task, p.order)):
        out.setdefault(row.task, []).append(row)
    return out
