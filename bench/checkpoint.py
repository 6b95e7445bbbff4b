"""Self-contained model files: architecture, weights, target scaling, graph rule and provenance."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from bench.graphs.build import GraphParams
from bench.model import PropertyModel

FORMAT = "tl-bench-model/1"


def save_model(path: Path, model: PropertyModel, graph_params: GraphParams, meta: dict[str, Any]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": FORMAT, "architecture": model.architecture(), "state_dict": model.state_dict(),
                "graph_params": asdict(graph_params), "meta": meta}, path)
    return path


def load_model(path: Path, device: str = "cpu") -> tuple[PropertyModel, GraphParams, dict[str, Any]]:
    try:
        blob = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:
        raise ValueError(f"{path} is not a readable tl-bench model file: {err}") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ValueError(f"{path} is not a tl-bench model file (expected format {FORMAT})")
    model = PropertyModel.from_architecture(blob["architecture"])
    model.load_state_dict(blob["state_dict"])
    model.eval()
    return model.to(device), GraphParams(**blob["graph_params"]), blob["meta"]
