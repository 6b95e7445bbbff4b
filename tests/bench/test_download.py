"""`bench data fetch` against a local HTTP server (127.0.0.1) serving copies of the shared files: never the
real URLs. ``$BENCH_DOWNLOAD_MIRROR`` points every upstream URL at the server."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import zipfile
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench.download import (LOCK_FILE, MIRROR_ENV, DownloadError, IntegrityError, OfflineError, check, download,
                            fetch_task, read_lock, resolve_url)
from tasks import Task
from tasks.data import Source

PIEZO = "raw/matminer_v0.4.0/piezoelectric_tensor.csv.gz"
DFT3D_MEMBER = "jdft_3d-12-12-2022.json"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Handler(SimpleHTTPRequestHandler):
    """Static files, plus ``/flaky/<n>/<file>``: HTTP 500 for the first n requests of that path, then the file."""

    counts: dict[str, int]

    def do_GET(self):
        self.counts[self.path] = self.counts.get(self.path, 0) + 1
        parts = self.path.split("/")
        if len(parts) > 3 and parts[1] == "flaky":
            if self.counts[self.path] <= int(parts[2]):
                self.send_error(500, "flaky server")
                return
            self.path = "/" + "/".join(parts[3:])
        return super().do_GET()

    def log_message(self, *args):  # keep test output clean
        pass


@pytest.fixture
def server(tmp_path, data_dir):
    root = tmp_path / "www"
    (root / "files").mkdir(parents=True)
    good = (data_dir / PIEZO).read_bytes()
    (root / "files" / "13220621").write_bytes(good)
    corrupt = bytearray(good)
    corrupt[len(corrupt) // 2] ^= 0xFF
    (root / "files" / "corrupt").write_bytes(bytes(corrupt))
    shutil.copy(data_dir / "raw/jarvis_ijarvis/dft2d.json.zip", root / "files" / "dft2d.zip")
    (root / "files" / "notazip").write_bytes(good)
    counts: dict[str, int] = {}
    handler = type("Handler", (_Handler,), {"counts": counts})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"url": f"http://127.0.0.1:{httpd.server_address[1]}", "root": root, "good": good, "counts": counts}
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def mirror(server, monkeypatch):
    monkeypatch.setenv(MIRROR_ENV, server["url"])
    return server


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.startswith(".") or p.name.endswith(".part"))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_mirror_replaces_scheme_and_host(monkeypatch):
    monkeypatch.setenv(MIRROR_ENV, "http://127.0.0.1:9/mirror/")
    assert resolve_url("https://ndownloader.figshare.com/files/13220621") == "http://127.0.0.1:9/mirror/files/13220621"
    monkeypatch.delenv(MIRROR_ENV)
    assert resolve_url("https://ml.materialsproject.org/projects/x.json.gz").startswith("https://ml.materialsproject")


def test_good_file_is_verified_and_lands_at_its_relpath(mirror, tmp_path):
    data = tmp_path / "data"
    src = Source("https://ndownloader.figshare.com/files/13220621", "raw/matminer/piezo.json.gz",
                 sha256=_sha(mirror["good"]), size=len(mirror["good"]))
    seen = []
    path = download(src, data, backoff=0, progress=lambda done, total: seen.append((done, total)))
    assert path == data / "raw/matminer/piezo.json.gz"
    assert path.read_bytes() == mirror["good"]
    assert seen[-1] == (len(mirror["good"]), len(mirror["good"]))
    assert _leftovers(data) == []
    assert check(src, data).status == "ok"


def test_corrupted_file_is_rejected_and_nothing_is_left(mirror, tmp_path):
    data = tmp_path / "data"
    good_hash = _sha(mirror["good"])
    bad_hash = _sha((mirror["root"] / "files" / "corrupt").read_bytes())
    src = Source("https://ndownloader.figshare.com/files/corrupt", "raw/piezo.json.gz", sha256=good_hash)
    with pytest.raises(IntegrityError) as err:
        download(src, data, backoff=0)
    msg = str(err.value)
    assert good_hash in msg and bad_hash in msg and "mismatch" in msg
    assert not (data / "raw/piezo.json.gz").exists()
    assert _leftovers(data) == []
    assert mirror["counts"]["/files/corrupt"] == 1  # a wrong hash is not retried


def test_server_errors_are_retried(mirror, tmp_path):
    src = Source("https://example.org/flaky/2/files/13220621", "f.gz", sha256=_sha(mirror["good"]))
    path = download(src, tmp_path, retries=3, backoff=0)
    assert path.read_bytes() == mirror["good"]
    assert mirror["counts"]["/flaky/2/files/13220621"] == 3


def test_persistent_server_errors_give_up_with_a_clear_error(mirror, tmp_path):
    src = Source("https://example.org/flaky/9/files/13220621", "f.gz", sha256=_sha(mirror["good"]))
    with pytest.raises(DownloadError) as err:
        download(src, tmp_path, retries=2, backoff=0)
    assert not isinstance(err.value, OfflineError)
    assert "after 3 attempts" in str(err.value) and "HTTP 500" in str(err.value)
    assert not (tmp_path / "f.gz").exists() and _leftovers(tmp_path) == []


def test_missing_file_is_not_retried(mirror, tmp_path):
    src = Source("https://example.org/files/nope", "f.gz", sha256="0" * 64)
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(src, tmp_path, retries=3, backoff=0)
    assert mirror["counts"]["/files/nope"] == 1


def test_unreachable_host_says_offline(monkeypatch, tmp_path):
    monkeypatch.setenv(MIRROR_ENV, f"http://127.0.0.1:{_closed_port()}")
    src = Source("https://ndownloader.figshare.com/files/13220621", "raw/x.json.gz", sha256="0" * 64)
    with pytest.raises(OfflineError) as err:
        download(src, tmp_path, retries=1, backoff=0, timeout=5)
    msg = str(err.value)
    assert "cannot reach 127.0.0.1" in msg and "are you offline?" in msg
    assert f"copy the file to {tmp_path / 'raw/x.json.gz'} manually" in msg
    assert not (tmp_path / "raw/x.json.gz").exists() and _leftovers(tmp_path) == []


def test_zip_without_hash_is_trusted_on_first_use(mirror, tmp_path):
    src = Source("https://ndownloader.figshare.com/files/dft2d.zip", "raw/jarvis/d2.json.zip", member="dft2d.json")
    path = download(src, tmp_path, backoff=0)
    expected = _sha(path.read_bytes())
    assert read_lock(tmp_path)[src.relpath]["sha256"] == expected
    assert check(src, tmp_path).detail.startswith("sha256 verified (lock file)")
    # upstream changes: the recorded hash now rejects it
    shutil.copy(mirror["root"] / "files" / "13220621", mirror["root"] / "files" / "dft2d.zip")
    with pytest.raises(IntegrityError, match=expected):
        download(src, tmp_path, backoff=0)
    assert _sha(path.read_bytes()) == expected  # the verified file is untouched


def test_zip_is_checked(mirror, tmp_path):
    src = Source("https://ndownloader.figshare.com/files/notazip", "raw/j.json.zip", member="j.json")
    with pytest.raises(IntegrityError, match="not a valid zip"):
        download(src, tmp_path, backoff=0)
    wrong_member = Source("https://ndownloader.figshare.com/files/dft2d.zip", "raw/j.json.zip", member="other.json")
    with pytest.raises(IntegrityError, match="not other.json"):
        download(wrong_member, tmp_path, backoff=0)
    assert not (tmp_path / "raw/j.json.zip").exists() and not (tmp_path / LOCK_FILE).exists()


def test_fetch_skips_verified_files(mirror, tmp_path):
    src = Source("https://ndownloader.figshare.com/files/13220621", "raw/p.csv.gz", sha256=_sha(mirror["good"]))
    task = Task(name="t", description="", target="eij_max", units="", files=("raw/p.csv.gz",), loader=None,
                sources=(src,))
    assert [r.action for r in fetch_task(task, tmp_path, backoff=0)] == ["downloaded"]
    assert [r.action for r in fetch_task(task, tmp_path, backoff=0)] == ["present"]
    assert mirror["counts"]["/files/13220621"] == 1
    (tmp_path / "raw/p.csv.gz").write_bytes(b"edited")
    assert [r.action for r in fetch_task(task, tmp_path, backoff=0)] == ["downloaded"]
    assert (tmp_path / "raw/p.csv.gz").read_bytes() == mirror["good"]


def test_download_replaces_a_missing_local_copy(mirror, tmp_path):
    """A Source that ``replaces`` a local file: Task.paths uses the download only when the local file is absent."""
    src = Source("https://ndownloader.figshare.com/files/13220621", "raw/up.json.gz", sha256=_sha(mirror["good"]),
                 replaces="raw/local.csv.gz")
    task = Task(name="t", description="", target="x", units="", files=("raw/local.csv.gz",), loader=None,
                sources=(src,))
    with pytest.raises(FileNotFoundError, match="bench data fetch t"):
        task.load(tmp_path)
    fetch_task(task, tmp_path, backoff=0)
    assert task.paths(tmp_path) == [tmp_path / "raw/up.json.gz"]
    (tmp_path / "raw/local.csv.gz").write_bytes(b"local")
    assert task.paths(tmp_path) == [tmp_path / "raw/local.csv.gz"]
    local_only = tmp_path / "local-only"
    (local_only / "raw").mkdir(parents=True)
    (local_only / "raw/local.csv.gz").write_bytes(b"local")
    assert [r.action for r in fetch_task(task, local_only, backoff=0)] == ["local copy"]  # nothing downloaded
    assert mirror["counts"]["/files/13220621"] == 1


# ---------------------------------------------------------------------------------------------------------------
# the command


def _bench(*args, env):
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


def _dft3d_zip() -> bytes:
    entries = [{"jid": "JVASP-1", "atoms": {"lattice_mat": [[3, 0, 0], [0, 3, 0], [0, 0, 3]], "coords": [[0, 0, 0]],
                                            "elements": ["Po"], "cartesian": False},
                "formation_energy_peratom": 0.1, "optb88vdw_bandgap": "na", "mbj_bandgap": "na"}]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(DFT3D_MEMBER, json.dumps(entries))
    return buf.getvalue()


def test_cli_fetch_through_mirror(server, tmp_path):
    served = _dft3d_zip()
    (server["root"] / "files" / "38521619").write_bytes(served)
    data = tmp_path / "data"
    env = {MIRROR_ENV: server["url"], "BENCH_DATA_DIR": str(data)}
    proc = _bench("data", "fetch", "dft3d-formation-energy", "dft3d-mbj-gap", env=env)
    assert proc.returncode == 0, proc.stderr
    target = data / "raw/jarvis" / f"{DFT3D_MEMBER}.zip"
    assert target.read_bytes() == served
    assert "downloaded" in proc.stderr and "present" in proc.stderr  # the second task shares the file
    assert server["counts"]["/files/38521619"] == 1
    assert json.loads((data / LOCK_FILE).read_text())[f"raw/jarvis/{DFT3D_MEMBER}.zip"]["sha256"] == _sha(served)


def test_cli_rejects_a_corrupted_download(server, tmp_path):
    # the mirror serves something that is not the published matbench file
    (server["root"] / "projects").mkdir()
    shutil.copy(server["root"] / "files" / "corrupt", server["root"] / "projects" / "matbench_mp_gap.json.gz")
    data = tmp_path / "data"
    proc = _bench("data", "fetch", "mp-gap", env={MIRROR_ENV: server["url"], "BENCH_DATA_DIR": str(data)})
    assert proc.returncode == 1
    err = "".join(proc.stderr.split())
    assert "sha256mismatch" in err and "58b65746bd88329986ed66031a2ac1369c7c522f7bc9f9081528e07097c2c057" in err
    assert "Traceback" not in proc.stderr
    assert not (data / "raw/matbench_v0.1/matbench_mp_gap.json.gz").exists()
    assert _leftovers(data) == []


def test_cli_offline_message(tmp_path):
    env = {MIRROR_ENV: f"http://127.0.0.1:{_closed_port()}", "BENCH_DATA_DIR": str(tmp_path)}
    proc = _bench("data", "fetch", "mp-e-form", "--retries", "0", env=env)
    assert proc.returncode == 1
    err = " ".join(proc.stderr.split())
    assert "are you offline?" in err and "copy the file to" in err and "Traceback" not in proc.stderr


def test_cli_unknown_task_and_task_without_source(tmp_path):
    env = {"BENCH_DATA_DIR": str(tmp_path)}
    proc = _bench("data", "fetch", "nope", env=env)
    assert proc.returncode == 2 and "unknown task 'nope'" in proc.stderr and "mp-e-form" in proc.stderr
    from tasks import all_tasks

    local = next(name for name, t in all_tasks().items() if not t.sources)
    proc = _bench("data", "fetch", local, env=env)
    assert proc.returncode == 1 and "declares no download source" in proc.stderr
