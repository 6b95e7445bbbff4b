"""Classical baselines: models that train on the target alone, without a graph network, run by ``bench run``
like a backbone (``--backbone mean``) so their records sit beside the GNNs' on the leaderboard.

A benchmark needs floors: without the training mean and a composition model nobody can tell whether a GNN
helped at N=100. Entries are import paths, as in ``backbones.BACKBONES``, so that listing them (``bench
backbones``, option checks) imports neither scikit-learn nor matminer.
"""

from __future__ import annotations

BASELINES: dict[str, str] = {
    "mean": "backbones.baselines.mean:MeanBaseline",
    "composition-gbr": "backbones.baselines.composition:CompositionGBR",
}


def is_baseline(name: str) -> bool:
    return name in BASELINES


def get_baseline_class(name: str):
    from backbones import load_registered

    return load_registered(BASELINES, name, "baseline")
