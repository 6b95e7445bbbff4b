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
#: the sha256 of each shipped file, as its model card (leaderboard/pretrained/chgnet-<name>-mptrj.json) states
#: it: a record says "fine-tuned from these weights", so other bytes under the same name must not load
SHA256: dict[str, str] = {
    "0.3.0": "d14ab7c0f093efe64b60a7bcd540bca10e74fb7f46c86108a079af60524659d1",
}
PACKAGE = "chgnet==0.4.2"  # the wheel the card and the sha256 above describe (pyproject's chgnet extra)

INSTALL_HINT = ('the chgnet backbone needs the optional dependency chgnet (chgnet==0.4.2): pip install -e ".[chgnet]" '
                "in a checkout of tl-bench (pip install 'tl-bench[chgnet]' otherwise)")


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
    (``CHGNet.from_file`` reads it with ``weights_only=False``, which would run any pickled code), after its
    sha256 is checked against the card's (``SHA256``)."""
    import torch

    path = checkpoint_path(name)
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SHA256[name]:
        raise ValueError(f"CHGNet checkpoint {path} has sha256 {digest}, not the {SHA256[name]} of the "
                         f"{PACKAGE} weights its model card describes (chgnet-{name}-mptrj): another chgnet "
                         f"version or a modified file; refusing to load it. Reinstall: pip install --force-reinstall "
                         f"{PACKAGE}")
    try:
        blob = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
        model = blob["model"]
        return Checkpoint(name, path, dict(model["state_dict"]), dict(model["model_args"]))
    except Exception as err:
        raise ValueError(f"CHGNet checkpoint {path} is not a readable CHGNet checkpoint: {err}") from err
