"""Where things live: the data directory and the user's cache/data directories (never site-packages)."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """Raw datasets: ``$BENCH_DATA_DIR``, else ``<user data>/data`` (what ``bench data fetch`` fills).

    A relative ``BENCH_DATA_DIR`` is taken from the current directory, once, here: the folder a run reads and
    records (and names in its errors) is then the same whichever directory later code works in."""
    env = os.environ.get("BENCH_DATA_DIR")
    return Path(os.path.abspath(Path(env).expanduser())) if env else user_data_dir() / "data"


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
