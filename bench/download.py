"""Download task sources (``bench data fetch``): verified, atomic, retried, with one clear error when offline.

A :class:`tasks.data.Source` names an upstream URL and where the file goes under the data directory.
:func:`download` streams it into a temporary file *in the target folder*, hashing while writing, checks the
size, the sha256 and (for zips) the archive, then ``os.replace``-s it into place, so a reader never sees a
partial or unverified file and an interrupted or rejected download leaves nothing behind.

Hashes: matminer/matbench publish sha256 hashes (``../shared/reference/matminer_dataset_urls.json``); they are
checked on every download. JARVIS figshare files have no published hash: the first download is trusted after
its zip is checked (trust on first use), and its sha256 is recorded in ``<data dir>/sources.lock.json``; a
later download must match the recorded hash (delete the entry to accept a new upstream version).

``$BENCH_DOWNLOAD_MIRROR`` (e.g. ``http://127.0.0.1:8000/mirror``) replaces the scheme and host of every URL
(the path is kept): for mirrors, and for the tests, which serve copies of the files locally.

Only the standard library is used (urllib), so downloading adds no dependency.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tasks.data import Source

MIRROR_ENV = "BENCH_DOWNLOAD_MIRROR"
LOCK_FILE = "sources.lock.json"
CHUNK = 1 << 20
USER_AGENT = "tl-bench (https://github.com/; bench data fetch)"

Progress = Callable[[int, "int | None"], None]  # (bytes so far, total bytes or None)


class DownloadError(RuntimeError):
    """A download that failed for good; the message says what to do."""


class OfflineError(DownloadError):
    """The host could not be reached at all."""


class IntegrityError(DownloadError):
    """The downloaded bytes are not the expected file (hash, size or archive check failed)."""


class _Retryable(Exception):
    """A transient failure worth another attempt (connection error, 5xx, truncated body)."""

    def __init__(self, reason: str, unreachable: bool = False):
        super().__init__(reason)
        self.unreachable = unreachable


def resolve_url(url: str) -> str:
    """``url`` with its scheme and host replaced by ``$BENCH_DOWNLOAD_MIRROR`` (its path appended) if set."""
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    if not mirror:
        return url
    m, u = urllib.parse.urlsplit(mirror), urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((m.scheme, m.netloc, m.path.rstrip("/") + u.path, u.query, ""))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------------------------
# lock file (trust on first use for sources without a published hash)


def read_lock(data_dir: Path) -> dict[str, dict]:
    path = Path(data_dir) / LOCK_FILE
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise DownloadError(f"{path} is not valid JSON ({exc}); fix or delete it") from None


def _record_lock(data_dir: Path, source: Source, sha256: str, size: int) -> None:
    lock = read_lock(data_dir)
    lock[source.relpath] = {"url": source.url, "sha256": sha256, "size": size,
                            "recorded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    _atomic_write_text(Path(data_dir) / LOCK_FILE, json.dumps(lock, indent=1, sort_keys=True) + "\n")


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def expected_sha256(source: Source, data_dir: Path) -> tuple[str | None, str]:
    """(hash the file must have, where that hash comes from: "published" | "lock file" | "none yet")."""
    if source.sha256:
        return source.sha256.lower(), "published"
    entry = read_lock(data_dir).get(source.relpath)
    if entry and entry.get("sha256"):
        return entry["sha256"], "lock file"
    return None, "none yet"


# ---------------------------------------------------------------------------------------------------------------
# state of a source on disk


@dataclass
class SourceState:
    source: Source
    path: Path
    status: str  # "ok" | "missing" | "local copy" | "unverified" | "mismatch"
    detail: str = ""


def check(source: Source, data_dir: Path, verify: bool = True) -> SourceState:
    """Is ``source`` present under ``data_dir``? With ``verify`` its sha256 is compared to the expected one."""
    data_dir = Path(data_dir)
    path = data_dir / source.relpath
    if not path.exists():
        if source.replaces and (data_dir / source.replaces).exists():
            return SourceState(source, data_dir / source.replaces, "local copy",
                               f"{source.replaces} is present (the same data in another format)")
        return SourceState(source, path, "missing")
    if not verify:
        return SourceState(source, path, "ok", "not verified")
    expected, origin = expected_sha256(source, data_dir)
    actual = sha256_file(path)
    if expected is None:
        return SourceState(source, path, "unverified", f"no published hash; sha256 {actual}")
    if actual != expected:
        return SourceState(source, path, "mismatch", f"sha256 {actual}, expected {expected} ({origin})")
    return SourceState(source, path, "ok", f"sha256 verified ({origin})")


# ---------------------------------------------------------------------------------------------------------------
# downloading


def download(source: Source, data_dir: Path, retries: int = 3, timeout: float = 60.0, backoff: float = 1.0,
             progress: Progress | None = None) -> Path:
    """Download ``source`` to ``<data_dir>/<relpath>`` and return that path.

    Connection errors, timeouts, HTTP 5xx/429 and truncated bodies are retried ``retries`` times with
    exponential backoff (``backoff`` s, doubled each time). Raises :class:`OfflineError` when the host was never
    reached, :class:`IntegrityError` when the bytes are wrong (nothing is left behind), :class:`DownloadError`
    otherwise. The file only appears at its path once verified.
    """
    data_dir = Path(data_dir)
    target = data_dir / source.relpath
    url = resolve_url(source.url)
    host = urllib.parse.urlsplit(url).netloc or url
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create {target.parent}: {exc.strerror or exc}; set BENCH_DATA_DIR to a "
                            f"writable folder") from None
    if not os.access(target.parent, os.W_OK):
        raise DownloadError(f"cannot write to {target.parent}; set BENCH_DATA_DIR to a writable folder")
    expected, origin = expected_sha256(source, data_dir)

    reasons: list[str] = []
    reached = False
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            sha, size = _fetch_to(url, target, expected, origin, source, timeout, progress)
        except _Retryable as err:
            reasons.append(str(err))
            reached = reached or not err.unreachable
            continue
        if source.sha256 is None and expected is None:
            _record_lock(data_dir, source, sha, size)
        return target
    last = reasons[-1] if reasons else "unknown error"
    manual = (f"copy the file to {target} manually (from {source.url}"
              + (f", sha256 {expected}" if expected else "") + ")")
    if not reached:
        raise OfflineError(f"cannot reach {host} ({last}): are you offline? {manual}")
    raise DownloadError(f"downloading {url} failed after {retries + 1} attempts ({last}); try again later or "
                        f"{manual}")


def _fetch_to(url: str, target: Path, expected: str | None, origin: str, source: Source, timeout: float,
              progress: Progress | None) -> tuple[str, int]:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        h = hashlib.sha256()
        done = 0
        with os.fdopen(fd, "wb") as out:
            try:
                response = urllib.request.urlopen(request, timeout=timeout)
            except urllib.error.HTTPError as err:
                err.close()
                if err.code >= 500 or err.code in (408, 429):
                    raise _Retryable(f"HTTP {err.code} {err.reason}") from None
                raise DownloadError(f"{url}: HTTP {err.code} {err.reason}") from None
            except urllib.error.URLError as err:
                raise _Retryable(_reason(err.reason), unreachable=True) from None
            except (socket.timeout, TimeoutError, ConnectionError, http.client.HTTPException, OSError) as err:
                raise _Retryable(_reason(err), unreachable=True) from None
            with response:
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                try:
                    for chunk in iter(lambda: response.read(CHUNK), b""):
                        out.write(chunk)
                        h.update(chunk)
                        done += len(chunk)
                        if progress:
                            progress(done, total)
                except (socket.timeout, TimeoutError, ConnectionError, http.client.HTTPException, OSError) as err:
                    raise _Retryable(f"connection lost after {done} bytes: {_reason(err)}") from None
            if total is not None and done != total:
                raise _Retryable(f"truncated: received {done} of {total} bytes")
            out.flush()
            os.fsync(out.fileno())
        actual = h.hexdigest()
        if source.size is not None and done != source.size:
            raise IntegrityError(f"{url}: downloaded {done} bytes, expected {source.size}; the file was rejected "
                                 f"and not saved")
        if expected is not None and actual != expected:
            raise IntegrityError(f"{url}: sha256 mismatch: expected {expected} ({origin}), got {actual}; the "
                                 f"file was rejected and not saved to {target}")
        if source.member is not None or target.name.endswith(".zip"):
            _check_zip(Path(tmp), source, url)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; give it the usual permissions
        os.replace(tmp, target)
        return actual, done
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _check_zip(path: Path, source: Source, url: str) -> None:
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
            names = z.namelist()
    except zipfile.BadZipFile as exc:
        raise IntegrityError(f"{url}: not a valid zip archive ({exc}); the file was rejected and not saved") from None
    if bad is not None:
        raise IntegrityError(f"{url}: zip member {bad} is corrupt; the file was rejected and not saved")
    if source.member is not None and source.member not in names:
        raise IntegrityError(f"{url}: the zip holds {', '.join(names) or 'nothing'}, not {source.member}; the file "
                             f"was rejected and not saved")


def _reason(reason) -> str:
    if isinstance(reason, BaseException):
        text = getattr(reason, "strerror", None) or str(reason) or type(reason).__name__
        return text
    return str(reason)


# ---------------------------------------------------------------------------------------------------------------
# tasks


@dataclass
class FetchResult:
    source: Source
    path: Path
    action: str  # "downloaded" | "present" | "local copy"
    detail: str = ""


def fetch_task(task, data_dir: Path, retries: int = 3, timeout: float = 60.0, backoff: float = 1.0,
               force: bool = False, progress_factory: Callable[[Source], Progress | None] | None = None
               ) -> list[FetchResult]:
    """Download every :class:`Source` of ``task`` that is not already present with the right hash."""
    if not task.sources:
        raise DownloadError(f"task {task.name!r} declares no download source; its files "
                            f"({', '.join(task.files)}) must be provided locally (see BENCH_DATA_DIR)")
    results = []
    for source in task.sources:
        state = check(source, data_dir)
        if not force and state.status in ("ok", "local copy"):
            results.append(FetchResult(source, state.path, "present" if state.status == "ok" else "local copy",
                                       state.detail))
            continue
        if not force and state.status == "unverified":
            # A file the user placed there before any download: trust it now and record its hash.
            actual = sha256_file(state.path)
            _record_lock(Path(data_dir), source, actual, state.path.stat().st_size)
            results.append(FetchResult(source, state.path, "present", f"trusted on first use, sha256 {actual}"))
            continue
        progress = progress_factory(source) if progress_factory else None
        path = download(source, data_dir, retries=retries, timeout=timeout, backoff=backoff, progress=progress)
        detail = "replaced a file with the wrong hash" if state.status == "mismatch" else ""
        results.append(FetchResult(source, path, "downloaded", detail))
    return results
