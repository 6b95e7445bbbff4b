"""``bench perf``: graph building, training and inference throughput and peak RSS, ours against upstream alignn.

Registered in ``bench.cli`` as ``app.command("perf")(perf)``; heavy libraries are imported inside the command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def perf(
    structures: int = typer.Option(64, "--structures", "-n", help="Real structures (piezoelectric table, evenly spaced rows)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Structures per training/inference batch "
                                             "(default: the --size budget's batch size)."),
    size: str = typer.Option("paper", "--size", help="Model size: paper | quick (that budget's ALIGNN sizes, "
                             "bench/budgets.py) | both (the comparison only: quick and paper, one table)."),
    rounds: int = typer.Option(3, "--rounds", help="Timed passes per side and phase; the minimum is reported."),
    threads: int = typer.Option(2, "--threads", help="torch threads of each side."),
    peer: bool = typer.Option(True, "--peer/--no-peer", help="Compare with upstream alignn (its own environment)."),
    peer_python: Optional[str] = typer.Option(None, "--peer-python", help="An existing python with alignn installed."),
    install: bool = typer.Option(True, "--install/--no-install", help="Create the upstream environment if missing."),
    allocator: str = typer.Option("auto", "--allocator", help="auto | system | tcmalloc | jemalloc (both sides)."),
    variant: str = typer.Option("baseline", "--variant", help="Our model variant (bench.perf.variants.VARIANTS)."),
    builder: str = typer.Option("baseline", "--builder", help="Our graph builder: baseline | before (bench.perf.variants)."),
    levers: Optional[str] = typer.Option(None, "--levers", help="Instead of the comparison, measure levers on one "
                                         "batch: 'all' or a comma list of allocator, compile, VARIANT names."),
    profile: bool = typer.Option(False, "--profile", help="Instead of the comparison, profile our training step "
                                 "(torch.profiler): time per operator group, the account of the FLOP-floor gap."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Data folder holding raw/ (default: BENCH_DATA_DIR)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write every figure and raw timing to this file."),
) -> None:
    """Measure ours against upstream alignn: graph build per structure (and edge parity), training and inference
    structures/s at a budget's model size (--size; default paper), peak RSS, fraction of the GEMM FLOP floor. Ratios > 1: ours better."""
    import json

    from rich.console import Console

    console = Console(stderr=True, highlight=False)
    out = Console(highlight=False)
    if not out.is_terminal:
        out = Console(highlight=False, width=140)  # a file or pipe: no wrapping of the table
    from bench.perf.sizes import CHOICES, SIZES

    if (batch_size is not None and batch_size < 1) or rounds < 1 or threads < 1:
        console.print("[bold red]error:[/] --batch-size, --rounds and --threads must be >= 1")
        raise typer.Exit(2)
    if size not in CHOICES or (size == "both" and (profile or levers)):
        allowed = CHOICES if not (profile or levers) else SIZES
        console.print(f"[bold red]error:[/] --size {size!r}: use one of {', '.join(allowed)}"
                      + (" (--profile and --levers measure one size at a time)" if size == "both" else ""))
        raise typer.Exit(2)
    log = lambda msg: console.print(f"[dim]{msg}[/]")  # noqa: E731
    try:
        if profile:
            from bench.perf.breakdown import print_profile, profile_training

            res = profile_training(structures=structures, batch_size=batch_size, steps=rounds, threads=threads,
                                   data_dir=str(data_dir) if data_dir else None, size=size)
            print_profile(res, out)
        elif levers:
            from bench.perf.levers import print_levers, run_levers

            res = run_levers(levers, structures=structures, batch_size=batch_size, rounds=rounds, threads=threads,
                             data_dir=str(data_dir) if data_dir else None, log=log, size=size)
            print_levers(res, out)
        else:
            from bench.perf.report import print_report
            from bench.perf.runner import PerfConfig, run_perf

            cfg = PerfConfig(structures=structures, batch_size=batch_size, threads=threads, rounds=rounds, peer=peer,
                             allocator=allocator, peer_python=peer_python, install_peer=install, variant=variant,
                             builder=builder, size=size,
                             data_dir=str(data_dir) if data_dir else None)
            res = run_perf(cfg, log=log)
            print_report(res, out)
    except (FileNotFoundError, ValueError, KeyError, RuntimeError) as err:
        console.print(f"[bold red]error:[/] {err}")
        raise typer.Exit(1)
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(res, indent=1))
        console.print(f"wrote {json_out}")
