"""CHGNet (Deng et al., Nat. Mach. Intell. 5, 1031 (2023)) as a pre-trained trunk, from the ``chgnet`` wheel.

``weights`` finds and reads the checkpoint shipped in the wheel, ``graphs`` turns a structure into CHGNet's own
graph (as a PyG ``Data`` so the suite's loaders batch it), ``model`` wraps CHGNet's modules as a ``Backbone``.
``chgnet`` is an optional dependency (``pip install 'tl-bench[chgnet]'``); nothing here imports it before use.
"""

from __future__ import annotations

from backbones.chgnet.model import CHGNetEnergyHead, CHGNetTrunk

__all__ = ["CHGNetEnergyHead", "CHGNetTrunk"]
