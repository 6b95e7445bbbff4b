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
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.perf import flops as flopmod

ALLOCATORS = ("auto", "system", "tcmalloc", "jemalloc")
JEMALLOC_CONF = "background_thread:true,dirty_decay_ms:10000,muzzy_decay_ms:10000"  # as bench.allocator sets it
GEMM_SHAPES = ([2048, 2048, 2048], [8192, 256, 256], [32768, 256, 256])


@dataclass
class PerfConfig:
    structures: int = 64
    batch_size: int = 16
    threads: int = 2
    rounds: int = 3  # timed passes per side and phase (min over them is reported)
    peer: bool = True
    allocator: str = "auto"  # for both sides
    peer_python: str | None = None
    install_peer: bool = True
    variant: str = "baseline"  # ours: a bench.perf.variants name
    data_dir: str | None = None
    seed: int = 0
    extra: dict = field(default_factory=dict)


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
                               "examples_only_peer": [list(e) for e in list(only_peer)[:5]]})
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
        for e in m["examples_only_ours"] + m["examples_only_peer"]:
            i, j, n = e[0], e[1], np.array(e[2:])
            d = np.linalg.norm(s.cart_coords[j] + n @ lat - s.cart_coords[i])
            ties += int(min(abs(d - kth[i]), abs(d - kth[j])) <= tolerance)
        m["examples_at_tie"] = ties


def run_perf(cfg: PerfConfig, log=print) -> dict:
    """Run the comparison; returns the results dictionary (what ``--json`` writes)."""
    from bench.perf.data import load_structures

    t_start = time.perf_counter()
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
                 "allocator": allocator_name(alloc), "sides": {s: {} for s in sides}}
    try:
        for s in sides:
            res["sides"][s]["info"] = workers[s].call("init", structures=data["structures"],
                                                      targets=data["targets"], threads=cfg.threads)
        gemm = [workers["ours"].call("gemm", shapes=GEMM_SHAPES)["results"]]

        # -- graph building ------------------------------------------------------------------------------------
        log(f"graph building: {n} structures x {cfg.rounds} rounds per side")
        build = {s: [] for s in sides}
        first = {}
        for r in range(cfg.rounds):
            for s in each(r):
                reply = workers[s].call("build", edges=(r == 0))
                build[s].append(reply["times"])
                if r == 0:
                    first[s] = reply
        for s in sides:
            per = _min_over_rounds(build[s])
            res["sides"][s]["build"] = {"per_structure_s": per, "mean_s": sum(per) / n, "total_s": sum(per),
                                        "rounds_total_s": [sum(x) for x in build[s]],
                                        "counts": first[s]["counts"]}
        if "peer" in sides:
            parity = edge_parity(first["ours"]["edges"], first["peer"]["edges"], data["ids"])
            if parity["mismatches"]:
                classify_ties(parity["mismatches"], data)
            trip = [a["triplets"] == b["triplets"] for a, b in zip(first["ours"]["counts"], first["peer"]["counts"])]
            parity["triplet_counts_equal"] = int(sum(trip))
            res["edge_parity"] = parity
        del first

        # -- training ------------------------------------------------------------------------------------------
        for s in sides:
            options = {"variant": cfg.variant} if s == "ours" else {}
            res["sides"][s]["prepare"] = workers[s].call("prepare", batch_size=cfg.batch_size, seed=cfg.seed,
                                                         options=options)
        batch_sizes = res["sides"]["ours"]["prepare"]["batch_sizes"]
        res["flop_check"] = workers["ours"].call("flopcount", batch=0)
        log(f"training: {len(batch_sizes)} batches of {cfg.batch_size} x (1 warm-up step + {cfg.rounds} rounds) per side")
        for s in sides:
            workers[s].call("train", limit=1)  # warm-up step
        train = {s: [] for s in sides}
        losses = {s: [] for s in sides}
        for r in range(cfg.rounds):
            for s in each(r):
                reply = workers[s].call("train")
                train[s].append(reply["times"])
                losses[s].append(reply["losses"])
        log(f"inference: {cfg.rounds} rounds per side")
        infer = {s: [] for s in sides}
        for r in range(cfg.rounds):
            for s in each(r):
                infer[s].append(workers[s].call("infer")["times"])
        gemm.append(workers["ours"].call("gemm", shapes=GEMM_SHAPES)["results"])
        collate = workers["ours"].call("rebatch", batch_size=cfg.batch_size, repeats=3)["times"]
    finally:
        finals = {s: w.close() for s, w in workers.items()}

    # -- aggregate -----------------------------------------------------------------------------------------------
    peak = max(g["flops_per_s"] for rnd in gemm for g in rnd)
    res["gemm"] = {"peak_flops_per_s": peak, "runs": gemm, "threads": cfg.threads}
    for s in sides:
        side = res["sides"][s]
        counts = side["build"]["counts"]
        bflops = flopmod.batch_flops(counts, batch_sizes)
        tr = _min_over_rounds(train[s])  # per batch [total, forward, backward, optimizer]
        epoch = sum(row[0] for row in tr)
        inf = _min_over_rounds(infer[s])
        inf_total = sum(inf)
        train_flops = sum(b["train"] for b in bflops)
        inf_flops = sum(b["inference"] for b in bflops)
        side["train"] = {"per_batch_s": tr, "epoch_s": epoch, "step_s": epoch / len(tr),
                         "structures_per_s": n / epoch, "steps_per_s": len(tr) / epoch,
                         "forward_s": sum(r[1] for r in tr), "backward_s": sum(r[2] for r in tr),
                         "optimizer_s": sum(r[3] for r in tr), "rounds_epoch_s": [sum(r[0] for r in x) for x in train[s]],
                         "losses": losses[s],
                         "flops": train_flops, "flops_per_structure": train_flops / n,
                         "achieved_flops_per_s": train_flops / epoch, "flop_fraction": train_flops / epoch / peak}
        side["infer"] = {"per_batch_s": inf, "total_s": inf_total, "structures_per_s": n / inf_total,
                         "flops": inf_flops, "achieved_flops_per_s": inf_flops / inf_total,
                         "flop_fraction": inf_flops / inf_total / peak}
        side["rss"] = {"peak_kib": finals[s].get("peak_kib"), "phase_peak_kib": finals[s].get("phase_peak_kib", {})}
        side["params"] = side["prepare"]["params"]
        side["totals"] = {k: sum(c[k] for c in counts) for k in ("nodes", "edges", "triplets")}
    res["sides"]["ours"]["collate_s"] = sum(collate)
    b0 = flopmod.batch_flops(res["sides"]["ours"]["build"]["counts"], batch_sizes)[0]
    res["flop_check"].update({"analytic_forward": b0["forward"], "analytic_backward": b0["backward"]})
    if "peer" in sides:
        o, p = res["sides"]["ours"], res["sides"]["peer"]
        res["ratios"] = {
            "graph_build": p["build"]["mean_s"] / o["build"]["mean_s"],
            "train_step": p["train"]["epoch_s"] / o["train"]["epoch_s"],
            "inference": o["infer"]["structures_per_s"] / p["infer"]["structures_per_s"],
            "peak_rss": (p["rss"]["peak_kib"] or 0) / max(o["rss"]["peak_kib"] or 1, 1),
        }
    res["wall_s"] = time.perf_counter() - t_start
    res["logs"] = str(log_dir)
    return res
