"""Where a training step's time goes: ``torch.profiler`` over steps of our ALIGNN at a budget's size (paper or quick),
self CPU time grouped by kind of operator (GEMM, gather, scatter, normalisation, elementwise, optimizer).

This is the profile behind PERFORMANCE.md's account of the gap to the FLOP floor: GEMMs run near the machine's
matmul rate, everything else is memory-bound per-bond and per-triplet work.
"""

# Not named profile.py: the peer worker runs with bench/perf/ on sys.path, where that would shadow the stdlib.

from __future__ import annotations

import time
from collections import defaultdict

# Operator name fragments -> group. First match wins; the order puts specific names before generic ones.
GROUPS = (
    ("GEMM (Linear fwd/bwd)", ("addmm", "aten::mm", "aten::bmm", "matmul")),
    ("scatter (index_add_, sums)", ("index_add", "index_put", "scatter", "aten::sum", "segment")),
    ("gather (index_select, indexing)", ("index_select", "aten::index", "embedding", "gather")),
    ("normalisation (BatchNorm)", ("batch_norm", "layer_norm")),
    ("elementwise (SiLU, sigmoid, add, mul, div, exp)", ("silu", "sigmoid", "aten::add", "aten::mul", "aten::div",
                                                         "aten::sub", "aten::exp", "aten::neg", "aten::pow",
                                                         "aten::clamp", "aten::norm", "aten::linalg_vector_norm",
                                                         "threshold", "aten::rsub", "aten::where")),
    ("memory (copy, zeros, cat, empty)", ("copy_", "zero_", "fill_", "aten::cat", "empty", "aten::to",
                                          "aten::_to_copy", "clone", "contiguous", "new_zeros", "zeros")),
)


def group_of(name: str) -> str:
    low = name.lower()
    for group, keys in GROUPS:
        if any(k in low for k in keys):
            return group
    return "other"


def profile_training(structures: int = 64, batch_size: int | None = None, steps: int = 3, threads: int = 2,
                     data_dir: str | None = None, size: str = "paper") -> dict:
    """Self CPU time per operator group over ``steps`` training steps (after one warm-up step) of our model at
    ``size`` (:mod:`bench.perf.sizes`; ``batch_size`` None: that budget's batch)."""
    from pathlib import Path

    import torch
    from torch.profiler import ProfilerActivity, profile
    from torch_geometric.data import Batch

    from pymatgen.core import Structure

    from bench.graphs import build_graph
    from bench.perf.data import load_structures
    from bench.perf.flops import step_flops
    from bench.perf.sizes import get_size
    from bench.perf.variants import baseline_model

    perf_size = get_size(size)
    batch_size = batch_size or perf_size.batch_size
    torch.set_num_threads(threads)
    # the first batch of `bench perf` (same evenly spaced rows for the same --structures)
    data = load_structures(max(structures, batch_size), Path(data_dir) if data_dir else None)
    graphs = [build_graph(Structure.from_dict(p["pymatgen"])) for p in data["structures"][:batch_size]]
    for g, y in zip(graphs, data["targets"]):
        g.y = torch.tensor([float(y)])
    batch = Batch.from_data_list(graphs)
    torch.manual_seed(0)
    model = baseline_model(**perf_size.alignn_kwargs())
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-5)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(model(batch).view(-1), batch.y.view(-1))
        loss.backward()
        opt.step()

    step()  # warm-up
    t0 = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    wall = (time.perf_counter() - t0) / steps
    groups: dict[str, float] = defaultdict(float)
    ops: dict[str, float] = defaultdict(float)
    for ev in prof.events():
        us = ev.self_cpu_time_total / steps
        if not us:
            continue
        # AdamW's per-parameter ops (add_, mul_, sqrt…) would pass for model work: attribute by ancestry
        parent, in_opt = ev, False
        while parent is not None and not in_opt:
            in_opt = parent.name.startswith("Optimizer.")
            parent = parent.cpu_parent
        groups["optimizer (AdamW, every op inside it)" if in_opt else group_of(ev.name)] += us
        ops[ev.name] += us
    total = sum(groups.values())
    flops = step_flops(int(batch.num_nodes), int(batch.edge_index.size(1)), int(batch.lg_index.size(1)),
                       int(batch.num_graphs), perf_size.shape)["train"]
    gemm_s = groups.get("GEMM (Linear fwd/bwd)", 0.0) * 1e-6
    return {
        "config": {"size": perf_size.as_dict(), "batch_size": batch_size, "steps": steps, "threads": threads,
                   "atoms": int(batch.num_nodes), "bonds": int(batch.edge_index.size(1)),
                   "triplets": int(batch.lg_index.size(1))},
        "step_wall_s": wall,
        "profiled_self_cpu_s": total * 1e-6,
        "groups_s": {k: v * 1e-6 for k, v in sorted(groups.items(), key=lambda kv: -kv[1])},
        "top_ops_s": {k: v * 1e-6 for k, v in sorted(ops.items(), key=lambda kv: -kv[1])[:15]},
        "gemm_flops": flops,
        "gemm_gflops_per_s_inside_gemm": flops / gemm_s / 1e9 if gemm_s else None,
    }


def print_profile(res: dict, console) -> None:
    from rich.table import Table

    cfg = res["config"]
    total = res["profiled_self_cpu_s"]
    size = cfg.get("size", {"name": "paper"})
    desc = size["name"] if "alignn" not in size else (
        f"{size['name']} size (ALIGNN {size['alignn']['alignn_layers']}+{size['alignn']['gcn_layers']} layers, "
        f"hidden {size['alignn']['hidden_features']})")
    table = Table(title=f"one training step, {desc}, batch {cfg['batch_size']} ({cfg['atoms']} atoms, "
                        f"{cfg['bonds']} bonds, {cfg['triplets']} triplets), {cfg['threads']} threads, mean of "
                        f"{cfg['steps']} steps: wall {res['step_wall_s']:.3g} s")
    for col in ("operator group", "self CPU s", "share"):
        table.add_column(col, justify="left" if col == "operator group" else "right")
    for name, s in res["groups_s"].items():
        table.add_row(name, f"{s:.3g}", f"{s / total:.0%}")
    console.print(table)
    top = Table(title="top operators (self CPU s per step)")
    top.add_column("operator")
    top.add_column("s", justify="right")
    for name, s in res["top_ops_s"].items():
        top.add_row(name, f"{s:.3g}")
    console.print(top)
    if res["gemm_gflops_per_s_inside_gemm"]:
        console.print(f"GEMM FLOPs per step {res['gemm_flops'] / 1e9:.2f} G; rate inside the GEMM operators "
                      f"{res['gemm_gflops_per_s_inside_gemm']:.0f} GFLOP/s (self CPU time, summed over threads' "
                      f"parent op)", highlight=False)
