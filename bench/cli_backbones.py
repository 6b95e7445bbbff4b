"""``bench backbones``: the registered backbones with their size, graph, citation and licence.

Registered in bench/cli.py; torch is imported in the command body, so ``bench --help`` stays light.
"""

from __future__ import annotations

import typer


def backbones(budget: str = typer.Option("quick", "--budget", "-b",
                                         help="Count parameters at this budget's model size.")) -> None:
    """List the backbones (`--backbone` of run, pretrain, sweep, tune) and the baselines (`--backbone` of run,
    sweep): parameters at a budget, what each reads, citation and licence."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from backbones import BACKBONES, build_backbone, get_backbone_class
    from backbones.baselines import BASELINES, get_baseline_class
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
    extras: list[str] = []
    for name in BACKBONES:
        cls = get_backbone_class(name)
        try:
            trunk = build_backbone(name, **budget_backbone_config(name, budget))
            size = f"{sum(p.numel() for p in trunk.parameters()) + trunk.embedding_dim + 1:,}"
        except ImportError:  # an optional extra that is not installed (chgnet): the caption says how to install it
            size = f"— ({cls.extra or 'a dependency'} not installed)"
        if cls.extra:
            extras.append(cls.extra)
        table.add_row(name + ("*" if cls.extra else ""), escape(size), _describe_rule(cls.graph_rule),
                      cls.citation or "—", cls.licence or "—")
    if extras:  # optional dependencies: the suite runs without them, these backbones do not
        table.caption = escape("* needs an optional dependency (extra), " + "; ".join(
            f'{e}: pip install -e ".[{e}]"' for e in extras))
    Console().print(table)
    # a table of their own: they read no graph, and their size is not a parameter count
    base = Table(title="Baselines (--backbone of run and sweep; strategy scratch only, fixed hyper-parameters, "
                       "the same at every budget)")
    for col in ("name", "kind", "size", "reads", "citation", "licence"):
        base.add_column(col, overflow="fold")
    for name in BASELINES:
        cls = get_baseline_class(name)
        base.add_row(name, cls.kind, cls.size(), cls.reads, cls.citation, cls.licence)
    Console().print(base)


def _describe_rule(rule) -> str:
    if isinstance(rule, str):
        return rule
    return (f"its own ({rule.name}: atom graph {rule.atom_graph_cutoff:g} Å, bond graph "
            f"{rule.bond_graph_cutoff:g} Å, by chgnet's CrystalGraphConverter)")
