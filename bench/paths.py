"""Where things live: the data directory (with the shipped small datasets behind it, per file) and the user's
cache/data directories (never written inside site-packages)."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """Raw datasets: ``$BENCH_DATA_DIR``, else ``<user data>/data`` (what ``bench data fetch`` fills; a file it
    lacks is read from the shipped copy, see :func:`data_file`).

    A relative ``BENCH_DATA_DIR`` is taken from the current directory, once, here: the folder a run reads and
    records (and names in its errors) is then the same whichever directory later code works in."""
    env = os.environ.get("BENCH_DATA_DIR")
    return Path(os.path.abspath(Path(env).expanduser())) if env else user_data_dir() / "data"


def shipped_data_dir() -> Path:
    """The small datasets shipped inside the package (``bench/data/raw/...``; list and hashes in its
    ``manifest.json``, licences in its ``LICENSES.md``)."""
    return Path(__file__).resolve().parent / "data"


def data_file(relpath: str, folder: Path | None = None) -> Path:
    """Where the raw file ``relpath`` (``raw/...``) is read from, decided per file.

    ``BENCH_DATA_DIR``, when set, is an override: the file is looked for there only. Otherwise the user data
    folder wins when it holds the file (what ``bench data fetch`` or the user put there), else the shipped copy.
    A ``folder`` other than the configured one (``bench perf --data-dir``) is also taken as meant: no fallback.
    The path returned for a file found nowhere is the configured folder's, which error messages name."""
    folder = Path(folder) if folder is not None else data_dir()
    local = folder / relpath
    if local.exists() or Path(relpath).is_absolute() or os.environ.get("BENCH_DATA_DIR"):
        return local
    if Path(os.path.abspath(folder)) != Path(os.path.abspath(data_dir())):
        return local
    shipped = shipped_data_dir() / relpath
    return shipped if shipped.exists() else local


def data_dir_origin() -> str:
    """How :func:`data_dir` was chosen, for messages: ``BENCH_DATA_DIR=<value as set>`` or the default."""
    env = os.environ.get("BENCH_DATA_DIR")
    return f"BENCH_DATA_DIR={env}" if env else "the default; BENCH_DATA_DIR is not set"


def user_data_dir() -> Path:
    """``$BENCH_HOME``, else ``$XDG_DATA_HOME/tl-bench`` (``~/.local/share/tl-bench``)."""
    env = os.environ.get("BENCH_HOME")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "tl-bench"


def cache_dir() -> Path:
    """Graph and checkpoint caches: ``$BENCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/tl-bench``
    (or ``$BENCH_HOME/cache`` when ``BENCH_HOME`` is set)."""
    env = os.environ.get("BENCH_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    if os.environ.get("BENCH_HOME"):
        return user_data_dir() / "cache"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tl-bench"


def runs_dir() -> Path:
    """Working directories of runs (checkpoints used for resuming)."""
    return user_data_dir() / "runs"


def default_tracking_uri() -> str:
    """MLflow store: ``$MLFLOW_TRACKING_URI``, else a sqlite file in the user data directory."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    path = user_data_dir() / "mlflow.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"
