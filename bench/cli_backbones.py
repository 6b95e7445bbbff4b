"""``bench backbones``: the registered backbones with their size, graph, citation and licence.

Registered in bench/cli.py; torch is imported in the command body, so ``bench --help`` stays light.
"""

from __future__ import annotations

import typer


def backbones(budget: str = typer.Option("quick", "--budget", "-b",
                                         help="Count parameters at this budget's model size.")) -> None:
    """List the backbones (`--backbone` of run, pretrain, sweep, tune): parameters at a budget, the graph
    each reads, citation and licence."""
    from rich.console import Console
    from rich.table import Table

    from backbones import BACKBONES, build_backbone, get_backbone_class
    from bench.run import budget_backbone_config
    from bench.spec import SpecError, check_budget

    try:
        check_budget(budget)
    except SpecError as err:
        Console(stderr=True).print(f"[bold red]error:[/] {err}", highlight=False)
        raise typer.Exit(2)
    table = Table(title=f"Backbones (parameters at the {budget} budget, with a one-output linear head)")
    for col in ("name", "parameters", "graph", "citation", "licence"):
        table.add_column(col, justify="right" if col == "parameters" else "left", overflow="fold")
    for name in BACKBONES:
        cls = get_backbone_class(name)
        trunk = build_backbone(name, **budget_backbone_config(name, budget))
        n = sum(p.numel() for p in trunk.parameters()) + trunk.embedding_dim + 1
        table.add_row(name, f"{n:,}", cls.graph_rule, cls.citation or "—", cls.licence or "—")
    Console(width=200).print(table)
