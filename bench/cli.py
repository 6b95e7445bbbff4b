"""The ``bench`` command. Heavy libraries are imported inside commands so ``bench --help`` is instant."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(help="Benchmark transfer learning of materials properties with graph neural networks.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

# Commands that train or run models: worth re-executing under a fast allocator.
HEAVY = {"run", "predict", "pretrain", "sweep", "tune", "perf"}


def _fail(message: str, code: int = 2) -> None:
    from rich.console import Console

    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


@app.command()
def run(
    task: str = typer.Option(..., "--task", "-t", help="Task name (see `bench tasks`)."),
    strategy: str = typer.Option("scratch", "--strategy", "-s", help="scratch | ptft | mpt"),
    pt_source: Optional[str] = typer.Option(None, "--pt-source", help="ptft: source task or code (fe, bg, ...)."),
    pt_size: Optional[str] = typer.Option(None, "--pt-size", help="Pre-training structures per source: N, 1000, all."),
    mpt_sources: Optional[str] = typer.Option(None, "--mpt-sources", help="mpt: comma-separated sources."),
    ft_mode: str = typer.Option("all", "--ft-mode", help="all | last-layer | new-head | 2-body | 3-body | all-but-embedding"),
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
    params: Optional[str] = typer.Option(None, "--params", help="best: the best parameters `bench tune` found for "
                                         "this task, strategy and budget; or a JSON object, e.g. '{\"lr\": 0.003}'."),
    study: Optional[str] = typer.Option(None, "--study", help="--params best: study name (default TASK-STRATEGY-BUDGET)."),
    storage: Optional[str] = typer.Option(None, "--storage", help="--params best: Optuna storage (default as `bench tune`)."),
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
    from bench.finetune import MODES

    if ft_mode not in MODES:
        _fail(f"unknown fine-tuning mode {ft_mode!r}; known modes: {', '.join(MODES)}")
    pretrain = {"source": pt_source, "pt_size": _pt_size(pt_size),
                "sources": mpt_sources.split(",") if mpt_sources else None}

    from bench.run import run_benchmark
    from bench.structures import TargetError

    console = Console(stderr=True)
    try:
        from bench.tune import resolve_params

        overrides = resolve_params(params, task, strategy, budget, storage, study, console)
        result = run_benchmark(task, strategy, budget, seed, device, tracking_uri, epochs, fresh, console,
                               ft_size=ft_size, trial=trial, fold=fold, pretrain=pretrain, ft_mode=ft_mode,
                               overrides=overrides)
    except (DatasetError, TargetError, FileNotFoundError, ValueError, KeyError) as err:
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


def _pt_size(value: Optional[str]):
    if value is None or value in ("all", "1000"):
        return value
    try:
        return int(value)
    except ValueError:
        _fail(f"--pt-size must be a number, 1000 or all; got {value!r}")


@app.command()
def pretrain(
    source: Optional[str] = typer.Option(None, "--source", help="Pre-training source (task name or code)."),
    sources: Optional[str] = typer.Option(None, "--sources", help="mpt: comma-separated sources."),
    strategy: str = typer.Option("ptft", "--strategy", help="ptft (one source) | mpt (several)"),
    pt_size: Optional[str] = typer.Option("941", "--pt-size", help="Structures per source: N, 1000, all."),
    budget: str = typer.Option("quick", "--budget", "-b"),
    seed: int = typer.Option(0, "--seed"),
    for_task: Optional[str] = typer.Option(None, "--for-task",
                                           help="Target task whose test structures are excluded (what "
                                                "`bench run --task T` uses)."),
    weighting: str = typer.Option("equal", "--weighting", help="mpt property weighting: equal | count"),
    device: str = typer.Option("auto", "--device"),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", envvar="MLFLOW_TRACKING_URI"),
) -> None:
    """Pre-train a trunk and store it in the checkpoint cache (reused by `bench run`)."""
    import json

    from rich.console import Console

    from bench.pretrain import PretrainSpec, pretrained_model
    from bench.run import _backbone_defaults, resolve_device
    from bench.budgets import get_budget
    from bench.strategies import excluded_tests, resolve_source

    try:
        names = [resolve_source(s, for_task) for s in (sources.split(",") if sources else [source] if source else [])]
        if not names:
            _fail("give --source S (ptft) or --sources A,B,C (mpt)")
        if strategy == "mpt" and len(names) < 2:
            _fail("--strategy mpt needs at least two --sources")
        spec = PretrainSpec(tuple(names), _pt_size(pt_size), budget, seed, "alignn",
                            _backbone_defaults("alignn") | get_budget(budget).backbone,
                            excluded_tests(for_task) if for_task else (), weighting)
        _, card = pretrained_model(spec, Console(stderr=True), resolve_device(device), tracking_uri)
    except (KeyError, ValueError, FileNotFoundError) as err:
        _fail(str(err))
    typer.echo(json.dumps({k: card[k] for k in ("key", "data", "metrics", "wall_seconds")}, indent=2, default=str))


@app.command()
def sweep(
    task: str = typer.Option(..., "--task", "-t"),
    strategies: str = typer.Option("scratch,ptft,mpt", "--strategies"),
    ft_sizes: str = typer.Option("10,100,200,500,800", "--ft-sizes", help="Comma-separated; 'all' = whole pool."),
    trials: str = typer.Option("1-5", "--trials", help="e.g. 1-5 or 1,3"),
    pt_sources: str = typer.Option("fe", "--pt-sources", help="ptft sources, comma-separated."),
    pt_sizes: Optional[str] = typer.Option(None, "--pt-sizes", help="PT-size study, e.g. 941,1000,5000,all."),
    mpt_sources: Optional[str] = typer.Option(None, "--mpt-sources"),
    ft_mode: str = typer.Option("all", "--ft-mode"),
    budget: str = typer.Option("quick", "--budget", "-b"),
    seed: int = typer.Option(0, "--seed"),
    epochs: Optional[int] = typer.Option(None, "--epochs"),
    metric: str = typer.Option("mae", "--metric", help="Metric of the summary table: mae | rmse | r2 | mad_mae"),
    export: bool = typer.Option(False, "--export", help="Write each cell's result record to --results-dir as "
                                "the cell completes."),
    results_dir: Optional[Path] = typer.Option(None, "--results-dir", help="Committed records: cells recorded "
                                               "here are skipped, --export writes here (default "
                                               "leaderboard/results/)."),
    workers: int = typer.Option(1, "--workers", "-j", help="Cells run at once, each in its own process (Dask); "
                                "1: one after another in this process."),
    threads_per_worker: Optional[int] = typer.Option(None, "--threads-per-worker",
                                                     help="torch threads per cell (default 1 with --workers N)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Run on an existing Dask cluster, e.g. "
                                            "tcp://HOST:8786 (docs/sweeps.md)."),
    device: str = typer.Option("auto", "--device"),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", envvar="MLFLOW_TRACKING_URI"),
) -> None:
    """Run a grid of strategies x FT sizes x trials, in parallel with --workers N; cells committed in
    leaderboard/results/ or finished in MLflow are skipped; prints the comparison."""
    from rich.console import Console
    from rich.table import Table

    from bench.dataset import DatasetError
    from bench.records import RESULTS_DIR
    from bench.sweep import SweepError, SweepSpec, grid, parse_trials, run_sweep, summarise

    if metric not in ("mae", "rmse", "r2", "mad_mae"):
        _fail(f"--metric must be one of mae, rmse, r2, mad_mae; got {metric!r}")
    console = Console(stderr=True)
    try:
        try:
            sizes = [None if s == "all" else int(s) for s in ft_sizes.split(",")]
        except ValueError:
            raise ValueError(f"--ft-sizes takes numbers or 'all', comma-separated; got {ft_sizes!r}") from None
        cells = grid(strategies.split(","), sizes, parse_trials(trials), pt_sources.split(","),
                     [_pt_size(s) for s in pt_sizes.split(",")] if pt_sizes else [None],
                     mpt_sources.split(",") if mpt_sources else None)
        spec = SweepSpec(task, budget, seed, device, epochs, ft_mode, tracking_uri, results_dir or RESULTS_DIR,
                         export, workers, threads_per_worker, scheduler)
        outcome = run_sweep(spec, cells, console)
    except (KeyError, ValueError, FileNotFoundError, DatasetError, SweepError) as err:
        _fail(str(err))
    if outcome.rows:
        table = Table(title=f"{task}: test {metric} (mean ± std over trials; paired difference vs scratch)")
        for col in ("strategy", "FT size", "n", metric, "Δ vs scratch"):
            table.add_column(col, justify="right" if col != "strategy" else "left")
        for r in summarise(outcome.rows, metric):
            diff = ("" if r["paired_diff_mean"] is None else
                    f"{r['paired_diff_mean']:+.4g} ± {r['paired_diff_std'] or 0:.2g} ({r['n_paired']} paired)")
            table.add_row(r["label"], str(r["ft_size"] or "all"), str(r["n"]), f"{r['mean']:.4g} ± {r['std']:.2g}",
                          diff)
        Console(width=160).print(table)
    if outcome.failures:
        _fail(f"{len(outcome.failures)} cell(s) failed; rerun the same command to retry them (finished cells "
              "are skipped):\n" + "\n".join(outcome.failures), code=1)


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
    from bench.cli_cache import cache_app
    from bench.cli_data import data_app
    from bench.cli_leaderboard import leaderboard_app

    app.add_typer(data_app, name="data")
    app.add_typer(leaderboard_app, name="leaderboard")
    from bench.cli_perf import perf
    from bench.cli_tune import tune

    app.command()(tune)
    app.command("perf")(perf)
    app.add_typer(cache_app, name="cache")


_register_subapps()


def main() -> None:
    argv = sys.argv[1:]
    if argv and argv[0] in HEAVY and "--help" not in argv:
        from bench.allocator import maybe_reexec

        maybe_reexec(argv)
    app(args=argv, prog_name="bench")


if __name__ == "__main__":
    main()
