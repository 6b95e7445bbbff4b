"""The peer: upstream ``alignn`` from PyPI, in a virtual environment of its own under the user cache directory
(``bench.paths.cache_dir() / "perf-venv"``), so that neither its dependencies nor its torch pin touch ours.

Created on first use with ``python -m venv`` and ``pip install torch==2.13.0 alignn==2026.8.11`` (torch pinned:
unpinned, pip would pull a multi-GB CUDA build). Its code runs only in subprocesses of that environment's
python (:mod:`bench.perf.worker_peer`), which report timings back as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ALIGNN_VERSION = "2026.8.11"
TORCH_VERSION = "2.13.0"
REQUIREMENTS = (f"torch=={TORCH_VERSION}", f"alignn=={ALIGNN_VERSION}")

_CHECK = ("import json; from importlib.metadata import version as v; "
          "print(json.dumps({'alignn': v('alignn'), 'torch': v('torch')}))")


class PeerUnavailable(RuntimeError):
    pass


def venv_dir() -> Path:
    from bench.paths import cache_dir

    return cache_dir() / "perf-venv"


def installed_versions(python: Path) -> dict | None:
    """``{"alignn", "torch"}`` versions installed for ``python``, or None when it cannot import them."""
    if not Path(python).exists():
        return None
    proc = subprocess.run([str(python), "-c", _CHECK], capture_output=True, text=True,
                          env=_clean_env())
    if proc.returncode != 0:
        return None
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


def _clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    return env


def _matches(versions: dict | None) -> bool:
    return bool(versions) and versions["alignn"] == ALIGNN_VERSION and versions["torch"].split("+")[0] == TORCH_VERSION


def ensure_peer(python: str | Path | None = None, install: bool = True, log=print) -> Path:
    """The python of an environment with upstream alignn; creates ``venv_dir()`` when needed (a few minutes).

    ``python`` names an existing interpreter to use instead (it must import ``alignn``)."""
    if python is not None:
        versions = installed_versions(Path(python))
        if versions is None:
            raise PeerUnavailable(f"{python} cannot import alignn and torch")
        if not _matches(versions):
            log(f"note: peer python has alignn {versions['alignn']}, torch {versions['torch']} "
                f"(benchmark pinned to alignn {ALIGNN_VERSION}, torch {TORCH_VERSION})")
        return Path(python)
    root = venv_dir()
    py = root / "bin" / "python"
    if _matches(installed_versions(py)):
        return py
    if not install:
        raise PeerUnavailable(f"no upstream alignn environment at {root} (run without --no-install to create it)")
    log(f"creating the peer environment {root} (pip install {' '.join(REQUIREMENTS)}; a few minutes)")
    root.parent.mkdir(parents=True, exist_ok=True)
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, env=_clean_env())
    logfile = root / "install.log"
    with open(logfile, "w") as fh:
        proc = subprocess.run([str(py), "-m", "pip", "install", *REQUIREMENTS], stdout=fh,
                              stderr=subprocess.STDOUT, env=_clean_env())
    if proc.returncode != 0 or not _matches(installed_versions(py)):
        tail = logfile.read_text()[-2000:]
        raise PeerUnavailable(f"installing upstream alignn into {root} failed (log: {logfile}):\n{tail}")
    return py
