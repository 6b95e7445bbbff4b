"""File locks between processes: one writer per run folder, per pre-trained cache entry, per first use of a
database.

A lock is an OS lock (``filelock``; ``flock`` on Unix) on a ``.lock`` file (``lock_path``, ``folder_lock``), so
a process that dies, even by ``kill -9``, releases it with its file descriptors. Whoever holds it writes a sidecar,
``<name>.lock.json`` (pid, host, since when, what for), so that a process that has to wait can say for whom.
The sidecar is informative only: the OS lock decides; a stale sidecar left by a killed holder is overwritten by
the next one.

Light on purpose (no torch, no MLflow): the CLI imports it before anything heavy.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from pathlib import Path
from typing import Callable, Iterator

# Polling interval while waiting: short enough that a waiter starts soon after the holder ends.
POLL_S = 0.5


class LockBusy(RuntimeError):
    """Someone else holds a lock and the caller asked not to wait; the message says who."""


def lock_path(target: Path) -> Path:
    """The lock guarding ``target`` (a file): a sibling, ``<target>.lock``."""
    return target.with_name(target.name + ".lock")


def folder_lock(root: Path, kind: str, name: str) -> Path:
    """The lock guarding folder ``name`` of a kind (``run``, ``pretrained``): kept in ``<root>/locks/``, apart
    from the folders themselves, so that removing a folder (``--fresh``) never removes the lock of a process
    that holds it and listings of runs or cache entries never meet a lock file."""
    return root / "locks" / f"{kind}-{name}.lock"


def sidecar(lock: Path) -> Path:
    return lock.with_name(lock.name + ".json")


def holder(lock: Path) -> dict | None:
    """Who holds (or last held) ``lock``, from its sidecar; None when there is none or it is unreadable."""
    try:
        info = json.loads(sidecar(lock).read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def describe(info: dict | None) -> str:
    if not info:
        return "another process (no holder information)"
    since = info.get("since")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since)) if isinstance(since, (int, float)) else "?"
    return f"pid {info.get('pid', '?')} on {info.get('host', '?')} since {when}" + (
        f" ({info['what']})" if info.get("what") else "")


@contextlib.contextmanager
def hold(lock: Path, what: str = "", wait: bool = True, log: Callable[[str], None] | None = None,
         timeout: float | None = None) -> Iterator[None]:
    """Hold ``lock`` for the duration of the block.

    Free: taken at once. Held by another process: with ``wait``, ``log`` says by whom and the call blocks until
    it is free (or ``timeout`` seconds pass: ``LockBusy``); without ``wait``, ``LockBusy`` names the holder.
    """
    from filelock import FileLock, Timeout

    lock.parent.mkdir(parents=True, exist_ok=True)
    flock = FileLock(str(lock))
    try:
        flock.acquire(timeout=0)
    except Timeout:
        info = holder(lock)
        if not wait:
            raise LockBusy(f"{what or lock} is in use by {describe(info)}; wait for it, or rerun without "
                           f"--no-wait to wait (lock: {lock})") from None
        if log:
            log(f"Waiting: {what or lock} is in use by {describe(info)}")
        try:
            flock.acquire(timeout=-1 if timeout is None else timeout, poll_interval=POLL_S)
        except Timeout:
            raise LockBusy(f"{what or lock} still in use by {describe(holder(lock))} after {timeout:.0f} s "
                           f"(lock: {lock})") from None
    try:
        _write_sidecar(lock, what)
        yield
    finally:
        # The sidecar goes before the lock does: removed after, it could delete the next holder's.
        with contextlib.suppress(OSError):
            sidecar(lock).unlink()
        flock.release()


def _write_sidecar(lock: Path, what: str) -> None:
    info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(), "what": what}
    tmp = sidecar(lock).with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(info))
    os.replace(tmp, sidecar(lock))


@contextlib.contextmanager
def first_use(database: Path) -> Iterator[None]:
    """Serialise the first use of a database file among processes (table creation and migrations race when
    two processes open a fresh sqlite file at once): a lock beside the file, held while the block runs."""
    with hold(lock_path(database), what=f"first use of {database.name}"):
        yield
