"""The backbone interface: a trunk that maps a batch of graphs to one embedding per structure.

A model is a backbone plus heads (``bench.model.PropertyModel``). Fine-tuning modes freeze and unfreeze a
backbone by the *layer groups* it names, so a new backbone only has to say which of its modules are which.
"""

from __future__ import annotations

import abc
from typing import Any

from torch import Tensor, nn


class Backbone(nn.Module, abc.ABC):
    """Graph batch -> ``[num_structures, embedding_dim]``."""

    #: registry name, e.g. ``"alignn"``
    name: str = ""
    #: the prefixes its ``layer_groups()`` names use (declared on the class, so options can be checked
    #: against a backbone without building one: ``--ft-mode 3-body`` needs ``"3body"``)
    group_kinds: frozenset[str] = frozenset()
    #: what ``bench backbones`` prints: the paper, the code's licence, the graph it reads
    citation: str = ""
    licence: str = ""
    graph_rule: str = "atom graph + line graph (bench/graphs: 12-NN within 8 Å)"
    #: the optional dependency (pyproject extra, and the module it installs) a backbone needs; "" for none.
    #: Checked before a run starts, so a missing one is one line saying how to install it.
    extra: str = ""

    @property
    @abc.abstractmethod
    def embedding_dim(self) -> int:
        """Width of the per-structure embedding the heads receive."""

    @abc.abstractmethod
    def forward(self, batch) -> Tensor:
        """Per-structure embeddings of a batched graph."""

    @abc.abstractmethod
    def layer_groups(self) -> dict[str, nn.Module]:
        """Named groups of modules, in input-to-output order, covering every parameter exactly once.

        Names use a small vocabulary so fine-tuning modes work across backbones: groups starting with
        ``embedding.`` embed the raw inputs, ``2body.`` update atoms from bonds, ``3body.`` update bonds from
        angles, ``gcn.`` are atom-graph-only updates, ``readout.`` map atom (or pooled) features to the
        embedding the heads receive (trained whenever any message-passing group trains).
        """

    def config(self) -> dict[str, Any]:
        """Constructor arguments: ``type(self)(**self.config())`` rebuilds the architecture. By default the
        ``_config`` dictionary a backbone keeps of its constructor's arguments."""
        return dict(self._config)

    def calibrate(self, batches) -> bool:
        """Fix, from the training structures under the starting weights, statistics the embedding is computed
        with; called once before training starts (``bench.train.Trainer.fit``), never on validation or test
        data. Returns whether anything was set. The default has nothing to fix; a backbone whose embedding is
        badly scaled for a fresh head (CHGNet's) standardises it here, as one would before a linear probe."""
        return False

    def reset_parameters(self) -> None:
        """Re-initialise every submodule that knows how to."""
        for module in self.modules():
            if module is not self and hasattr(module, "reset_parameters"):
                module.reset_parameters()
