"""The small datasets that ship inside the package (``bench/data/raw/...``) and their manifest.

The manifest (``bench/data/manifest.json``) lists every shipped file's sha256 and size, so a damaged or edited copy
is caught by ``verify`` (tests run it against the files and against ``../shared/data``) instead of silently
changing results. ``python -m bench.shipped_data`` rewrites it after a deliberate change to the shipped files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

MANIFEST = "manifest.json"


def root() -> Path:
    from bench.paths import shipped_data_dir

    return shipped_data_dir()


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def manifest() -> dict[str, dict]:
    """``{relpath: {"sha256": ..., "size": ...}}`` of every shipped file (relpaths start with ``raw/``)."""
    path = root() / MANIFEST
    try:
        entries = json.loads(path.read_text())["files"]
    except (OSError, ValueError, KeyError) as err:
        raise RuntimeError(f"{path}: unreadable shipped-data manifest ({err}); reinstall the package") from None
    return entries


def verify(folder: Path | None = None, *, only_present: bool = False) -> list[str]:
    """Problems of ``folder`` (default: the shipped copy) against the manifest, one line each naming the file:
    missing (unless ``only_present``), wrong size, wrong sha256. Empty when everything matches."""
    folder = Path(folder) if folder is not None else root()
    problems = []
    for rel, entry in manifest().items():
        path = folder / rel
        if not path.exists():
            if not only_present:
                problems.append(f"{path}: missing (the manifest lists it)")
            continue
        size = path.stat().st_size
        if size != entry["size"]:
            problems.append(f"{path}: {size} bytes, the manifest says {entry['size']}")
        elif sha256(path) != entry["sha256"]:
            problems.append(f"{path}: sha256 {sha256(path)} differs from the manifest's {entry['sha256']}")
    return problems


def unlisted() -> list[str]:
    """Shipped files the manifest does not list (a file added without rewriting the manifest)."""
    listed = set(manifest())
    return sorted(rel for rel in _files(root()) if rel not in listed)


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in (folder / "raw").rglob("*") if p.is_file())


def write_manifest() -> Path:
    folder = root()
    files = {rel: {"sha256": sha256(folder / rel), "size": (folder / rel).stat().st_size} for rel in _files(folder)}
    path = folder / MANIFEST
    path.write_text(json.dumps({"files": files}, indent=1, sort_keys=True) + "\n")
    return path


if __name__ == "__main__":
    print(write_manifest())
