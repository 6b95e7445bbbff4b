"""Cheaper ALIGNN graphs, measured: triplets, build time and training-step time per graph rule.

    python tests/benchmarks/graph_levers.py graphs [--n 300] [TASK ...]   # triplets + build time per rule
    python tests/benchmarks/graph_levers.py steps [--n 256] [TASK ...]    # quick-budget train step per rule

``graphs``: the first N structures of each task (source order), built under every rule of RULES; per rule the
mean bonds and triplets per structure and the mean build time. ``steps``: a quick-budget ALIGNN (2+2 layers,
hidden 64, batch 32), forward + backward + optimiser step over the same batches under each rule, rules
interleaved round by round so that the shared machine's noise falls on all of them alike; the ratios are to
the reference rule measured in the same process. Nothing is cached: every graph is built here.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

RULES = {
    "reference": {},
    "r3=4.0": {"three_body_cutoff": 4.0},
    "r3=3.5": {"three_body_cutoff": 3.5},
    "r3=3.0": {"three_body_cutoff": 3.0},
    "cap=12": {"neighbor_cap": 12},
    "cap=12,r3=3.5": {"neighbor_cap": 12, "three_body_cutoff": 3.5},
}
TASKS = ["devi2024-dc", "devi2024-ph", "devi2024-pz", "obelix"]


def structures(task: str, n: int) -> list:
    from bench.structures import parse_structure
    from tasks import get_task

    data = get_task(task).load(Path(os.environ["BENCH_DATA_DIR"]))
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for record in list(data.records.values())[:n]:
            out.append(parse_structure(record.structure, record.fmt, source=f"{task} {record.id}"))
    return out


def graphs_table(tasks: list[str], n: int) -> None:
    from bench.graphs.build import GraphParams, build_graph

    print(f"| task | N | atoms/structure | rule | bonds/structure | triplets/structure | triplets vs ref | "
          f"build ms/structure |")
    print("|---|---|---|---|---|---|---|---|")
    for task in tasks:
        items = structures(task, n)
        atoms = statistics.mean(len(s) for s in items)
        ref = None
        for name, rule in RULES.items():
            params = GraphParams(**rule)
            t0 = time.perf_counter()
            built = [build_graph(s, params) for s in items]
            ms = (time.perf_counter() - t0) / len(items) * 1e3
            bonds = statistics.mean(g.edge_index.size(1) for g in built)
            triplets = statistics.mean(g.lg_index.size(1) for g in built)
            ref = ref or triplets
            print(f"| {task} | {len(items)} | {atoms:.1f} | {name} | {bonds:.0f} | {triplets:.0f} | "
                  f"{triplets / ref:.2f} | {ms:.1f} |", flush=True)


def steps_table(tasks: list[str], n: int, rounds: int) -> None:
    import torch

    from backbones.alignn import ALIGNN
    from bench.budgets import get_budget
    from bench.graphs.build import GraphParams, build_graph
    from bench.train import batches

    torch.set_num_threads(1)
    budget = get_budget("quick")
    print(f"| task | rule | triplets/batch | step ms (median of {rounds}) | vs reference |")
    print("|---|---|---|---|---|")
    for task in tasks:
        items = structures(task, n)
        by_rule = {}
        for name, rule in RULES.items():
            built = [build_graph(s, GraphParams(**rule)) for s in items]
            by_rule[name] = list(batches(built, budget.batch_size))
        torch.manual_seed(0)
        model = ALIGNN(**budget.backbone)
        head = torch.nn.Linear(model.embedding_dim, 1)
        opt = torch.optim.AdamW([*model.parameters(), *head.parameters()], lr=budget.lr)
        model.train()
        times = {name: [] for name in RULES}
        for _ in range(rounds):
            for name, bl in by_rule.items():
                t0 = time.perf_counter()
                for batch in bl:
                    opt.zero_grad(set_to_none=True)
                    loss = head(model(batch)).square().mean()
                    loss.backward()
                    opt.step()
                times[name].append((time.perf_counter() - t0) / len(bl) * 1e3)
        ref = statistics.median(times["reference"])
        for name, bl in by_rule.items():
            med = statistics.median(times[name])
            trip = statistics.mean(b.lg_index.size(1) for b in bl)
            print(f"| {task} | {name} | {trip:.0f} | {med:.0f} | {med / ref:.2f} |", flush=True)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("graphs", "steps"))
    parser.add_argument("tasks", nargs="*", default=TASKS)
    parser.add_argument("--n", type=int, default=None, help="structures per task (graphs 300, steps 128)")
    parser.add_argument("--rounds", type=int, default=3, help="steps: passes over the batches per rule")
    args = parser.parse_intermixed_args(argv)
    if args.what == "graphs":
        graphs_table(args.tasks, args.n or 300)
    else:
        steps_table(args.tasks, args.n or 128, args.rounds)


if __name__ == "__main__":
    main(sys.argv[1:])
