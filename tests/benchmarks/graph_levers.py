"""Cheaper ALIGNN graphs, measured: triplets, build time and training-step time per graph rule.

    python tests/benchmarks/graph_levers.py graphs [--n 300] [TASK ...]   # triplets + build time per rule
    python tests/benchmarks/graph_levers.py steps [--n 128] [TASK ...]    # quick-budget train step per rule
    python tests/benchmarks/graph_levers.py estimate [TASK ...]          # `bench run` time estimate per rule

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
    "r3=2.5": {"three_body_cutoff": 2.5},
    "cap=12": {"neighbor_cap": 12},
    "cap=8": {"neighbor_cap": 8},
    "cap=12+r3=3.5": {"neighbor_cap": 12, "three_body_cutoff": 3.5},
    "cap=8+r3=3.0": {"neighbor_cap": 8, "three_body_cutoff": 3.0},
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


def graphs_table(tasks: list[str], n: int, rules: list[str]) -> None:
    from bench.graphs.build import GraphParams, build_graph

    print("| task | N | atoms/structure | rule | bonds/structure | triplets/structure | triplets vs ref | "
          "build ms/structure |")
    print("|---|---|---|---|---|---|---|---|")
    for task in tasks:
        items = structures(task, n)
        atoms = statistics.mean(len(s) for s in items)
        params = {name: GraphParams(**RULES[name]) for name in rules}
        seconds = {name: 0.0 for name in rules}
        built = {name: [] for name in rules}
        for s in items:  # rules interleaved structure by structure: load bursts hit every rule alike
            for name, p in params.items():
                t0 = time.perf_counter()
                built[name].append(build_graph(s, p))
                seconds[name] += time.perf_counter() - t0
        ref = None
        for name in rules:
            ms = seconds[name] / len(items) * 1e3
            bonds = statistics.mean(g.edge_index.size(1) for g in built[name])
            triplets = statistics.mean(g.lg_index.size(1) for g in built[name])
            ref = ref or triplets
            print(f"| {task} | {len(items)} | {atoms:.1f} | {name} | {bonds:.0f} | {triplets:.0f} | "
                  f"{triplets / ref:.2f} | {ms:.1f} |", flush=True)


def steps_table(tasks: list[str], n: int, rounds: int, rules: list[str]) -> None:
    import torch

    from backbones.alignn import ALIGNN
    from bench.budgets import get_budget
    from bench.graphs.build import GraphParams, build_graph
    from bench.train import batches

    torch.set_num_threads(1)
    budget = get_budget("quick")
    print(f"| task | rule | triplets/batch | step ms (median of {rounds}) | vs {rules[0]} |")
    print("|---|---|---|---|---|")
    for task in tasks:
        items = structures(task, n)
        by_rule = {}
        for name in rules:
            built = [build_graph(s, GraphParams(**RULES[name])) for s in items]
            by_rule[name] = list(batches(built, budget.batch_size))
        torch.manual_seed(0)
        model = ALIGNN(**budget.backbone)
        head = torch.nn.Linear(model.embedding_dim, 1)
        opt = torch.optim.AdamW([*model.parameters(), *head.parameters()], lr=budget.lr)
        model.train()
        times = {name: [] for name in rules}
        for _ in range(rounds):
            for name, bl in by_rule.items():
                t0 = time.perf_counter()
                for batch in bl:
                    opt.zero_grad(set_to_none=True)
                    loss = head(model(batch)).square().mean()
                    loss.backward()
                    opt.step()
                times[name].append((time.perf_counter() - t0) / len(bl) * 1e3)
        ref = statistics.median(times[rules[0]])
        for name, bl in by_rule.items():
            med = statistics.median(times[name])
            trip = statistics.mean(b.lg_index.size(1) for b in bl)
            print(f"| {task} | {name} | {trip:.0f} | {med:.0f} | {med / ref:.2f} |", flush=True)


def estimate_table(tasks: list[str], rules: list[str]) -> None:
    import tempfile

    os.environ["BENCH_HOME"] = tempfile.mkdtemp(prefix="graph-levers-")
    import torch
    from rich.console import Console

    from bench import paths
    from bench.dataset import load_splits, target_stats
    from bench.estimate import estimate_seconds
    from bench.graphs.build import GraphParams
    from bench.graphs.cache import GraphCache
    from bench.run import resolve_config, seed_everything
    from bench.strategies import get_strategy
    from bench.train import TrainConfig
    from tasks import get_task

    torch.set_num_threads(1)
    print("| task | rule | train structures | triplets/structure | estimate |")
    print("|---|---|---|---|---|")
    for task in tasks:
        for name in rules:
            config = resolve_config(task, "scratch", "quick", 0, "cpu", None, overrides=dict(RULES[name]))
            cache = GraphCache(paths.cache_dir() / "graphs", GraphParams(**config["graph"]))
            splits = load_splits(get_task(task), paths.data_dir(), cache, config["data_limits"], seed=0,
                                 **config["split"])
            seed_everything(0)
            model, _ = get_strategy("scratch").build(config, Console(quiet=True), "cpu", None)
            mean, std = target_stats(splits["train"].targets)
            model.set_target_scaling(torch.tensor([mean]), torch.tensor([std]))
            train = splits["train"].graphs
            est = estimate_seconds(model, train, TrainConfig(**config["train"]), len(splits["val"]),
                                   len(splits["test"]))
            trip = statistics.mean(g.lg_index.size(1) for g in train)
            print(f"| {task} | {name} | {len(train)} | {trip:.0f} | {est.describe()} |", flush=True)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("graphs", "steps", "estimate"))
    parser.add_argument("tasks", nargs="*", default=TASKS)
    parser.add_argument("--n", type=int, default=None, help="structures per task (graphs 300, steps 128)")
    parser.add_argument("--rounds", type=int, default=3, help="steps: passes over the batches per rule")
    parser.add_argument("--rules", default=",".join(RULES),
                        help="comma-separated names of RULES, the first the baseline")
    args = parser.parse_intermixed_args(argv)
    rules = args.rules.split(",")
    unknown = [r for r in rules if r not in RULES]
    if unknown:
        parser.error(f"unknown rule(s) {', '.join(unknown)}; known: {', '.join(RULES)}")
    if args.what == "graphs":
        graphs_table(args.tasks, args.n or 300, rules)
    elif args.what == "steps":
        steps_table(args.tasks, args.n or 128, args.rounds, rules)
    else:
        estimate_table(args.tasks, rules)


if __name__ == "__main__":
    main(sys.argv[1:])
