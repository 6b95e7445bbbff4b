"""Our side of ``bench perf``: ``bench.graphs.build_graph`` and ``PropertyModel(ALIGNN(), LinearHead)`` (or a
lever variant from :mod:`bench.perf.variants`), measured by the loop both sides share. Run as
``python -m bench.perf.worker_ours`` by :mod:`bench.perf.runner`."""

from __future__ import annotations

import warnings

import torch

from bench.perf._worker_common import Side, Worker


class OursSide(Side):
    name = "ours"

    def __init__(self):
        self.variant = None
        self.builder_name = "baseline"

    def load(self, structures: list[dict]) -> None:
        from pymatgen.core import Structure

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.structures = [Structure.from_dict(s["pymatgen"]) for s in structures]
        self.n_structures = len(self.structures)

    def build(self, i: int):
        return self.builder(self.structures[i])

    def set_builder(self, name: str) -> None:
        from bench.perf.variants import get_builder

        self.builder_name = name
        self.builder = get_builder(name)

    def edges(self, graph) -> list[list[int]]:
        return torch.cat([graph.edge_index.T, graph.edge_image.long()], dim=1).tolist()

    def counts(self, graph) -> dict:
        return {"nodes": int(graph.num_nodes), "edges": int(graph.edge_index.size(1)),
                "triplets": int(graph.lg_index.size(1))}

    def collate(self, graphs):
        from torch_geometric.data import Batch

        batch = Batch.from_data_list(graphs)
        return batch

    def make_model(self, options: dict):
        from bench.perf.variants import get_variant

        self.variant = get_variant(options.get("variant", "baseline"))
        # options["alignn"]: ALIGNN's constructor arguments for the size measured (bench.perf.sizes)
        model = self.variant.make_model(**options.get("alignn", {}))
        if options.get("compile"):
            model = torch.compile(model, dynamic=True)
        return model

    def predict(self, model, batch):
        return model(batch).reshape(-1)

    def info(self) -> dict:
        import torch_geometric

        return {"side": "ours", "torch_geometric": torch_geometric.__version__, "builder": self.builder_name}


class OursWorker(Worker):
    def do_init(self, req: dict) -> dict:
        self.side.set_builder(req.get("builder", "baseline"))
        return super().do_init(req)

    def extra(self, cmd: str, req: dict) -> dict:
        if cmd == "flopcount":
            return self.flopcount(req)
        if cmd == "rebatch":
            return self.rebatch(req)
        if cmd == "edges_tol":
            return self.edges_tol(req)
        if cmd == "equivalence":
            return self.equivalence(req)
        if cmd == "build_ab":
            return self.build_ab(req)
        return super().extra(cmd, req)

    def flopcount(self, req: dict) -> dict:
        """FLOPs torch counts (``FlopCounterMode``: matrix products) in forward and backward of one batch."""
        from torch.nn import functional as F
        from torch.utils.flop_counter import FlopCounterMode

        b = int(req.get("batch", 0))
        self.model.train()
        with FlopCounterMode(display=False) as fwd:
            loss = F.mse_loss(self.side.predict(self.model, self.batches[b]), self.targets[b])
        with FlopCounterMode(display=False) as bwd:
            loss.backward()
        self.model.zero_grad(set_to_none=True)
        return {"forward": int(fwd.get_total_flops()), "backward": int(bwd.get_total_flops())}

    def equivalence(self, req: dict) -> dict:
        """Does variant ``variant`` compute the baseline's outputs and gradients on batch ``batch``?"""
        from torch_geometric.data import Batch

        from bench.perf.variants import check_equivalence

        bs = len(self.targets[0])
        b = int(req.get("batch", 0))
        graphs = [self.graphs[i] for i in range(b * bs, min((b + 1) * bs, self.side.n_structures))]
        return {"equivalence": check_equivalence(req["variant"], Batch.from_data_list(graphs),
                                                 alignn=req.get("alignn"))}

    def build_ab(self, req: dict) -> dict:
        """Each builder of ``builders`` on every structure, alternating per structure, ``rounds`` times:
        per-structure minimum ``[wall, cpu]`` seconds per builder, and whether all builders give equal graphs."""
        import time

        from bench.perf.variants import get_builder, same_graph

        names = req["builders"]
        fns = [get_builder(b) for b in names]
        best = {b: [[float("inf"), float("inf")] for _ in range(self.side.n_structures)] for b in names}
        equal = True
        for r in range(int(req.get("rounds", 3))):
            for i, s in enumerate(self.side.structures):
                graphs = []
                for k in (range(len(fns)) if (r + i) % 2 == 0 else reversed(range(len(fns)))):
                    c0, t0 = time.process_time(), time.perf_counter()
                    g = fns[k](s)
                    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                    cur = best[names[k]][i]
                    cur[0], cur[1] = min(cur[0], wall), min(cur[1], cpu)
                    graphs.append(g)
                if r == 0:
                    equal &= all(same_graph(graphs[0], g) for g in graphs[1:])
        return {"per_structure_s": best, "equal": bool(equal)}

    def edges_tol(self, req: dict) -> dict:
        """Edges of every structure built with another tie tolerance (parity diagnostics)."""
        from bench.graphs import neighbors

        saved = neighbors.TIE_TOLERANCE
        neighbors.TIE_TOLERANCE = float(req["tolerance"])
        try:
            return {"edges": [self.side.edges(self.side.build(i)) for i in range(self.side.n_structures)]}
        finally:
            neighbors.TIE_TOLERANCE = saved

    def rebatch(self, req: dict) -> dict:
        """Re-collate every batch ``repeats`` times (collation cost: what data-loader workers could hide)."""
        import time

        from torch_geometric.data import Batch

        bs = int(req["batch_size"])
        n = self.side.n_structures
        best = []
        for start in range(0, n, bs):
            graphs = [self.graphs[i] for i in range(start, min(start + bs, n))]
            t = float("inf")
            for _ in range(int(req.get("repeats", 3))):
                t0 = time.perf_counter()
                Batch.from_data_list(graphs)
                t = min(t, time.perf_counter() - t0)
            best.append(t)
        return {"times": best}


if __name__ == "__main__":
    OursWorker(OursSide()).serve()
