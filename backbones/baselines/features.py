"""Magpie composition features (Ward et al. 2016): statistics of element properties over a composition.

Computed with matminer's ``ElementProperty.from_preset("magpie")``, whose element tables ship inside the
matminer wheel (``matminer/utils/data_files/magpie_elementdata``): nothing is downloaded. 22 element
properties × 6 statistics (minimum, maximum, range, mean, average deviation, mode), fraction-weighted, so a
disordered site counts by its occupancy.

Features are cached per task under ``<cache>/features/magpie/``, keyed by the task's data hash, the feature
set and matminer's version: featurising is cheap, parsing a few thousand CIFs is not. The cache is a
``.npz`` of plain arrays read with ``allow_pickle=False`` (no code can ride in it); a damaged file is
recomputed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np

FEATURE_SET = "matminer ElementProperty magpie preset"
# bump when what a cached row means changes (parsing, the composition used)
FEATURES_VERSION = 1


class MissingExtra(ValueError):
    """A baseline's optional dependency is not installed; the message says what to install."""


@functools.lru_cache(maxsize=1)  # loading the element tables costs more than featurising one composition
def _featurizer():
    try:
        from matminer.featurizers.composition import ElementProperty
    except ImportError as err:
        raise MissingExtra(
            f"the composition-gbr baseline needs matminer for the Magpie element tables ({err}); install it "
            "with `pip install --no-deps matminer==0.10.1` (its own pins, e.g. pandas<3, no longer install)"
        ) from None
    return ElementProperty.from_preset("magpie")


def matminer_version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("matminer")
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def feature_labels() -> list[str]:
    return list(_featurizer().feature_labels())


def composition_features(composition) -> np.ndarray:
    """The 132 Magpie features of one pymatgen ``Composition``."""
    return np.asarray(_featurizer().featurize(composition), dtype=np.float64)


def cache_key(task: str, data_hash: str) -> str:
    blob = json.dumps({"task": task, "data_hash": data_hash, "features": FEATURE_SET,
                       "matminer": matminer_version(), "version": FEATURES_VERSION}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class FeatureCache:
    """Magpie rows of one task's structures by record id, read from and written to one ``.npz``."""

    def __init__(self, root: Path, task: str, data_hash: str):
        self.path = Path(root) / "features" / "magpie" / f"{task}-{cache_key(task, data_hash)}.npz"
        self.rows: dict[str, np.ndarray] = {}
        self.hits = self.misses = 0
        self.note: str | None = None  # why a cache file was not used, for the run's log
        self._read()

    def _read(self) -> None:
        if not self.path.exists():
            return
        try:
            with np.load(self.path, allow_pickle=False) as blob:
                ids, x = blob["ids"], blob["x"]
                if x.ndim != 2 or len(ids) != len(x):
                    raise ValueError(f"{len(ids)} ids for a {x.shape} feature array")
                self.rows = {str(i): row for i, row in zip(ids, x)}
        except Exception as err:  # damaged or foreign: recompute rather than trust it
            self.note = f"feature cache {self.path} unreadable ({err}); recomputed"
            self.rows = {}

    def features(self, records, source: str) -> np.ndarray:
        """Rows for ``records`` (``tasks.data.Record``), computing and saving the missing ones. Every record
        whose structure cannot be parsed or featurised is reported in one error naming its entry."""
        from bench.dataset import DatasetError

        missing = [r for r in records if r.id not in self.rows]
        self.hits += len(records) - len(missing)
        self.misses += len(missing)
        errors = []
        for record in missing:
            try:
                self.rows[record.id] = composition_features(_composition(record, source))
            except MissingExtra:
                raise
            except Exception as err:  # StructureError already names the entry
                from bench.structures import StructureError

                errors.append(str(err) if isinstance(err, StructureError)
                              else f"{source}, entry {record.id}: no Magpie features ({type(err).__name__}: {err})")
        if errors:
            shown = "\n  ".join(errors[:10])
            more = f"\n  … and {len(errors) - 10} more" if len(errors) > 10 else ""
            raise DatasetError(f"{len(errors)} of {len(records)} structures in {source} have no composition "
                               f"features:\n  {shown}{more}")
        if missing:
            self._write()
        return np.stack([self.rows[r.id] for r in records]) if records else np.zeros((0, 132))

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        ids = sorted(self.rows)
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp.npz")
        np.savez(tmp, ids=np.array(ids, dtype=str), x=np.stack([self.rows[i] for i in ids]))
        tmp.replace(self.path)  # never a half-written cache file


def _composition(record, source: str):
    from bench.structures import parse_structure

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        structure = parse_structure(record.structure, record.fmt, source=f"{source}, entry {record.id}")
    return structure.composition
