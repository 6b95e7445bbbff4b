"""The pre-trained CHGNet checkpoints inside the ``chgnet`` wheel: where they are, what they hold, read safely."""

from __future__ import annotations

import hashlib
import importlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: shipped checkpoints we support, by the names ``CHGNet.load`` accepts. The wheel also holds 0.2.0 (it needs
#: ``mlp_out_bias=True``) and an r2SCAN transfer; neither is tested here, so neither is offered.
CHECKPOINTS: dict[str, str] = {
    "0.3.0": "pretrained/0.3.0/chgnet_0.3.0_e29f68s314m37.pth.tar",
}

INSTALL_HINT = "the chgnet backbone needs the optional dependency chgnet: pip install 'tl-bench[chgnet]'"


def require_chgnet():
    """The ``chgnet`` package, or an ImportError saying how to install it."""
    try:
        return importlib.import_module("chgnet")
    except ImportError as err:
        raise ImportError(f"{INSTALL_HINT} ({err})") from err


@dataclass(frozen=True)
class Checkpoint:
    name: str
    path: Path
    state_dict: dict[str, Any]
    model_args: dict[str, Any]

    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def checkpoint_path(name: str) -> Path:
    try:
        rel = CHECKPOINTS[name]
    except KeyError:
        raise ValueError(f"unknown CHGNet checkpoint {name!r}; the wheel ships {', '.join(CHECKPOINTS)}") from None
    path = Path(require_chgnet().__file__).parent / rel
    if not path.is_file():
        raise FileNotFoundError(f"CHGNet checkpoint {name!r} is missing from the installed wheel: {path}")
    return path


def load_checkpoint(name: str = "0.3.0") -> Checkpoint:
    """State dict and constructor arguments of a shipped checkpoint, read with ``weights_only=True``
    (``CHGNet.from_file`` reads it with ``weights_only=False``, which would run any pickled code)."""
    import torch

    path = checkpoint_path(name)
    try:
        blob = torch.load(io.BytesIO(path.read_bytes()), map_location="cpu", weights_only=True)
        model = blob["model"]
        return Checkpoint(name, path, dict(model["state_dict"]), dict(model["model_args"]))
    except Exception as err:
        raise ValueError(f"CHGNet checkpoint {path} is not a readable CHGNet checkpoint: {err}") from err
