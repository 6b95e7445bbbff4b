"""On-disk graph cache.

An entry is keyed by the structure's content hash, the graph parameters and ``GRAPH_VERSION``, so a change
of rule or code never reads an old graph. Each file carries a checksum of its payload: a truncated or
corrupt entry is detected on read, logged, and rebuilt. Writes go to a temporary file that is renamed
into place, so concurrent writers never expose a half-written entry (the last complete one wins).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tempfile
from pathlib import Path
from typing import Callable

import torch

from bench.graphs.build import GRAPH_VERSION, GraphParams, build_graph, structure_fingerprint
from bench.graphs.data import AlignnGraph

log = logging.getLogger(__name__)

MAGIC = b"BGC1"
_FIELDS = ("z", "species_z", "species_w", "species_site", "edge_index", "edge_image", "edge_vec", "lg_index")


class CorruptEntry(Exception):
    pass


class GraphCache:
    def __init__(self, root: Path, params: GraphParams = GraphParams()):
        self.params = params
        self.root = Path(root) / f"v{GRAPH_VERSION}-{params.key()}"
        self.hits = self.misses = self.rebuilt = 0

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.pt"

    def get(self, structure, build: Callable = build_graph) -> AlignnGraph:
        """The graph of ``structure``: from disk if a valid entry exists, else built and stored."""
        key = structure_fingerprint(structure)
        path = self.path(key)
        if path.exists():
            try:
                graph = self._read(path, key)
                self.hits += 1
                return graph
            except CorruptEntry as err:
                log.warning("graph cache entry %s is corrupt (%s); rebuilding it", path, err)
                self.rebuilt += 1
        self.misses += 1
        graph = build(structure, self.params)
        self._write(path, key, graph)
        return graph

    def _write(self, path: Path, key: str, graph: AlignnGraph) -> None:
        write_entry(path, {"key": key, "params": self.params.key(), **{f: graph[f] for f in _FIELDS}})

    def _read(self, path: Path, key: str) -> AlignnGraph:
        data = read_entry(path, key, self.params.key())
        return AlignnGraph(**{f: data[f] for f in _FIELDS}, num_nodes=int(data["z"].numel()))


def write_entry(path: Path, blob: dict) -> None:
    """Store ``blob`` (tensors and plain values) at ``path``: magic, sha256 of the payload, payload; written
    to a temporary file renamed into place."""
    buf = io.BytesIO()
    torch.save(blob, buf)
    payload = buf.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pt")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(MAGIC + hashlib.sha256(payload).digest() + payload)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_entry(path: Path, key: str, params: str) -> dict:
    """The blob ``write_entry`` stored, after checking its checksum and that it is ``key``'s under ``params``
    (``CorruptEntry`` otherwise); loaded with ``weights_only=True``."""
    blob = path.read_bytes()
    if len(blob) < 36 or blob[:4] != MAGIC:
        raise CorruptEntry("bad header")
    digest, payload = blob[4:36], blob[36:]
    if hashlib.sha256(payload).digest() != digest:
        raise CorruptEntry("checksum mismatch")
    try:
        data = torch.load(io.BytesIO(payload), weights_only=True)
    except Exception as err:  # a valid checksum over an unreadable payload: written by something else
        raise CorruptEntry(f"unreadable payload: {err}") from None
    if not isinstance(data, dict) or data.get("key") != key or data.get("params") != params:
        raise CorruptEntry("entry belongs to another structure or graph rule")
    return data
