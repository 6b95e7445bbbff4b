"""The ``bench`` command. Heavy libraries are imported inside commands so ``bench --help`` is instant."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(help="Benchmark transfer learning of materials properties with graph neural networks.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

# Commands that train or run models: worth re-executing under a fast allocator.
HEAVY = {"run", "predict"}


def _fail(message: str, code: int = 2) -> None:
    from rich.console import Console

    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


@app.command()
def run(
    task: str = typer.Option(..., "--task", "-t", help="Task name (see `bench tasks`)."),
    strategy: str = typer.Option("scratch", "--strategy", "-s", help="scratch"),
    budget: str = typer.Option("quick", "--budget", "-b", help="smoke | quick | paper"),
    seed: int = typer.Option(0, "--seed", help="Seed for initialisation, batch order and subsampling."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N"),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Override the budget's number of epochs."),
    ft_size: Optional[int] = typer.Option(None, "--ft-size", help="Train on a fine-tuning subset of this size."),
    trial: int = typer.Option(1, "--trial", help="Which random subset of --ft-size (1-5)."),
    fold: Optional[int] = typer.Option(None, "--fold", help="Cross-validation fold (tasks with k-fold splits)."),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", envvar="MLFLOW_TRACKING_URI",
                                               help="MLflow store (default: sqlite in the user data dir)."),
    fresh: bool = typer.Option(False, "--fresh", help="Discard checkpoints of this exact run and start over."),
) -> None:
    """Train on a task with a strategy; print test metrics; track the run in MLflow.

    Re-running an interrupted command resumes it from its last checkpoint.
    """
    from rich.console import Console
    from rich.table import Table

    from bench.budgets import BUDGETS
    from bench.dataset import DatasetError
    from bench.strategies import STRATEGIES
    from tasks import all_tasks

    if task not in all_tasks():
        _fail(f"unknown task {task!r}; known tasks: {', '.join(sorted(all_tasks()))}")
    if strategy not in STRATEGIES:
        _fail(f"unknown strategy {strategy!r}; known strategies: {', '.join(STRATEGIES)}")
    if budget not in BUDGETS:
        _fail(f"unknown budget {budget!r}; known budgets: {', '.join(BUDGETS)}")

    from bench.run import run_benchmark
    from bench.structures import TargetError

    console = Console(stderr=True)
    try:
        result = run_benchmark(task, strategy, budget, seed, device, tracking_uri, epochs, fresh, console,
                               ft_size=ft_size, trial=trial, fold=fold)
    except (DatasetError, TargetError, FileNotFoundError, ValueError) as err:
        _fail(str(err))
    table = Table(title=f"{task} · {strategy} · {budget} · seed {seed}: test metrics")
    for name in ("mae", "rmse", "r2", "mad_mae"):
        table.add_column(name.upper().replace("_", ":") if name != "r2" else "R²", justify="right")
    table.add_row(*(f"{result.test_metrics[k]:.4g}" for k in ("mae", "rmse", "r2", "mad_mae")))
    Console().print(table)
    Console().print(f"MLflow run: {result.run_id} · wall time {result.wall_seconds:.1f} s · "
                    f"model: {result.workdir / 'model.pt'}")


tasks_app = typer.Typer(help="List tasks, or show one task's card.", invoke_without_command=True)
app.add_typer(tasks_app, name="tasks")


@tasks_app.callback()
def tasks(ctx: typer.Context) -> None:
    """List the registered tasks (``bench tasks show T`` prints one task's card)."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.console import Console
    from rich.table import Table

    from tasks import all_tasks

    table = Table(title="Tasks")
    for col in ("name", "target", "units", "role", "split", "source"):
        table.add_column(col, overflow="fold")
    for t in all_tasks().values():
        table.add_row(t.name, t.target + (f" ({t.target_transform})" if t.target_transform else ""), t.units,
                      ", ".join(t.role), t.split.describe(), t.citation)
    Console(width=200).print(table)


@tasks_app.command("show")
def tasks_show(name: str = typer.Argument(..., help="Task name.")) -> None:
    """Print a task's card: source, size, units, target statistics, splits, what cleaning removed."""
    from tasks import all_tasks

    if name not in all_tasks():
        _fail(f"unknown task {name!r}; known tasks: {', '.join(sorted(all_tasks()))}")
    from bench.paths import data_dir
    from tasks.card import render_card

    try:
        typer.echo(render_card(all_tasks()[name], data_dir()))
    except FileNotFoundError as err:
        _fail(str(err))


@app.command()
def predict(
    model: str = typer.Option(..., "--model", "-m", help="Path to a model.pt (or a run folder) or an MLflow run id."),
    files: List[Path] = typer.Argument(..., help="Structure files: CIF, POSCAR, or JSON (pymatgen / JARVIS)."),
    device: str = typer.Option("cpu", "--device"),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", envvar="MLFLOW_TRACKING_URI"),
) -> None:
    """Predict the property of each structure file with a trained model (one line per structure)."""
    from bench.predict import predict_files, resolve_model
    from bench.structures import StructureError

    try:
        net, params, meta = resolve_model(model, device, tracking_uri)
        for path, value in predict_files(net, params, files, device):
            typer.echo(f"{path}\t{value:.6g}\t{meta.get('units', '')}")
    except (StructureError, FileNotFoundError, ValueError) as err:
        _fail(str(err))


@app.command()
def ui(
    port: int = typer.Option(5000, "--port"),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", envvar="MLFLOW_TRACKING_URI"),
) -> None:
    """Start the MLflow UI on 127.0.0.1 for the benchmark's tracking store."""
    import os

    from bench.paths import default_tracking_uri

    uri = tracking_uri or default_tracking_uri()
    typer.echo(f"MLflow UI for {uri} at http://127.0.0.1:{port}")
    os.execvp(sys.executable, [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
                               "--host", "127.0.0.1", "--port", str(port)])


def _register_subapps() -> None:
    from bench.cli_data import data_app

    app.add_typer(data_app, name="data")


_register_subapps()


def main() -> None:
    argv = sys.argv[1:]
    if argv and argv[0] in HEAVY and "--help" not in argv:
        from bench.allocator import maybe_reexec

        maybe_reexec(argv)
    app(args=argv, prog_name="bench")


if __name__ == "__main__":
    main()
