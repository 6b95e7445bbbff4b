"""Artifacts the suite writes and later trusts: content hash + identity, verified on load.

Every trusted file (pre-trained trunks, run checkpoints, model files, ``result.json``, committed records)
embeds an ``integrity`` block: the sha256 of its own content and the identity of what produced it (cache
key, run key, training configuration). The hash is over the *content* (tensors' bytes, dtypes and shapes,
and every plain value), not over the file's bytes, so that it lives inside the file and survives copies
through MLflow, renames and re-serialisation; a flipped byte either breaks the file or changes the content,
and both are caught.

Torch files are read with ``weights_only=True`` only, and written only from plain data (tensors, dicts,
lists, tuples, strings, numbers, booleans, None): a file holding anything else is refused unread, because
unpickling it could run code. No module other than this one calls ``torch.load``/``torch.save`` on trusted
artifacts. torch is imported inside functions (``bench --help`` must stay light).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import sys
from pathlib import Path
from typing import Any

INTEGRITY = "integrity"


class ArtifactError(ValueError):
    """A trusted artifact failed verification. ``path`` is the file, ``reason`` what is wrong.
    A ValueError, so that every command's existing error handling prints it without a traceback."""

    def __init__(self, path: Path, reason: str, remedy: str = ""):
        self.path, self.reason, self.remedy = Path(path), reason, remedy
        super().__init__(f"{path}: {reason}" + (f"; {remedy}" if remedy else ""))


class CorruptArtifactError(ArtifactError):
    """Unreadable, refused (not plain data), or its content does not match its hash."""


class UnverifiedArtifactError(ArtifactError):
    """Readable but carries no content hash (written by a tl-bench from before integrity checks)."""


class ForeignArtifactError(ArtifactError):
    """Intact, but produced by something else than expected (another cache key, run, configuration)."""

    def __init__(self, path: Path, reason: str, found: dict, remedy: str = ""):
        self.found = found
        super().__init__(path, reason, remedy)


# -- content hash ----------------------------------------------------------------------------------------
def _feed(h, obj: Any, where: str) -> None:
    torch = sys.modules.get("torch")  # no tensors without torch: JSON records hash without importing it
    # Type tags and lengths keep distinct structures from hashing alike ("ab" + "c" vs "a" + "bc").
    if torch is not None and isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous().reshape(-1)
        h.update(f"t{t.dtype}{tuple(obj.shape)}:".encode())
        h.update(t.view(torch.uint8).numpy().tobytes())
    elif isinstance(obj, dict):
        h.update(f"d{len(obj)}:".encode())
        for key in sorted(obj, key=lambda k: (type(k).__name__, repr(k))):
            _feed(h, key, where)
            _feed(h, obj[key], f"{where}.{key}")
    elif isinstance(obj, (list, tuple)):
        h.update(f"l{len(obj)}:".encode())
        for k, item in enumerate(obj):
            _feed(h, item, f"{where}[{k}]")
    elif isinstance(obj, str):
        data = obj.encode()
        h.update(f"s{len(data)}:".encode() + data)
    elif obj is None or isinstance(obj, bool):
        h.update(f"b{obj!r};".encode())
    elif isinstance(obj, int):
        h.update(f"i{int(obj)!r};".encode())
    elif isinstance(obj, float):
        h.update(f"f{float(obj)!r};".encode())
    else:
        raise TypeError(f"{where or 'payload'}: {type(obj).__name__} is not plain data")


def content_hash(obj: Any) -> str:
    """sha256 of a plain structure (see the module docstring), independent of dict order."""
    h = hashlib.sha256()
    _feed(h, obj, "")
    return h.hexdigest()


def plain(obj: Any, where: str = "") -> Any:
    """``obj`` with numpy scalars turned into Python numbers; TypeError naming the entry for anything that is
    not plain data (it would need a pickle global to load, which ``weights_only=True`` rightly refuses)."""
    import numpy as np
    import torch

    if isinstance(obj, torch.Tensor) or obj is None or isinstance(obj, (str, bool)):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, dict):
        return {k: plain(v, f"{where}.{k}") for k, v in obj.items()}
    if isinstance(obj, tuple):
        return tuple(plain(v, f"{where}[{k}]") for k, v in enumerate(obj))
    if isinstance(obj, list):
        return [plain(v, f"{where}[{k}]") for k, v in enumerate(obj)]
    raise TypeError(f"{where or 'payload'}: {type(obj).__name__} is not plain data")


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def check_identity(path: Path, found: dict, expected: dict | None, remedy: str) -> None:
    """Every key of ``expected`` must be in ``found`` with the same value."""
    if not expected:
        return
    wrong = [k for k in expected if k not in found or not _same(found[k], expected[k])]
    if wrong:
        detail = ", ".join(f"{k} {found.get(k)!r} (expected {expected[k]!r})" for k in wrong)
        raise ForeignArtifactError(path, f"was produced by something else: {detail}", found, remedy)


# -- torch files -----------------------------------------------------------------------------------------
def save_torch(path: Path, payload: dict, identity: dict) -> Path:
    """Write ``payload`` (plain data) with its integrity block, atomically (temporary file + rename)."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = plain(payload)
    body[INTEGRITY] = {"sha256": content_hash(body), "identity": plain(identity)}
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    torch.save(body, tmp)
    os.replace(tmp, path)
    return path


def load_torch(path: Path, identity: dict | None = None, device: str = "cpu", remedy: str = "",
               require_hash: bool = True) -> tuple[dict, bool]:
    """``(payload without its integrity block, verified)``. Raises :class:`CorruptArtifactError` (unreadable,
    not plain data, hash mismatch), :class:`ForeignArtifactError` (identity differs from ``identity``), and,
    with ``require_hash``, :class:`UnverifiedArtifactError` (no hash; otherwise ``verified`` is False)."""
    import pickle

    import torch

    path = Path(path)
    try:
        blob = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as err:
        # weights_only refuses any pickle global outside torch's allow-list before it is called
        named = re.search(r"GLOBAL ([\w.]+)", str(err))
        what = f"it calls {named.group(1)}" if named else str(err).strip().splitlines()[0][:200]
        raise CorruptArtifactError(path, f"holds objects other than tensors and plain data ({what}); refused "
                                         f"unread, as loading it could run code", remedy) from None
    except Exception as err:  # truncated, flipped bytes in the zip structure, not a torch file
        raise CorruptArtifactError(path, f"cannot be read ({type(err).__name__}: {str(err)[:200]})", remedy) from None
    if not isinstance(blob, dict):
        raise CorruptArtifactError(path, f"holds {type(blob).__name__}, not a tl-bench artifact", remedy)
    block = blob.pop(INTEGRITY, None)
    if block is None:
        if require_hash:
            raise UnverifiedArtifactError(path, "has no content hash (written by a tl-bench from before "
                                                "integrity checks), so it cannot be verified", remedy)
        return blob, False
    if not isinstance(block, dict) or not isinstance(block.get("sha256"), str):
        raise CorruptArtifactError(path, "its integrity block is malformed", remedy)
    try:
        actual = content_hash(blob)
    except TypeError as err:
        raise CorruptArtifactError(path, str(err), remedy) from None
    if actual != block["sha256"]:
        raise CorruptArtifactError(path, f"content does not match its sha256 (stored {block['sha256'][:12]}…, "
                                         f"actual {actual[:12]}…): the file is corrupt or was edited", remedy)
    check_identity(path, block.get("identity") or {}, identity, remedy)
    return blob, True


def identity_of(path: Path, device: str = "cpu") -> dict | None:
    """The identity a torch artifact declares (None when unreadable or without one); reads plain data only."""
    import torch

    try:
        blob = torch.load(path, map_location=device, weights_only=True)
        return dict(blob[INTEGRITY]["identity"])
    except Exception:
        return None


# -- JSON files ------------------------------------------------------------------------------------------
def stamp_json(obj: dict, identity: dict) -> dict:
    """``obj`` as JSON will hold it (non-JSON values as strings), plus its integrity block."""
    body = json.loads(json.dumps({k: v for k, v in obj.items() if k != INTEGRITY}, default=str))
    body[INTEGRITY] = {"sha256": content_hash(body), "identity": json.loads(json.dumps(identity, default=str))}
    return body


def verify_json(path: Path, obj: Any, identity: dict | None = None, remedy: str = "",
                require_hash: bool = True) -> bool:
    """Checks a parsed JSON artifact against its integrity block; True when verified, False when it has none
    and ``require_hash`` is off. Raises the :class:`ArtifactError` subclasses as :func:`load_torch`."""
    if not isinstance(obj, dict):
        raise CorruptArtifactError(path, "is not a JSON object", remedy)
    block = obj.get(INTEGRITY)
    if block is None:
        if require_hash:
            raise UnverifiedArtifactError(path, "has no content hash, so it cannot be verified", remedy)
        return False
    if not isinstance(block, dict) or not isinstance(block.get("sha256"), str):
        raise CorruptArtifactError(path, "its integrity block is malformed", remedy)
    actual = content_hash({k: v for k, v in obj.items() if k != INTEGRITY})
    if actual != block["sha256"]:
        raise CorruptArtifactError(path, f"content does not match its sha256 (stored {block['sha256'][:12]}…, "
                                         f"actual {actual[:12]}…): the file is corrupt or was edited", remedy)
    check_identity(path, block.get("identity") or {}, identity, remedy)
    return True


def read_json(path: Path, remedy: str = "") -> Any:
    """Parsed JSON; a parse error names the file."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CorruptArtifactError(path, f"is not readable JSON ({err})", remedy) from None


def non_finite(metrics: dict) -> list[str]:
    """Names of the metrics that are not finite numbers. MAD:MAE is +inf for an exact model (MAE 0), which is
    a true value, not a failure."""
    bad = []
    for name, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if not math.isfinite(value) and not (name == "mad_mae" and value == math.inf and metrics.get("mae") == 0):
            bad.append(name)
    return bad
