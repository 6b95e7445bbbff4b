"""Predictions for structure files from a saved model or an MLflow run.

A file that cannot be read or turned into a graph is reported with its reason and the others are still
predicted: one bad file among a thousand must not cost the other 999.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

FORMATS = ("table", "csv", "json")


@dataclass(frozen=True)
class Prediction:
    """One input file: its prediction, or why there is none (``error``)."""

    file: str
    value: float | None = None
    units: str = ""
    error: str | None = None


def resolve_model(ref: str, device: str = "cpu", tracking_uri: str | None = None):
    """``ref`` is a model file, a folder holding ``model.pt``, or an MLflow run id. The file's content hash is
    verified (and, from a run, that it is that run's model); a file from before content hashes loads with a
    note on stderr."""
    from bench.checkpoint import load_model

    path = Path(ref)
    if path.is_dir():
        _refuse_baseline(path / "result.json", ref)
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
    _refuse_baseline(None, ref, run.data.tags.get("backbone"))
    local = tracker.download(ref, "model/model.pt", Path(tempfile.mkdtemp(prefix="bench-model-")))
    key = run.data.tags.get("run_key")
    try:
        return load_model(local, device, {"run_key": key} if key else None)
    except UnverifiedArtifactError:
        return _noted(load_model(local, device), local)


def _refuse_baseline(result_json: Path | None, ref: str, backbone: str | None = None) -> None:
    """A baseline run keeps no model (a fitted scikit-learn model is a pickle, and loading one can run code):
    say so, and how to get its predictions, instead of "no model file"."""
    from backbones.baselines import is_baseline

    if result_json is not None and result_json.exists():
        try:
            record = json.loads(result_json.read_text())
            backbone = record["config"]["backbone"]
        except (OSError, ValueError, KeyError, TypeError):
            return  # not a readable record: the model-file path reports what is missing
    if backbone and is_baseline(backbone):
        raise ValueError(f"{ref}: a {backbone} baseline run: bench predict is not supported for baselines, which "
                         f"save no model (a fitted scikit-learn model is a pickle, and loading one can run code); "
                         f"its test predictions are in its record (test_predictions), and its `bench run` "
                         f"command with --fresh refits it on the same train ids in seconds")


def _noted(loaded, path: Path):
    if loaded[2].get("integrity") != "verified":
        from rich.console import Console

        Console(stderr=True).print(f"[yellow]note:[/] {path} has no content hash (written by an older tl-bench); "
                                   "its weights cannot be verified", highlight=False)
    return loaded


def _graph(path: Path, params):
    """(graph, None) or (None, reason): every failure of reading, validating or graph building is a reason.
    ``params``: ALIGNN's ``GraphParams``, or the backbone's own rule the model file names (CHGNet's)."""
    from bench.graphs.build import GraphParams, build_graph
    from bench.structures import StructureError, read_structure_file

    try:
        structure = read_structure_file(path)
        if not isinstance(params, GraphParams):
            return params.graph(structure, source=str(path)), None
        return build_graph(structure, params), None
    except StructureError as err:
        return None, str(err)
    except (ValueError, OSError, MemoryError) as err:  # graph building: e.g. a cell too thin to search
        return None, f"{path}: cannot build its graph: {err}"


def predict_files(model, params, files, device: str = "cpu", batch_size: int = 32, units: str = ""):
    """Yields a :class:`Prediction` per file, in input order (first property of the model); files that
    fail carry ``error`` and never stop the others."""
    from torch_geometric.data import Batch

    model.eval()
    files = list(files)
    for start in range(0, len(files), batch_size):
        chunk = files[start:start + batch_size]
        built = [_graph(Path(p), params) for p in chunk]
        good = [g for g, _ in built if g is not None]
        values = iter(model.predict(Batch.from_data_list(good).to(device))[:, 0].cpu().tolist() if good else [])
        for path, (graph, error) in zip(chunk, built):
            if graph is None:
                yield Prediction(str(path), units=units, error=error)
            else:
                yield Prediction(str(path), value=float(next(values)), units=units)


def render(predictions: list[Prediction], fmt: str) -> str:
    """The predictions as text: ``table`` (file, value, units per line; failed files left out: they are
    reported apart), ``csv`` or ``json`` (every file, with an ``error`` column/key, empty where it worked)."""
    if fmt == "table":
        return "".join(f"{p.file}\t{p.value:.6g}\t{p.units}\n" for p in predictions if p.error is None)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["file", "prediction", "units", "error"])
        for p in predictions:
            writer.writerow([p.file, "" if p.value is None else repr(p.value), p.units, p.error or ""])
        return buf.getvalue()
    if fmt == "json":
        return json.dumps([asdict(p) for p in predictions], indent=1) + "\n"
    raise ValueError(f"unknown output format {fmt!r}; expected one of {', '.join(FORMATS)}")
