"""Self-contained model files: architecture, weights, target scaling, graph rule and provenance.

A model file carries a content hash and the identity of what produced it (``bench.artifacts``): a run's
``model.pt`` its run key, a pre-trained trunk its cache key. Loading verifies both.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.graphs.build import GraphParams

FORMAT = "tl-bench-model/1"


def save_model(path: Path, model, graph_params, meta: dict[str, Any],
               identity: dict[str, Any] | None = None) -> Path:
    """``graph_params``: ALIGNN's ``GraphParams``, or the backbone's own graph rule (an object with
    ``as_dict()``, e.g. CHGNet's ``GraphRule``), stored as ``graph_rule``. ``identity`` (e.g.
    ``{"run_key": ...}`` or ``{"cache_key": ...}``) is checked by ``load_model``."""
    from bench.artifacts import save_torch

    graph = ({"graph_params": asdict(graph_params)} if isinstance(graph_params, GraphParams)
             else {"graph_rule": graph_params.as_dict()})
    return save_torch(Path(path), {"format": FORMAT, "architecture": model.architecture(),
                                   "state_dict": model.state_dict(), **graph, "meta": meta}, identity or {})


def load_model(path: Path, device: str = "cpu", identity: dict[str, Any] | None = None,
               remedy: str = "") -> tuple[Any, Any, dict[str, Any]]:
    """The model, its graph rule (``GraphParams``, or the backbone's own rule, see ``_graph_of``) and its
    meta. Raises :class:`bench.artifacts.ArtifactError` (a ValueError)
    naming the file when it is unreadable, not plain data, fails its hash, or — with ``identity`` — was
    produced by something else or has no hash. Without ``identity`` (a file handed over by the user) a file
    from before content hashes loads, and ``meta["integrity"]`` says it was not verified."""
    from bench.artifacts import ArtifactError, load_torch
    from bench.model import PropertyModel

    blob, verified = load_torch(Path(path), identity, device, remedy, require_hash=identity is not None)
    if blob.get("format") != FORMAT:
        raise ArtifactError(path, f"is not a tl-bench model file (expected format {FORMAT})", remedy)
    try:
        model = PropertyModel.from_architecture(blob["architecture"])
        model.load_state_dict(blob["state_dict"])
    except (KeyError, TypeError, RuntimeError) as err:
        raise ArtifactError(path, f"does not hold a model this tl-bench can build ({type(err).__name__}: "
                                  f"{str(err)[:300]})", remedy) from None
    model.eval()
    meta = dict(blob.get("meta") or {})
    meta["integrity"] = "verified" if verified else "not verified (written before content hashes)"
    return model.to(device), _graph_of(blob, path, remedy), meta


def _graph_of(blob: dict, path: Path, remedy: str):
    """The graph rule a model file was trained on, rebuilt; a rule this code would build differently (another
    graph version) or one that is not its backbone's is refused, naming the file."""
    from bench.artifacts import ArtifactError

    if "graph_rule" not in blob:
        return GraphParams(**blob["graph_params"])
    from backbones import get_backbone_class

    declared = get_backbone_class(blob["architecture"]["backbone"]).graph_rule
    try:
        rule = type(declared).from_dict(blob["graph_rule"], str(path))
    except (AttributeError, ValueError) as err:
        raise ArtifactError(path, f"holds a graph rule this tl-bench cannot rebuild ({err})", remedy) from None
    if rule != declared:
        raise ArtifactError(path, f"was trained on graph rule {blob['graph_rule']}, not backbone "
                                  f"{blob['architecture']['backbone']}'s ({declared.as_dict()})", remedy)
    return rule
