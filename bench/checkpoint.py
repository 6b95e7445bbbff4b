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


def save_model(path: Path, model, graph_params: GraphParams, meta: dict[str, Any],
               identity: dict[str, Any] | None = None) -> Path:
    """``identity`` (e.g. ``{"run_key": ...}`` or ``{"cache_key": ...}``) is checked by ``load_model``."""
    from bench.artifacts import save_torch

    return save_torch(Path(path), {"format": FORMAT, "architecture": model.architecture(),
                                   "state_dict": model.state_dict(), "graph_params": asdict(graph_params),
                                   "meta": meta}, identity or {})


def load_model(path: Path, device: str = "cpu", identity: dict[str, Any] | None = None,
               remedy: str = "") -> tuple[Any, GraphParams, dict[str, Any]]:
    """The model, its graph rule and its meta. Raises :class:`bench.artifacts.ArtifactError` (a ValueError)
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
    return model.to(device), GraphParams(**blob["graph_params"]), meta
