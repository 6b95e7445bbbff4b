"""The ``bench`` command. Heavy libraries are imported inside commands so ``bench --help`` is instant."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import List, Optional

import typer
from typer.core import TyperGroup


class PlainHelpGroup(TyperGroup):
    """Click's plain help, with each command's whole first sentence.

    typer's rich help imports ~100 ms of rich.markdown, markdown_it and friends (1 s on the loaded 2-core
    machine), and plain click cuts a command's one-line help to the terminal width with "...".
    """

    def get_help_option(self, ctx):
        # typer coerces a flag through pydantic (~80 ms of imports) unless its value is already a bool, and the
        # help flag's default is None: `bench run --help` paid that for the group's own, unused, --help.
        option = super().get_help_option(ctx)
        if option is not None and option.default is None:
            option.default = False
        return option

    def format_commands(self, ctx, formatter) -> None:
        rows = [(name, cmd.get_short_help_str(limit=1000)) for name in self.list_commands(ctx)
                if (cmd := self.get_command(ctx, name)) is not None and not cmd.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


# rich_markup_mode=None reaches every command and sub-app (typer passes the top level's mode down).
app = typer.Typer(help="Benchmark transfer learning of materials properties with graph neural networks.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  rich_markup_mode=None, cls=PlainHelpGroup)

# Commands that train or run models: worth re-executing under a fast allocator.
HEAVY = {"run", "predict", "pretrain", "sweep", "tune", "perf", "compare"}


def _fail(message: str, code: int = 2) -> None:
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(code)


# Exit codes: 2 bad input (an option, a data file, a task too small), 3 busy (--no-wait and another process
# holds the run), 130 interrupted (as a shell reports Ctrl-C).
EXIT_BAD_INPUT, EXIT_BUSY, EXIT_INTERRUPTED = 2, 3, 130


@contextlib.contextmanager
def _user_errors(resume_hint: bool = True, resume: str = "resume from the last checkpoint"):
    """Errors of the user's input or situation become one line and an exit code, not a traceback; anything
    else (a bug) keeps its traceback. Ctrl-C says that re-typing the command goes on (``resume``: how)."""
    try:
        yield
    except KeyboardInterrupt:
        _fail("interrupted" + (f"; run the same command again to {resume}" if resume_hint else ""),
              EXIT_INTERRUPTED)
    except Exception as err:
        from bench.locks import LockBusy

        if isinstance(err, LockBusy):
            _fail(str(err), EXIT_BUSY)
        if _is_user_error(err):
            # a KeyError's str() is the repr of its message: show the message itself
            _fail(str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err), EXIT_BAD_INPUT)
        raise


def _is_user_error(err: Exception) -> bool:
    from bench.dataset import DatasetError
    from bench.structures import TargetError

    # ValueError covers SpecError and DatasetError; a NonFiniteLossError (bench.train), whatever its base, is
    # a property of the run's data and settings, not a bug
    return (isinstance(err, (DatasetError, TargetError, FileNotFoundError, ValueError, KeyError))
            or type(err).__name__ == "NonFiniteLossError")


@app.command()
def run(
    task: str = typer.Option(..., "--task", "-t", help="Task name (see `bench tasks`)."),
    strategy: str = typer.Option("scratch", "--strategy", "-s", help="scratch | ptft | mpt"),
    pt_source: Optional[str] = typer.Option(None, "--pt-source", help="ptft: source task or code (fe, bg, ...); "
                                            "mptrj: the shipped CHGNet weights (--backbone chgnet's default)."),
    pt_size: Optional[str] = typer.Option(None, "--pt-size", help="Pre-training structures per source: N, 1000, all."),
    mpt_sources: Optional[str] = typer.Option(None, "--mpt-sources", help="mpt: comma-separated sources."),
    allow_target_source: bool = typer.Option(False, "--allow-target-source",
                                             help="ptft/mpt: accept a pre-training source of the target's own "
                                                  "property (refused otherwise; the record says so)."),
    ft_mode: str = typer.Option("all", "--ft-mode", help="all | last-layer | new-head | 2-body | 3-body | all-but-embedding"),
    backbone: str = typer.Option("alignn", "--backbone", help="alignn | cgcnn | schnet | chgnet, or a baseline: mean | composition-gbr (see `bench backbones`)."),
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
                                         "this task, strategy and budget; or a JSON object, e.g. '{\"lr\": 0.003}'; "
                                         "scratch runs also take the graph levers three_body_cutoff (Å) and "
                                         "neighbor_cap (PERFORMANCE.md, Cheaper graphs)."),
    study: Optional[str] = typer.Option(None, "--study", help="--params best: study name (default TASK-STRATEGY-BUDGET)."),
    storage: Optional[str] = typer.Option(None, "--storage", help="--params best: Optuna storage (default as `bench tune`)."),
    no_wait: bool = typer.Option(False, "--no-wait", help="If the same run is running elsewhere, say who runs it and "
                                 "exit (code 3) instead of waiting for its result."),
) -> None:
    """Train on a task with a strategy; print test metrics; track the run in MLflow.

    Re-running an interrupted command resumes it from its last checkpoint; an identical run already running
    is waited for, and its result reported.
    """
    from bench.cli_output import log_console, print_run_result

    console = log_console()
    with _user_errors():
        from bench.run import run_benchmark
        from bench.spec import RunSpec, check_pt_size, check_strategy, check_task
        from bench.tune import resolve_params

        check_task(task), check_strategy(strategy)  # before --params best looks for a study of them
        spec = RunSpec(task, strategy, budget, seed, device, epochs, ft_size, trial, fold, pt_source,
                       tuple(mpt_sources.split(",")) if mpt_sources else None, check_pt_size(pt_size),
                       ft_mode=ft_mode, backbone=backbone, allow_target_source=allow_target_source,
                       overrides=resolve_params(params, task, strategy, budget, storage, study, console,
                                                backbone) or {})
        result = run_benchmark(spec=spec, tracking_uri=tracking_uri, fresh=fresh, console=console,
                               wait=not no_wait)
    print_run_result(task, f"{task} · {strategy} · {budget} · seed {seed}: test metrics", result)


tasks_app = typer.Typer(help="List tasks, or show one task's card.", invoke_without_command=True)
app.add_typer(tasks_app, name="tasks", cls=PlainHelpGroup)


@tasks_app.callback()
def tasks(ctx: typer.Context) -> None:
    """List the registered tasks (``bench tasks show T`` prints one task's card)."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.console import Console
    from rich.table import Table

    from tasks import all_tasks

    console = Console()
    wide = console.width >= 140  # the citations only fit a wide terminal; every card has them
    table = Table(title="Tasks" if wide else "Tasks (sources: `bench tasks show NAME`)")
    table.add_column("name", no_wrap=True)  # an id to type: never split
    for col in ("target", "units", "role", "split") + (("source",) if wide else ()):
        table.add_column(col, overflow="fold")
    for t in all_tasks().values():
        table.add_row(t.name, t.target + (f" ({t.target_transform})" if t.target_transform else ""), t.units,
                      "\n".join(t.role), t.split.describe(), *([t.citation] if wide else []))
    console.print(table)


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
    from bench.spec import SpecError, check_pt_size

    try:
        return check_pt_size(value)
    except SpecError as err:
        _fail(str(err))


@app.command()
def pretrain(
    source: Optional[str] = typer.Option(None, "--source", help="Pre-training source (task name or code)."),
    sources: Optional[str] = typer.Option(None, "--sources", help="mpt: comma-separated sources."),
    strategy: str = typer.Option("ptft", "--strategy", help="ptft (one source) | mpt (several)"),
    pt_size: Optional[str] = typer.Option("941", "--pt-size", help="Structures per source: N, 1000, all."),
    backbone: str = typer.Option("alignn", "--backbone", help="alignn | cgcnn | schnet (chgnet ships pre-trained: --pt-source mptrj; see `bench backbones`)."),
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

    with _user_errors():
        from bench import spec as checks
        from bench.foundation import check_pretrain_command
        from bench.pretrain import PretrainSpec, pretrained_model
        from bench.run import budget_backbone_config, resolve_device
        from bench.strategies import excluded_tests

        # every option first: nothing is loaded and no cache folder exists until all are valid
        checks.check_choice("--strategy", strategy, ["ptft", "mpt"])
        if for_task is not None:
            checks.check_task(for_task)
        given = sources.split(",") if sources else [source] if source else []
        if not given:
            _fail("give --source S (ptft) or --sources A,B,C (mpt)")
        if strategy == "mpt" and len(given) < 2:
            _fail("--strategy mpt needs at least two --sources")
        if strategy == "ptft" and len(given) > 1:
            _fail("--strategy ptft pre-trains on one --source; several --sources are --strategy mpt")
        checks.check_backbone(backbone)
        from backbones.baselines import is_baseline

        if is_baseline(backbone):
            _fail(f"--backbone {backbone} is a baseline, trained on the target alone: it has no trunk to pre-train")
        try:  # a shipped trunk (mptrj), a backbone not pre-trained here (chgnet)
            check_pretrain_command(backbone, given)
        except ValueError as err:
            raise checks.SpecError(str(err)) from None
        names = checks.check_sources("--sources" if sources else "--source", given, for_task)
        size = checks.check_pt_size(pt_size)
        checks.check_budget(budget), checks.check_int("--seed", seed, 0), checks.check_device(device)
        checks.check_choice("--weighting", weighting, checks.WEIGHTINGS)
        spec = PretrainSpec(names, size, budget, seed, backbone, budget_backbone_config(backbone, budget),
                            excluded_tests(for_task) if for_task else (), weighting)
        _, card = pretrained_model(spec, Console(stderr=True, soft_wrap=True), resolve_device(device), tracking_uri)
    shown = ("key", "mlflow_run_id", "data", "metrics", "wall_seconds")  # older cards have no run id
    typer.echo(json.dumps({k: card[k] for k in shown if k in card}, indent=2, default=str))


@app.command()
def sweep(
    task: str = typer.Option(..., "--task", "-t"),
    strategies: str = typer.Option("scratch,ptft,mpt", "--strategies"),
    ft_sizes: str = typer.Option("10,100,200,500,800", "--ft-sizes", help="Comma-separated; 'all' = whole pool."),
    trials: str = typer.Option("1-5", "--trials", help="e.g. 1-5 or 1,3"),
    pt_sources: str = typer.Option("fe", "--pt-sources", help="ptft sources, comma-separated."),
    pt_sizes: Optional[str] = typer.Option(None, "--pt-sizes", help="PT-size study, e.g. 941,1000,5000,all."),
    mpt_sources: Optional[str] = typer.Option(None, "--mpt-sources"),
    allow_target_source: bool = typer.Option(False, "--allow-target-source",
                                             help="ptft/mpt: accept a pre-training source of the target's own "
                                                  "property (refused otherwise; the record says so)."),
    ft_mode: str = typer.Option("all", "--ft-mode"),
    backbone: str = typer.Option("alignn", "--backbone", help="alignn | cgcnn | schnet | chgnet, or a baseline: mean | composition-gbr (see `bench backbones`)."),
    budget: str = typer.Option("quick", "--budget", "-b"),
    seed: int = typer.Option(0, "--seed"),
    epochs: Optional[int] = typer.Option(None, "--epochs"),
    params: Optional[str] = typer.Option(None, "--params", help="JSON object of parameters for every cell, as "
                                         "`bench run --params` (e.g. '{\"three_body_cutoff\": 3.5}')."),
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

    from bench.records import RESULTS_DIR
    from bench.sweep import SweepError, SweepSpec, grid, parse_trials, run_sweep, summarise

    if metric not in ("mae", "rmse", "r2", "mad_mae"):
        _fail(f"--metric must be one of mae, rmse, r2, mad_mae; got {metric!r}")
    console = Console(stderr=True, soft_wrap=True)
    with _user_errors(resume="resume: finished runs are skipped, the interrupted one goes on from its last "
                             "checkpoint"):
        from bench.spec import RunSpec, SpecError
        from bench.tune import resolve_params

        if params == "best":
            raise SpecError("--params best is per strategy (a study each): give a JSON object to bench sweep")
        overrides = resolve_params(params, task, "scratch", budget, console=console) or {}
        try:
            sizes = [None if s == "all" else int(s) for s in ft_sizes.split(",")]
        except ValueError:
            raise SpecError(f"--ft-sizes takes numbers or 'all', comma-separated; got {ft_sizes!r}") from None
        try:
            trial_list = parse_trials(trials)
        except ValueError:
            raise SpecError(f"--trials takes a range or a list, e.g. 1-5 or 1,3; got {trials!r}") from None
        cells = grid(strategies.split(","), sizes, trial_list, pt_sources.split(","),
                     [_pt_size(s) for s in pt_sizes.split(",")] if pt_sizes else [None],
                     mpt_sources.split(",") if mpt_sources else None)
        for cell in cells if allow_target_source else ():
            if cell.strategy != "scratch":
                cell.pretrain = {**cell.pretrain, "allow_target_source": True}
        for cell in cells:  # every cell's options before the first run starts
            RunSpec.from_options(task, cell.strategy, budget, seed, device, epochs, cell.ft_size, cell.trial,
                                 None, cell.pretrain, ft_mode if cell.strategy != "scratch" else "all",
                                 overrides=overrides, backbone=backbone)
        spec = SweepSpec(task, budget, seed, device, epochs, ft_mode, tracking_uri, results_dir or RESULTS_DIR,
                         export, workers, threads_per_worker, scheduler, backbone,
                         overrides=overrides)
        try:
            outcome = run_sweep(spec, cells, console)
        except SweepError as err:
            _fail(str(err))
    if outcome.rows:
        table = Table(title=f"{task}: test {metric} (mean ± std over trials; paired difference vs scratch)")
        for col in ("strategy", "FT size", "n", metric, "Δ vs scratch"):
            table.add_column(col, justify="right" if col != "strategy" else "left", no_wrap=col == "strategy")
        for r in summarise(outcome.rows, metric):
            diff = ("" if r["paired_diff_mean"] is None else
                    f"{r['paired_diff_mean']:+.4g} ± {r['paired_diff_std'] or 0:.2g} ({r['n_paired']} paired)")
            table.add_row(r["label"], str(r["ft_size"] or "all"), str(r["n"]), f"{r['mean']:.4g} ± {r['std']:.2g}",
                          diff)
        Console().print(table)
    if outcome.failures:
        _fail(f"{len(outcome.failures)} cell(s) failed; rerun the same command to retry them (finished cells "
              "are skipped):\n" + "\n".join(outcome.failures), code=1)


@app.command()
def predict(
    model: str = typer.Option(..., "--model", "-m", help="Path to a model.pt (or a run folder) or an MLflow run id."),
    files: List[Path] = typer.Argument(..., help="Structure files: CIF, POSCAR, or JSON (pymatgen / JARVIS)."),
    device: str = typer.Option("cpu", "--device"),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", envvar="MLFLOW_TRACKING_URI"),
    fmt: str = typer.Option("table", "--format", help="table (file, value, units per line) | csv | json; csv "
                            "and json also list the files that failed, with the reason."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the predictions to FILE, not stdout."),
) -> None:
    """Predict the property of each structure file with a trained model (one line per structure).

    A file that cannot be used is reported on stderr with its reason, the others are still predicted, and
    the exit status is 2 when any file failed.
    """
    from bench.predict import FORMATS, predict_files, render, resolve_model

    if fmt not in FORMATS:
        _fail(f"unknown --format {fmt!r}; expected one of {', '.join(FORMATS)}")
    try:
        net, params, meta = resolve_model(model, device, tracking_uri)
    except (FileNotFoundError, ValueError, ImportError) as err:  # ImportError: a backbone's extra is missing
        _fail(str(err))
    predictions = list(predict_files(net, params, files, device, units=meta.get("units", "")))
    text = render(predictions, fmt)
    if output is None:
        typer.echo(text, nl=False)
    else:
        try:
            output.write_text(text)
        except OSError as err:
            _fail(f"cannot write --output {output}: {err}")
    failed = [p for p in predictions if p.error is not None]
    if failed:
        from rich.console import Console
        from rich.markup import escape

        err_console = Console(stderr=True, highlight=False, soft_wrap=True)
        for p in failed:
            err_console.print(f"[bold red]error:[/] {escape(p.error)}")
        done = len(predictions) - len(failed)
        where = f" in {output}" if output is not None else ""
        err_console.print(f"{len(failed)} of {len(predictions)} files failed; {done} predicted{where}", markup=False)
        raise typer.Exit(2)


@app.command()
def ui(
    port: int = typer.Option(5000, "--port"),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", envvar="MLFLOW_TRACKING_URI"),
) -> None:
    """Start the MLflow UI on 127.0.0.1 for the benchmark's tracking store; print the address of each
    experiment's runs (MLflow's own start page shows its GenAI views, not the runs)."""
    import os

    from bench.cli_output import store_experiments, ui_urls
    from bench.paths import default_tracking_uri

    uri = tracking_uri or default_tracking_uri()
    typer.echo(f"MLflow UI for {uri}; open:")
    for label, url in ui_urls(f"http://127.0.0.1:{port}", store_experiments(uri)):
        typer.echo(f"  {label}: {url}")
    os.execvp(sys.executable, [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
                               "--host", "127.0.0.1", "--port", str(port)])


def _register_subapps() -> None:
    from bench.cli_cache import cache_app
    from bench.cli_data import data_app
    from bench.cli_leaderboard import leaderboard_app

    app.add_typer(data_app, name="data", cls=PlainHelpGroup)
    app.add_typer(leaderboard_app, name="leaderboard", cls=PlainHelpGroup)
    from bench.cli_backbones import backbones
    from bench.cli_compare import compare
    from bench.cli_perf import perf
    from bench.cli_tune import tune

    app.command()(tune)
    app.command()(compare)
    app.command()(backbones)
    app.command("perf")(perf)
    app.add_typer(cache_app, name="cache", cls=PlainHelpGroup)
    from bench.cli_models import models_app

    app.add_typer(models_app, name="models", cls=PlainHelpGroup)


_register_subapps()


def main() -> None:
    argv = sys.argv[1:]
    if argv and argv[0] in HEAVY and "--help" not in argv:
        from bench.allocator import maybe_reexec

        maybe_reexec(argv)
    app(args=argv, prog_name="bench")


if __name__ == "__main__":
    main()
