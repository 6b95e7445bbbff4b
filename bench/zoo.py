"""The model zoo: pre-trained trunks that ship with the package, each with its card, found by cache key.

A trunk is identified by its pre-training cache key (``bench.pretrain.cache_key``: sources, data hashes, PT size,
budget, seed, backbone, the excluded test sets, the code's pre-training version). The zoo's manifest
(``bench/data/zoo/manifest.json``) lists, per trunk: its name, that key, the default commands it serves (``serves``:
the ``bench run`` options whose pre-training request has exactly that key), and its two files with sha256 and size.
``bench.pretrain.pretrained_model`` asks :func:`find` before training: a request whose key is a shipped trunk's loads
that trunk (verified here: file sha256 against the manifest, then the file's own content hash and cache key, then
the card's) and never trains; a trunk that fails verification is refused, not silently replaced by a new training.

Shipped files are only read, never written (a user cache lives in ``<cache>/pretrained/<key>/``). An online user can
also ``bench models fetch NAME``: the files are downloaded from ``<base url>/<name>/{model.pt,card.json}`` (the
manifest's ``base_url``, ``--url``, or ``$BENCH_ZOO_URL``), sha256-checked, and placed in the user cache, where the
ordinary cache lookup finds them.

``bench models add`` (maintainers) copies a trunk from the user cache into the zoo and records it; the test
``tests/bench/test_zoo.py`` recomputes every shipped trunk's key from its ``serves`` commands, so a change to the
quick budget, the graph or the pre-training code that would change what the default commands request fails there
instead of leaving a stale trunk that no command uses.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
FILES = ("model.pt", "card.json")
URL_ENV = "BENCH_ZOO_URL"
NO_ZOO_ENV = "BENCH_NO_ZOO"  # "1": never use shipped trunks (pre-train locally, e.g. to reproduce one)


class ZooError(ValueError):
    """A zoo request that cannot be honoured (unknown name, damaged manifest); the message says what to do."""


@dataclass(frozen=True)
class Entry:
    name: str
    key: str
    serves: tuple[dict[str, Any], ...]  # bench run options (task, strategy, pt_source, ...) that request ``key``
    files: dict[str, dict[str, Any]]  # file name -> {"sha256", "size"}
    summary: str = ""
    shipped: bool = True  # False: listed for `bench models fetch` only
    extra: dict[str, Any] = field(default_factory=dict)

    def folder(self, root: Path | None = None) -> Path:
        return (root or zoo_dir()) / self.name

    def commands(self) -> list[str]:
        return [command_line(s) for s in self.serves]


def zoo_dir() -> Path:
    return Path(__file__).resolve().parent / "data" / "zoo"


def command_line(options: dict[str, Any]) -> str:
    parts = ["bench run"]
    for k, v in options.items():
        parts.append(f"--{k.replace('_', '-')} {v}")
    return " ".join(parts)


def read_manifest(root: Path | None = None) -> dict[str, Any]:
    path = (root or zoo_dir()) / MANIFEST
    if not path.exists():
        return {"base_url": None, "trunks": []}
    try:
        blob = json.loads(path.read_text())
        blob["trunks"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ZooError(f"{path}: unreadable zoo manifest ({err}); restore it with `git checkout {path}` or "
                       f"reinstall the package") from None
    return blob


def entries(root: Path | None = None) -> list[Entry]:
    out = []
    for k, t in enumerate(read_manifest(root)["trunks"]):
        try:
            out.append(Entry(t["name"], t["key"], tuple(t["serves"]), dict(t["files"]), t.get("summary", ""),
                             bool(t.get("shipped", True)),
                             {x: v for x, v in t.items() if x not in Entry.__dataclass_fields__}))
        except (KeyError, TypeError) as err:
            raise ZooError(f"{(root or zoo_dir()) / MANIFEST}: trunk entry {k} lacks {err}") from None
    return out


def get(name: str, root: Path | None = None) -> Entry:
    found = {e.name: e for e in entries(root)}
    if name not in found:
        raise ZooError(f"no trunk named {name!r} in the model zoo; `bench models` lists them: "
                       f"{', '.join(found) or 'none'}")
    return found[name]


def find(key: str, root: Path | None = None) -> Entry | None:
    """The shipped trunk with cache key ``key`` whose files are present, if any (and the zoo is not disabled)."""
    if os.environ.get(NO_ZOO_ENV, "").strip() not in ("", "0"):
        return None
    for e in entries(root):
        if e.key == key and e.shipped and (e.folder(root) / "model.pt").exists():
            return e
    return None


def verify_files(entry: Entry, folder: Path) -> None:
    """Each file's size and sha256 against the manifest; raises ``ArtifactError`` naming the file."""
    from bench.artifacts import CorruptArtifactError
    from bench.download import sha256_file

    remedy = (f"the zoo's copy of {entry.name} is damaged or was edited: restore it (`git checkout {folder}`, "
              f"reinstall, or `bench models fetch {entry.name}`), or set {NO_ZOO_ENV}=1 to pre-train locally")
    for name in FILES:
        want, path = entry.files.get(name), folder / name
        if want is None:
            raise CorruptArtifactError(path, f"is not listed for {entry.name} in the zoo manifest", remedy)
        if not path.exists():
            raise CorruptArtifactError(path, "is missing", remedy)
        size = path.stat().st_size
        if size != want["size"]:
            raise CorruptArtifactError(path, f"has {size} bytes, the manifest says {want['size']}", remedy)
        got = sha256_file(path)
        if got != want["sha256"]:
            raise CorruptArtifactError(path, f"sha256 {got} differs from the manifest's {want['sha256']}", remedy)


def load(entry: Entry, device: str = "cpu", root: Path | None = None):
    """``(model, card)`` of a shipped trunk, verified three ways: the files against the manifest, the model
    file's content hash and cache key, the card's content hash and key. Raises ``ArtifactError``."""
    from bench.artifacts import read_json, verify_json
    from bench.checkpoint import load_model

    folder = entry.folder(root)
    verify_files(entry, folder)
    identity = {"cache_key": entry.key}
    remedy = f"restore the zoo's copy of {entry.name} or set {NO_ZOO_ENV}=1 to pre-train locally"
    card = read_json(folder / "card.json", remedy)
    verify_json(folder / "card.json", card, identity, remedy)
    model, _, _ = load_model(folder / "model.pt", device, identity, remedy)
    return model, {**card, "zoo": {"name": entry.name, "sha256": entry.files["model.pt"]["sha256"]}}


# -- what the default commands request -------------------------------------------------------------------
def requested_key(options: dict[str, Any], data_dir: Path | None = None) -> str:
    """The pre-training cache key ``bench run`` with ``options`` (task, strategy, pt_source, mpt_sources,
    pt_size, budget, seed, backbone) asks for: the same resolution as a run, without loading its data."""
    from bench import paths
    from bench.pretrain import cache_key
    from bench.run import resolve_config
    from bench.spec import RunSpec
    from bench.strategies import pretrain_spec

    spec = RunSpec(**{k: (tuple(v.split(",")) if k == "mpt_sources" and isinstance(v, str) else v)
                      for k, v in options.items()})
    config = resolve_config(spec.task, spec.strategy, spec.budget, spec.seed, "cpu", spec.epochs, spec.backbone,
                            {"ft_size": spec.ft_size, "trial": spec.trial, "fold": spec.fold}, spec.pretrain,
                            spec.ft_mode, dict(spec.overrides))
    if spec.strategy == "scratch":
        raise ZooError(f"{command_line(options)} pre-trains nothing")
    return cache_key(pretrain_spec(config), data_dir or paths.data_dir())


# -- fetching and adding -----------------------------------------------------------------------------------
def fetch(name: str, base_url: str | None = None, root: Path | None = None) -> Path:
    """Download trunk ``name`` into the user cache (``<cache>/pretrained/<key>/``), sha256-checked; returns the
    folder. Files already there and intact are kept."""
    from bench import paths
    from bench.download import download, sha256_file
    from tasks.data import Source

    entry = get(name, root)
    base = base_url or os.environ.get(URL_ENV) or read_manifest(root).get("base_url")
    if not base:
        raise ZooError(f"no download address for {name}: this zoo's manifest names no base_url; give "
                       f"--url BASE (or set {URL_ENV}) to the address that serves {name}/model.pt")
    cache = paths.cache_dir()
    rel = Path("pretrained") / entry.key
    for fname in ("card.json", "model.pt"):  # model.pt last: its presence marks a complete cache entry
        want = entry.files[fname]
        target = cache / rel / fname
        if target.exists() and sha256_file(target) == want["sha256"]:
            continue
        download(Source(url=f"{base.rstrip('/')}/{name}/{fname}", relpath=str(rel / fname),
                        sha256=want["sha256"], size=want["size"]), cache)
    return cache / rel


def add(name: str, options: list[dict[str, Any]], summary: str = "", root: Path | None = None,
        cache: Path | None = None) -> Entry:
    """Copy the cached trunk that ``options[0]`` requests into the zoo as ``name`` (maintainers; the trunk must
    have been pre-trained first: ``bench run`` with those options, or ``bench pretrain``). Every entry of
    ``options`` must request the same key. The cache entry is verified before it is copied."""
    from bench import paths
    from bench.artifacts import read_json, verify_json
    from bench.checkpoint import load_model
    from bench.download import sha256_file

    root = root or zoo_dir()
    keys = {requested_key(o) for o in options}
    if len(keys) != 1:
        raise ZooError(f"the commands given for {name} request different trunks ({', '.join(sorted(keys))})")
    key = keys.pop()
    source = (cache or paths.cache_dir()) / "pretrained" / key
    if not (source / "model.pt").exists():
        raise ZooError(f"trunk {key} for `{command_line(options[0])}` is not in the cache ({source}); "
                       f"run that command first")
    card = read_json(source / "card.json")
    verify_json(source / "card.json", card, {"cache_key": key})
    load_model(source / "model.pt", "cpu", {"cache_key": key})
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    for fname in FILES:
        shutil.copyfile(source / fname, folder / fname)
    blob = read_manifest(root)
    trunks = [t for t in blob["trunks"] if t["name"] != name]
    trunks.append({"name": name, "key": key, "summary": summary, "serves": options, "shipped": True,
                   "files": {f: {"sha256": sha256_file(folder / f), "size": (folder / f).stat().st_size}
                             for f in FILES}})
    blob["trunks"] = sorted(trunks, key=lambda t: t["name"])
    (root / MANIFEST).write_text(json.dumps(blob, indent=2) + "\n")
    return get(name, root)
