"""Compute budgets: how big a model, how many epochs, how much data.

``smoke`` proves the pipeline in seconds (tests); ``quick`` is the default and finishes in minutes on two
CPU cores with a smaller ALIGNN; ``paper`` is Devi et al.'s recipe (full ALIGNN, 500 epochs, batch 16,
lr 1e-3, last-epoch model), meant for a GPU.

Model sizes are per backbone (``Budget.backbones``): ALIGNN is shrunk for ``smoke`` and ``quick``; CGCNN and
SchNet are small enough at their papers' sizes to run those for ``quick`` and ``paper``, and tiny for ``smoke``.
A backbone a budget does not list runs at its own defaults.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Budget:
    name: str
    summary: str
    # backbone name -> overrides of that backbone's constructor defaults
    backbones: dict[str, dict[str, Any]] = field(default_factory=dict)
    epochs: int = 500
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-5
    loss: str = "mse"
    patience: int | None = None  # early-stopping patience in epochs; None = train every epoch
    select: str = "last"  # which checkpoint is evaluated on test: "best" (validation MAE) or "last"
    max_train: int | None = None  # cap on training structures (seeded subsample)
    max_val: int | None = None
    max_test: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self, backbone: str = "alignn") -> str:
        """``summary`` with its model part (before the first ";", written for ALIGNN) for ``backbone``; for ALIGNN
        also the budget's graph choice (``GRAPH_CHOICE``)."""
        if backbone == "alignn":
            return self.summary + (f"; {GRAPH_CHOICE[self.name]}" if self.name in GRAPH_CHOICE else "")
        sizes = ", ".join(f"{k} {v}" for k, v in self.backbone_config(backbone).items()) or "its paper's sizes"
        return f"{backbone} at {sizes};" + self.summary.split(";", 1)[-1]

    def backbone_config(self, backbone: str) -> dict[str, Any]:
        """The constructor arguments this budget sets for ``backbone`` (the rest keep their defaults)."""
        return dict(self.backbones.get(backbone, {}))


# The graph each budget trains ALIGNN on, as printed before a run. Not a Budget field: the fields enter the
# pre-training cache keys, and the graph rule is in every run's config already (``config["graph"]``).
GRAPH_CHOICE = {
    "quick": "the reference ALIGNN graph (the faster 3.5 Å three-body cutoff is opt-in: its accuracy cost is not "
             "excluded, PERFORMANCE.md)",
}

BUDGETS: dict[str, Budget] = {
    "smoke": Budget(
        name="smoke",
        summary="ALIGNN 1+1 layers, hidden 32; 3 epochs on 64 training structures; at most 128 test structures",
        backbones={"alignn": dict(alignn_layers=1, gcn_layers=1, hidden_features=32, embedding_features=16),
                   "cgcnn": dict(atom_features=16, conv_layers=1, hidden_features=32),
                   "schnet": dict(hidden_features=32, num_filters=32, interactions=1, num_gaussians=20,
                                  readout_features=16)},
        epochs=3, batch_size=16, lr=1e-3, patience=None, select="best", max_train=64, max_val=16, max_test=128,
    ),
    "quick": Budget(
        name="quick",
        summary="ALIGNN 2+2 layers, hidden 64 (~0.2 M parameters); 40 epochs, batch 32, early stopping",
        backbones={"alignn": dict(alignn_layers=2, gcn_layers=2, hidden_features=64, embedding_features=32)},
        epochs=40, batch_size=32, lr=2e-3, patience=15, select="best",
    ),
    "paper": Budget(
        name="paper",
        summary="Devi et al. 2024 recipe: ALIGNN 4+4 layers, hidden 256 (4.0 M parameters); 500 epochs, "
                "batch 16, lr 1e-3, last-epoch model",
        epochs=500, batch_size=16, lr=1e-3, patience=None, select="last",
    ),
}


def get_budget(name: str) -> Budget:
    if name not in BUDGETS:
        raise KeyError(f"unknown budget {name!r}; known budgets: {', '.join(BUDGETS)}")
    return BUDGETS[name]
