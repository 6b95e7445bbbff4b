"""The measurement loop shared by both sides of ``bench perf`` (ours and the upstream peer).

This module imports only the standard library and torch: the peer side runs it from upstream alignn's own
virtual environment (as a top-level module next to ``worker_peer.py``), where ``bench`` is not installed.
Both sides therefore time graph building, training and inference with literally the same code; they differ
only in the :class:`Side` they plug in.

Protocol: the parent writes one JSON request per line on the worker's stdin and reads one JSON reply per line
from the worker's stdout (anything else the worker prints goes to stderr). Every request is answered with
``{"ok": true, ...}`` or ``{"ok": false, "error": traceback}``.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import traceback
from typing import Any


def rss_now_kib() -> int:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def rss_peak_kib() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB on Linux


class Side:
    """What a side implements. Graph objects, batches and models are opaque to the loop."""

    name = "side"

    def load(self, structures: list[dict]) -> None: ...

    def build(self, i: int) -> Any:
        """Build structure ``i``'s graph (the timed part). Returns the graph."""
        raise NotImplementedError

    def edges(self, graph: Any) -> list[list[int]]:
        """Directed edges ``[src, dst, n1, n2, n3]`` (``n`` the lattice image of ``dst``)."""
        raise NotImplementedError

    def counts(self, graph: Any) -> dict[str, int]:
        """``{"nodes", "edges", "triplets"}`` of one structure's graph."""
        raise NotImplementedError

    def collate(self, graphs: list[Any]) -> Any:
        raise NotImplementedError

    def make_model(self, options: dict) -> Any:
        raise NotImplementedError

    def predict(self, model: Any, batch: Any) -> Any:
        """``[B]`` outputs of ``model`` on ``batch``."""
        raise NotImplementedError

    def info(self) -> dict:
        return {}


class Worker:
    def __init__(self, side: Side):
        self.side = side
        self.graphs: dict[int, Any] = {}
        self.batches: list[Any] = []
        self.targets: list[Any] = []
        self.model = None
        self.opt = None
        self.phase_peak: dict[str, int] = {}

    # -- requests ---------------------------------------------------------------------------------------------
    def do_init(self, req: dict) -> dict:
        import torch

        threads = int(req.get("threads", 2))
        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass
        self.side.load(req["structures"])
        self.ys = req["targets"]
        self.phase_peak["imports"] = rss_peak_kib()
        return {"torch": torch.__version__, "threads": torch.get_num_threads(),
                "ld_preload": os.environ.get("LD_PRELOAD", ""), "python": sys.version.split()[0],
                "pid": os.getpid(), **self.side.info()}

    def do_build(self, req: dict) -> dict:
        """Build the graphs of ``indices`` (default: all); per-structure ``[wall, cpu]`` seconds."""
        want_edges = bool(req.get("edges", False))
        times, edges, counts = [], [], []
        for i in req.get("indices") or range(self.side.n_structures):
            c0, t0 = time.process_time(), time.perf_counter()
            g = self.side.build(i)
            times.append([time.perf_counter() - t0, time.process_time() - c0])
            self.graphs[i] = g
            if want_edges:
                edges.append(self.side.edges(g))
                counts.append(self.side.counts(g))
        self.phase_peak["build"] = rss_peak_kib()
        out = {"times": times}
        if want_edges:
            out["edges"], out["counts"] = edges, counts
        return out

    def do_prepare(self, req: dict) -> dict:
        """Collate fixed batches (consecutive structures) and create the model and its AdamW optimizer."""
        import torch

        bs = int(req["batch_size"])
        n = self.side.n_structures
        self.batches, self.targets, collate_times = [], [], []
        for start in range(0, n, bs):
            idx = list(range(start, min(start + bs, n)))
            t0 = time.perf_counter()
            self.batches.append(self.side.collate([self.graphs[i] for i in idx]))
            collate_times.append(time.perf_counter() - t0)
            self.targets.append(torch.tensor([self.ys[i] for i in idx], dtype=torch.float32))
        torch.manual_seed(int(req.get("seed", 0)))
        self.model = self.side.make_model(req.get("options", {}))
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=1e-3, weight_decay=1e-5)
        params = sum(p.numel() for p in self.model.parameters())
        self.phase_peak["prepare"] = rss_peak_kib()
        return {"params": params, "collate_times": collate_times,
                "batch_sizes": [int(t.numel()) for t in self.targets]}

    def _which(self, req: dict) -> list[int]:
        which = req.get("batches")
        return list(range(len(self.batches))) if which is None else [int(b) for b in which]

    def do_train(self, req: dict) -> dict:
        """A training step on each of ``batches`` (default: all): forward, MSE loss, backward, AdamW step.
        Returns per-step ``[wall, forward, backward, optimizer, cpu]`` seconds and the losses."""
        from torch.nn import functional as F

        self.model.train()
        rows, losses = [], []
        for b in self._which(req):
            batch, y = self.batches[b], self.targets[b]
            c0, t0 = time.process_time(), time.perf_counter()
            self.opt.zero_grad(set_to_none=True)
            loss = F.mse_loss(self.side.predict(self.model, batch), y)
            t1 = time.perf_counter()
            loss.backward()
            t2 = time.perf_counter()
            self.opt.step()
            t3 = time.perf_counter()
            rows.append([t3 - t0, t1 - t0, t2 - t1, t3 - t2, time.process_time() - c0])
            losses.append(float(loss))
        self.phase_peak["train"] = rss_peak_kib()
        return {"times": rows, "losses": losses}

    def do_infer(self, req: dict) -> dict:
        """Predictions for each of ``batches`` in eval mode under ``torch.no_grad()``; per-batch
        ``[wall, cpu]`` seconds."""
        import torch

        self.model.eval()
        times = []
        with torch.no_grad():
            for b in self._which(req):
                c0, t0 = time.process_time(), time.perf_counter()
                self.side.predict(self.model, self.batches[b])
                times.append([time.perf_counter() - t0, time.process_time() - c0])
        self.model.train()
        self.phase_peak["infer"] = rss_peak_kib()
        return {"times": times}

    def do_rss(self, req: dict) -> dict:
        return {"peak_kib": rss_peak_kib(), "now_kib": rss_now_kib(), "phase_peak_kib": dict(self.phase_peak)}

    def do_gemm(self, req: dict) -> dict:
        """float32 ``torch.matmul`` throughput (FLOP/s, min-of-``repeats`` time) for each ``[M, K, N]``."""
        import torch

        out = []
        for m, k, n in req["shapes"]:
            a, b = torch.randn(m, k), torch.randn(k, n)
            c = torch.empty(m, n)
            torch.matmul(a, b, out=c)
            best = float("inf")
            for _ in range(int(req.get("repeats", 5))):
                t0 = time.perf_counter()
                torch.matmul(a, b, out=c)
                best = min(best, time.perf_counter() - t0)
            out.append({"shape": [m, k, n], "flops_per_s": 2.0 * m * k * n / best, "seconds": best})
        return {"results": out}

    def extra(self, cmd: str, req: dict) -> dict:
        raise KeyError(f"unknown command {cmd!r}")

    # -- loop -------------------------------------------------------------------------------------------------
    def serve(self) -> None:
        out = os.fdopen(os.dup(1), "w", buffering=1)
        os.dup2(2, 1)  # stray prints (library warnings) go to stderr, never into the protocol
        sys.stdout = sys.stderr
        for line in sys.stdin:
            if not line.strip():
                continue
            req = json.loads(line)
            cmd = req.get("cmd")
            if cmd == "quit":
                out.write(json.dumps({"ok": True, **self.do_rss({})}) + "\n")
                break
            try:
                handler = getattr(self, f"do_{cmd}", None)
                reply = handler(req) if handler else self.extra(cmd, req)
                out.write(json.dumps({"ok": True, **reply}) + "\n")
            except Exception:
                out.write(json.dumps({"ok": False, "error": traceback.format_exc()}) + "\n")
