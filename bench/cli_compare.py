"""``bench compare --task T``: which transfer strategy for my data? (engine: ``bench/compare/``, docs/compare.md).

Registered in bench/cli.py with ``app.command()(compare)``. Heavy libraries are imported inside the command so
``bench --help`` stays instant.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer


def compare(
    task: str = typer.Option(..., "--task", "-t", help="Task name (see `bench tasks`; one added with "
                             "`bench data add` too)."),
    candidates: Optional[str] = typer.Option(None, "--candidates", "-c", help="Comma-separated "
                                             "STRATEGY[:SOURCE][@BACKBONE] (default scratch,ptft:fe,ptft:bg,mpt): "
                                             "scratch, ptft:bg, mpt (the task's sources), mpt:fe+bg+gv, "
                                             "scratch@cgcnn. Every candidate is paired with scratch."),
    trials: Optional[int] = typer.Option(None, "--trials", "-n", help="Random FT subsets (trials 1..N), the "
                                         "same for every candidate (default 3)."),
    folds: Optional[int] = typer.Option(None, "--folds", help="Cross-validation folds 0..K-1 instead of FT "
                                        "subsets (tasks with k-fold splits; default for tasks whose split is CV)."),
    ft_size: Optional[int] = typer.Option(None, "--ft-size", help="Fine-tuning structures per trial (default: "
                                          "80 % of the task's pool, at most 800, so trials differ and a quick "
                                          "run takes minutes; the paper's tasks: their largest subset ≤ that)."),
    ft_sizes: Optional[str] = typer.Option(None, "--ft-sizes", help="Several FT sizes, e.g. 50,100,200: a "
                                           "table each and a learning curve."),
    budget: str = typer.Option("quick", "--budget", "-b", help="smoke | quick | paper"),
    seed: int = typer.Option(0, "--seed"),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Override the budget's number of epochs."),
    workers: int = typer.Option(1, "--workers", "-j", help="Runs at once, each in its own process (the "
                                "sweep's Dask engine); 1: one after another."),
    report: Optional[Path] = typer.Option(None, "--report", help="Folder of the HTML report and compare.json "
                                          "(default ./compare-TASK)."),
    device: str = typer.Option("auto", "--device"),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", envvar="MLFLOW_TRACKING_URI"),
) -> None:
    """Run candidate strategies on a task over trials (or CV folds), rank them with paired intervals against
    scratch, recommend one, and write an HTML report; finished runs are reused."""
    from rich.console import Console

    from bench.cli import _fail, _user_errors

    console = Console(stderr=True, soft_wrap=True)
    with _user_errors(resume="resume: finished runs are reused, the interrupted one goes on from its last "
                             "checkpoint"):
        from bench.compare.candidates import parse_candidates
        from bench.compare.engine import CompareSpec, run_compare
        from bench.compare.report import command_line, print_tables, write_report
        from bench.spec import SpecError, check_budget, check_device, check_int, check_task
        from bench.sweep import SweepError

        check_task(task), check_budget(budget), check_int("--seed", seed, 0), check_device(device)
        if epochs is not None:
            check_int("--epochs", epochs, 1)
        if ft_size is not None and ft_sizes is not None:
            raise SpecError("give --ft-size N or --ft-sizes a,b,c, not both")
        try:
            sizes = (ft_size,) if ft_size is not None else (tuple(int(s) for s in ft_sizes.split(","))
                                                            if ft_sizes else None)
        except ValueError:
            raise SpecError(f"--ft-sizes takes numbers separated by commas, e.g. 50,100,200; got {ft_sizes!r}") \
                from None
        spec = CompareSpec(task, parse_candidates(candidates, task), sizes, trials, folds, budget, seed, device,
                           epochs, workers, tracking_uri)
        try:
            result = run_compare(spec, console)
        except SweepError as err:
            _fail(str(err))
        out = report if report is not None else Path.cwd() / f"compare-{task}"
        command = command_line(result)
        # piped or captured output has no width: give the table room rather than rich's 80 columns
        print_tables(result, Console(width=None if sys.stdout.isatty() else 120))
        page = write_report(result, out, command)
    console.print(f"Report: {page} (table as JSON: {page.parent / 'compare.json'})", highlight=False)
    if result.failures:
        _fail(f"{len(result.failures)} run(s) failed (the table leaves them out); rerun the same command to retry "
              "them (finished runs are reused):\n" + "\n".join(result.failures), code=1)

