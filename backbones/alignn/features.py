"""CGCNN atom features (Xie & Grossman 2018): the 92-dimensional one-hot table ALIGNN embeds atoms with.

The table is read from the copy jarvis-tools ships (``jarvis/core/atom_init.json``), located without
importing jarvis.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path

import torch

CGCNN_DIM = 92
MAX_Z = 100


@functools.lru_cache(maxsize=1)
def cgcnn_table() -> torch.Tensor:
    """``[MAX_Z + 1, 92]`` float table; row ``Z`` holds element ``Z``'s features, row 0 is zeros."""
    spec = importlib.util.find_spec("jarvis")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("jarvis-tools is required for the CGCNN atom-feature table: pip install jarvis-tools")
    path = Path(next(iter(spec.submodule_search_locations))) / "core" / "atom_init.json"
    raw = json.loads(path.read_text())
    table = torch.zeros(MAX_Z + 1, CGCNN_DIM)
    for z, feats in raw.items():
        table[int(z)] = torch.tensor(feats, dtype=torch.float32)
    return table
