"""Predictions for structure files from a saved model or an MLflow run."""

from __future__ import annotations

import tempfile
from pathlib import Path

from torch_geometric.data import Batch

from bench.checkpoint import load_model
from bench.graphs.build import GraphParams, build_graph
from bench.structures import read_structure_file


def resolve_model(ref: str, device: str = "cpu", tracking_uri: str | None = None):
    """``ref`` is a model file, a folder holding ``model.pt``, or an MLflow run id. The file's content hash is
    verified (and, from a run, that it is that run's model); a file from before content hashes loads with a
    note on stderr."""
    path = Path(ref)
    if path.is_dir():
        path = path / "model.pt"
    if path.exists():
        return _noted(load_model(path, device), path)
    from bench.artifacts import UnverifiedArtifactError
    from bench.tracking import Tracker

    tracker = Tracker(tracking_uri)
    try:
        run = tracker.client.get_run(ref)
    except Exception:
        raise FileNotFoundError(f"{ref!r} is neither a model file nor a run id in {tracker.uri}") from None
    local = tracker.download(ref, "model/model.pt", Path(tempfile.mkdtemp(prefix="bench-model-")))
    key = run.data.tags.get("run_key")
    try:
        return load_model(local, device, {"run_key": key} if key else None)
    except UnverifiedArtifactError:
        return _noted(load_model(local, device), local)


def _noted(loaded, path: Path):
    if loaded[2].get("integrity") != "verified":
        from rich.console import Console

        Console(stderr=True).print(f"[yellow]note:[/] {path} has no content hash (written by an older tl-bench); "
                                   "its weights cannot be verified", highlight=False)
    return loaded


def predict_files(model, params: GraphParams, files: list[Path], device: str = "cpu", batch_size: int = 32):
    """Yields ``(path, prediction)`` in input order (first property of the model)."""
    model.eval()
    files = list(files)
    for start in range(0, len(files), batch_size):
        chunk = files[start:start + batch_size]
        graphs = [build_graph(read_structure_file(p), params) for p in chunk]
        values = model.predict(Batch.from_data_list(graphs).to(device))[:, 0].cpu().tolist()
        yield from zip(chunk, values)
