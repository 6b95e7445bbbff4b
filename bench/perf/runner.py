"""``bench perf``: ours against upstream alignn on the same real structures, in one run.

Each side runs in a subprocess of its own (ours: this interpreter; the peer: upstream alignn's environment), so
that peak RSS is each side's own and neither side's imports slow the other. The parent alternates the two
workers phase by phase (graph building, training, inference: one pass of one side, then one pass of the other,
the order flipped every round), and every figure is the minimum over rounds of the same work, so load from
other processes on the machine inflates neither side's figure more than the other's. Ratios are reported so
that > 1 means ours is better.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.perf import flops as flopmod

ALLOCATORS = ("auto", "system", "tcmalloc", "jemalloc")
JEMALLOC_CONF = "background_thread:true,dirty_decay_ms:10000,muzzy_decay_ms:10000"  # as bench.allocator sets it
BUILD_CHUNK = 8  # structures per build request (the sides alternate between requests)
GEMM_SHAPES = ([1024, 1024, 1024], [2048, 1024, 1024], [8192, 256, 256])  # square: the peak; rows x 256 x 256: the model's shape


@dataclass
class PerfConfig:
    structures: int = 64
    batch_size: int | None = None  # None: each size's budget batch (bench.perf.sizes)
    size: str = "paper"  # paper | quick | both (bench.perf.sizes.CHOICES)
    threads: int = 2
    rounds: int = 3  # timed passes per side and phase (min over them is reported)
    peer: bool = True
    allocator: str = "auto"  # for both sides
    peer_python: str | None = None
    install_peer: bool = True
    variant: str = "baseline"  # ours: a bench.perf.variants name
    builder: str = "baseline"  # ours: bench.perf.variants.BUILDERS
    data_dir: str | None = None
    seed: int = 0


class WorkerError(RuntimeError):
    pass


def allocator_env(choice: str) -> dict:
    """Environment entries that preload ``choice`` (``auto``: what ``bench`` itself would use)."""
    from bench.allocator import CANDIDATES, find_allocator

    if choice == "system":
        return {"LD_PRELOAD": ""}
    if choice == "auto":
        pref = os.environ.get("BENCH_ALLOCATOR", "tcmalloc")
        if pref == "system":
            return {"LD_PRELOAD": ""}
        lib = find_allocator(pref)
    else:
        if choice not in CANDIDATES:
            raise ValueError(f"unknown allocator {choice!r}; use one of {', '.join(ALLOCATORS)}")
        lib = find_allocator(choice)
        if lib is None or choice not in lib:
            raise ValueError(f"{choice} is not installed")
    if lib is None:
        return {"LD_PRELOAD": ""}
    env = {"LD_PRELOAD": lib}
    if "jemalloc" in lib:
        env["MALLOC_CONF"] = os.environ.get("MALLOC_CONF", JEMALLOC_CONF)
    return env


def allocator_name(env: dict) -> str:
    lib = env.get("LD_PRELOAD", "")
    return "tcmalloc" if "tcmalloc" in lib else "jemalloc" if "jemalloc" in lib else "glibc"


class WorkerProcess:
    """A measurement worker: JSON requests on stdin, JSON replies on stdout, stderr to a log file."""

    def __init__(self, name: str, argv: list[str], env: dict, log_dir: Path):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
                                     text=True, env=env, bufsize=1)

    def call(self, cmd: str, **kwargs) -> dict:
        try:
            self.proc.stdin.write(json.dumps({"cmd": cmd, **kwargs}) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=30)
            raise WorkerError(f"{self.name} worker exited ({self.proc.returncode}) during {cmd!r}:\n{self.log_tail()}")
        reply = json.loads(line)
        if not reply.pop("ok"):
            raise WorkerError(f"{self.name} worker failed in {cmd!r}:\n{reply['error']}")
        return reply

    def log_tail(self, chars: int = 3000) -> str:
        self._log.flush()
        try:
            return self.log_path.read_text()[-chars:]
        except OSError:
            return ""

    def close(self) -> dict:
        try:
            final = self.call("quit") if self.proc.poll() is None else {}
        except WorkerError:
            final = {}
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()
        return final


def _base_env(threads: int, alloc: dict) -> dict:
    env = dict(os.environ)
    env.update({"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "_BENCH_REEXEC": "1",
                "PYTHONWARNINGS": "ignore"})
    env.pop("MALLOC_CONF", None)
    env.update(alloc)
    if not env.get("LD_PRELOAD"):
        env.pop("LD_PRELOAD", None)
    return env


def start_ours(log_dir: Path, threads: int, alloc: dict, name: str = "ours") -> WorkerProcess:
    env = _base_env(threads, alloc)
    repo = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [repo, env.get("PYTHONPATH")]))
    return WorkerProcess(name, [sys.executable, "-m", "bench.perf.worker_ours"], env, log_dir)


def start_peer(python: Path, log_dir: Path, threads: int, alloc: dict) -> WorkerProcess:
    env = _base_env(threads, alloc)
    for key in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
        env.pop(key, None)
    script = str(Path(__file__).resolve().parent / "worker_peer.py")
    return WorkerProcess("peer", [str(python), script], env, log_dir)


def _min_over_rounds(rounds: list[list]) -> list:
    """Element-wise minimum over rounds of equally long lists (of numbers or of equally long rows)."""
    out = []
    for items in zip(*rounds):
        out.append([min(col) for col in zip(*items)] if isinstance(items[0], list) else min(items))
    return out


def edge_parity(ours: list[list[list[int]]], peer: list[list[list[int]]], ids: list[str]) -> dict:
    """Multiset equality of directed ``(i, j, image)`` edges per structure."""
    mismatches = []
    for k, (a, b) in enumerate(zip(ours, peer)):
        ca, cb = Counter(map(tuple, a)), Counter(map(tuple, b))
        if ca != cb:
            only_ours, only_peer = ca - cb, cb - ca
            mismatches.append({"index": k, "id": ids[k], "ours": len(a), "peer": len(b),
                               "only_ours": sum(only_ours.values()), "only_peer": sum(only_peer.values()),
                               "examples_only_ours": [list(e) for e in list(only_ours)[:5]],
                               "examples_only_peer": [list(e) for e in list(only_peer)[:5]],
                               "only_ours_edges": [list(e) for e in only_ours.elements()],
                               "only_peer_edges": [list(e) for e in only_peer.elements()]})
    return {"structures": len(ours), "identical": len(ours) - len(mismatches), "mismatches": mismatches,
            "edges_compared": int(sum(len(a) for a in ours))}


def classify_ties(mismatches: list[dict], data: dict, tolerance: float = 1e-5) -> None:
    """For each mismatching structure, count differing edges whose length lies within ``tolerance`` of the
    k-th neighbour distance of its end atoms (a tie that exact comparison and our 1e-5 Å rule decide apart)."""
    import numpy as np
    from pymatgen.core import Structure

    for m in mismatches:
        s = Structure.from_dict(data["structures"][m["index"]]["pymatgen"])
        from bench.graphs.neighbors import knn_within_cutoff, periodic_neighbors

        _, _, _, cutoff = knn_within_cutoff(s)
        center, _, _, dist = periodic_neighbors(s, cutoff)
        kth = np.array([np.sort(dist[center == i])[11] for i in range(len(s))])
        lat = s.lattice.matrix
        ties = 0
        differing = m["only_ours_edges"] + m["only_peer_edges"]
        for e in differing:
            i, j, n = e[0], e[1], np.array(e[2:])
            d = np.linalg.norm(s.cart_coords[j] + n @ lat - s.cart_coords[i])
            ties += int(min(abs(d - kth[i]), abs(d - kth[j])) <= tolerance)
        m["differing_at_tie"] = ties
        m["differing"] = len(differing)


def _batch(cfg: PerfConfig, size) -> int:
    return cfg.batch_size or size.batch_size


def _train_and_infer(workers: dict, sides: list[str], each, cfg: PerfConfig, size, log) -> dict:
    """Training steps and inference batches of both sides at one model ``size``: raw timings per round."""
    bs = _batch(cfg, size)
    out: dict = {"batch_size": bs, "sides": {s: {} for s in sides}}
    for s in sides:
        options = {"alignn": size.alignn_kwargs(), **({"variant": cfg.variant} if s == "ours" else {})}
        out["sides"][s]["prepare"] = workers[s].call("prepare", batch_size=bs, seed=cfg.seed, options=options)
    nb = len(out["sides"]["ours"]["prepare"]["batch_sizes"])
    out["flop_check"] = workers["ours"].call("flopcount", batch=0)
    log(f"training: {nb} batches of {bs} x (1 warm-up step + {cfg.rounds} rounds) per side, "
        "alternating sides every step")
    for s in sides:
        workers[s].call("train", batches=[0])  # warm-up step
    train = {s: [[None] * nb for _ in range(cfg.rounds)] for s in sides}
    losses = {s: [[None] * nb for _ in range(cfg.rounds)] for s in sides}
    for r in range(cfg.rounds):
        for b in range(nb):
            for s in each(r + b):
                reply = workers[s].call("train", batches=[b])
                train[s][r][b] = reply["times"][0]
                losses[s][r][b] = reply["losses"][0]
    log(f"inference: {cfg.rounds} rounds per side")
    infer = {s: [[None] * nb for _ in range(cfg.rounds)] for s in sides}
    for r in range(cfg.rounds):
        for b in range(nb):
            for s in each(r + b):
                infer[s][r][b] = workers[s].call("infer", batches=[b])["times"][0]
    out["raw"] = {"train": train, "losses": losses, "infer": infer}
    return out


def _aggregate(res: dict, cell: dict, size, sides: list[str], peak: float) -> None:
    """Minima over rounds, FLOP fractions and ratios of one size's timings (``cell``), in place."""
    shape = size.shape
    n = res["structures"]["n"]
    raw = cell.pop("raw")
    batch_sizes = cell["sides"]["ours"]["prepare"]["batch_sizes"]
    nb = len(batch_sizes)
    for s in sides:
        side = cell["sides"][s]
        bflops = flopmod.batch_flops(res["sides"][s]["build"]["counts"], batch_sizes, shape)
        tr = _min_over_rounds(raw["train"][s])  # per batch [wall, forward, backward, optimizer, cpu]
        epoch = sum(row[0] for row in tr)
        inf = _min_over_rounds(raw["infer"][s])  # per batch [wall, cpu]
        inf_total = sum(w for w, _ in inf)
        train_flops = sum(b["train"] for b in bflops)
        inf_flops = sum(b["inference"] for b in bflops)
        side["train"] = {"per_batch_s": tr, "epoch_s": epoch, "step_s": epoch / nb,
                         "cpu_epoch_s": sum(row[4] for row in tr),
                         "structures_per_s": n / epoch, "steps_per_s": nb / epoch,
                         "forward_s": sum(r[1] for r in tr), "backward_s": sum(r[2] for r in tr),
                         "optimizer_s": sum(r[3] for r in tr),
                         "rounds_epoch_s": [sum(row[0] for row in x) for x in raw["train"][s]],
                         "losses": raw["losses"][s],
                         "flops": train_flops, "flops_per_structure": train_flops / n,
                         "achieved_flops_per_s": train_flops / epoch, "flop_fraction": train_flops / epoch / peak}
        side["infer"] = {"per_batch_s": inf, "total_s": inf_total, "cpu_total_s": sum(c for _, c in inf),
                         "structures_per_s": n / inf_total, "flops": inf_flops,
                         "achieved_flops_per_s": inf_flops / inf_total, "flop_fraction": inf_flops / inf_total / peak}
        side["params"] = side["prepare"]["params"]
    b0 = flopmod.batch_flops(res["sides"]["ours"]["build"]["counts"], batch_sizes, shape)[0]
    cell["flop_check"].update({"analytic_forward": b0["forward"], "analytic_backward": b0["backward"]})
    if "peer" in sides:
        o, p = cell["sides"]["ours"], cell["sides"]["peer"]
        # per unit of work (GEMM FLOPs): the two builders may keep different edges at exact ties
        work = o["train"]["flops"] / p["train"]["flops"]
        cell["ratios"] = {
            "train_step": p["train"]["epoch_s"] / o["train"]["epoch_s"],
            "train_step_cpu": p["train"]["cpu_epoch_s"] / o["train"]["cpu_epoch_s"],
            "train_step_per_flop": p["train"]["epoch_s"] / o["train"]["epoch_s"] * work,
            "inference": o["infer"]["structures_per_s"] / p["infer"]["structures_per_s"],
            "inference_cpu": p["infer"]["cpu_total_s"] / o["infer"]["cpu_total_s"],
            "inference_per_flop": o["infer"]["structures_per_s"] / p["infer"]["structures_per_s"] * work,
        }


def run_perf(cfg: PerfConfig, log=print) -> dict:
    """Run the comparison; returns the results dictionary (what ``--json`` writes)."""
    from bench.perf.data import load_structures
    from bench.perf.sizes import sizes_for

    t_start = time.perf_counter()
    sizes = sizes_for(cfg.size)
    data = load_structures(cfg.structures, Path(cfg.data_dir) if cfg.data_dir else None)
    n = len(data["structures"])
    alloc = allocator_env(cfg.allocator)
    peer_python = None
    if cfg.peer:
        from bench.perf.peer import ensure_peer

        peer_python = ensure_peer(cfg.peer_python, install=cfg.install_peer, log=log)

    log_dir = Path(tempfile.mkdtemp(prefix="bench-perf-"))
    workers: dict[str, WorkerProcess] = {"ours": start_ours(log_dir, cfg.threads, alloc)}
    if peer_python is not None:
        workers["peer"] = start_peer(peer_python, log_dir, cfg.threads, alloc)
    sides = list(workers)

    def each(r: int):
        """Sides in alternating order: ours first on even rounds, the peer first on odd ones."""
        return sides if r % 2 == 0 else sides[::-1]

    res: dict = {"config": asdict(cfg), "structures": {"n": n, "path": data["path"], "rows": data["rows"],
                                                        "ids": data["ids"],
                                                        "skipped_disordered": data["skipped_disordered"]},
                 "allocator": allocator_name(alloc), "sides": {s: {} for s in sides},
                 "sizes": [z.as_dict() | {"batch_size": _batch(cfg, z)} for z in sizes], "by_size": {},
                 "loadavg_start": os.getloadavg()}
    try:
        for s in sides:
            res["sides"][s]["info"] = workers[s].call("init", structures=data["structures"],
                                                      targets=data["targets"], threads=cfg.threads,
                                                      builder=cfg.builder)
        gemm = [workers["ours"].call("gemm", shapes=GEMM_SHAPES)["results"]]

        # -- graph building ------------------------------------------------------------------------------------
        log(f"graph building: {n} structures x {cfg.rounds} rounds per side")
        chunks = [list(range(i, min(i + BUILD_CHUNK, n))) for i in range(0, n, BUILD_CHUNK)]
        build = {s: [[] for _ in range(cfg.rounds)] for s in sides}
        first = {s: {"edges": [], "counts": []} for s in sides}
        for r in range(cfg.rounds):
            for c, chunk in enumerate(chunks):
                for s in each(r + c):
                    reply = workers[s].call("build", indices=chunk, edges=(r == 0))
                    build[s][r] += reply["times"]
                    if r == 0:
                        first[s]["edges"] += reply["edges"]
                        first[s]["counts"] += reply["counts"]
        for s in sides:
            per = _min_over_rounds(build[s])  # per structure [wall, cpu]
            res["sides"][s]["build"] = {"per_structure_s": per, "mean_s": sum(w for w, _ in per) / n,
                                        "cpu_mean_s": sum(c for _, c in per) / n,
                                        "rounds_total_s": [sum(w for w, _ in x) for x in build[s]],
                                        "counts": first[s]["counts"]}
        if "peer" in sides:
            parity = edge_parity(first["ours"]["edges"], first["peer"]["edges"], data["ids"])
            if parity["mismatches"]:
                classify_ties(parity["mismatches"], data)
                exact = workers["ours"].call("edges_tol", tolerance=0.0)["edges"]
                parity["tolerance_0"] = {k: v for k, v in edge_parity(exact, first["peer"]["edges"], data["ids"]).items()
                                         if k != "mismatches"}
            trip = [a["triplets"] == b["triplets"] for a, b in zip(first["ours"]["counts"], first["peer"]["counts"])]
            parity["triplet_counts_equal"] = int(sum(trip))
            for m in parity["mismatches"]:
                m.pop("only_ours_edges", None), m.pop("only_peer_edges", None)
            res["edge_parity"] = parity
        del first

        for size in sizes:
            log(f"{size.describe()}:")
            res["by_size"][size.name] = _train_and_infer(workers, sides, each, cfg, size, log)
        gemm.append(workers["ours"].call("gemm", shapes=GEMM_SHAPES)["results"])
        collate = workers["ours"].call("rebatch", batch_size=_batch(cfg, sizes[0]), repeats=3)["times"]
    finally:
        finals = {s: w.close() for s, w in workers.items()}
    res["loadavg_end"] = os.getloadavg()

    # -- aggregate -----------------------------------------------------------------------------------------------
    peak = max(g["flops_per_s"] for rnd in gemm for g in rnd)
    res["gemm"] = {"peak_flops_per_s": peak, "runs": gemm, "threads": cfg.threads}
    for s in sides:
        side = res["sides"][s]
        side["rss"] = {"peak_kib": finals[s].get("peak_kib"), "phase_peak_kib": finals[s].get("phase_peak_kib", {})}
        side["totals"] = {k: sum(c[k] for c in side["build"]["counts"]) for k in ("nodes", "edges", "triplets")}
    for size in sizes:
        _aggregate(res, res["by_size"][size.name], size, sides, peak)
    # The first size's figures also sit where a one-size run has always put them (report, --json readers).
    first = res["by_size"][sizes[0].name]
    for s in sides:
        res["sides"][s].update(first["sides"][s])
    res["flop_check"] = first["flop_check"]
    res["sides"]["ours"]["collate_s"] = sum(collate)
    if "peer" in sides:
        o, p = res["sides"]["ours"], res["sides"]["peer"]
        res["ratios"] = {**first["ratios"],
                         "graph_build": p["build"]["mean_s"] / o["build"]["mean_s"],
                         "graph_build_cpu": p["build"]["cpu_mean_s"] / o["build"]["cpu_mean_s"],
                         "peak_rss": (p["rss"]["peak_kib"] or 0) / max(o["rss"]["peak_kib"] or 1, 1)}
    res["wall_s"] = time.perf_counter() - t_start
    shutil.rmtree(log_dir, ignore_errors=True)  # worker logs matter only when a worker fails (errors quote them)
    return res
