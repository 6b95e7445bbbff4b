"""``bench tune``: hyper-parameter search with Optuna (see bench/tune.py and docs/tuning.md).

Registered in bench/cli.py with ``app.command()(tune)``; ``python -m bench.cli_tune ...`` runs it on its own.
Heavy libraries are imported inside the command so ``bench --help`` stays instant.
"""

from __future__ import annotations

from typing import Optional

import typer


def tune(
    task: str = typer.Option(..., "--task", "-t", help="Task name (see `bench tasks`)."),
    strategy: str = typer.Option("scratch", "--strategy", "-s", help="scratch | ptft | mpt"),
    trials: int = typer.Option(20, "--trials", "-n", help="Complete trials the study should hold (rerunning "
                                                         "continues until it does)."),
    budget: str = typer.Option("quick", "--budget", "-b", help="smoke | quick | paper (each trial's budget)."),
    backbone: str = typer.Option("alignn", "--backbone", help="alignn | cgcnn | schnet (see `bench backbones`); "
                                 "studies of another backbone than alignn are named TASK-STRATEGY-BUDGET-BACKBONE."),
    ft_size: Optional[int] = typer.Option(None, "--ft-size", help="Tune on this fine-tuning subset's validation "
                                          "part (as `bench run --ft-size`); the study name adds -nN-tT."),
    trial: int = typer.Option(1, "--trial", help="Which subset of --ft-size (1-5)."),
    space: str = typer.Option("full", "--space", help="full: the whole recipe (a trial that draws another width "
                              "or depth pre-trains its own trunk) | finetune (ptft, mpt): only the fine-tuning "
                              "settings, on the budget's own trunk; the study name adds -finetune."),
    storage: Optional[str] = typer.Option(None, "--storage",
                                          help="Optuna storage: a sqlite file path or an SQLAlchemy URL, e.g. "
                                               "postgresql://user:pw@host/db (default: "
                                               "$BENCH_OPTUNA_STORAGE, else sqlite in the user data dir)."),
    study: Optional[str] = typer.Option(None, "--study", help="Study name (default TASK-STRATEGY-BUDGET)."),
    seed: int = typer.Option(0, "--seed", help="Seed of every trial's run."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N"),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", envvar="MLFLOW_TRACKING_URI",
                                               help="MLflow store (default: sqlite in the user data dir)."),
) -> None:
    """Tune hyper-parameters on the validation set; every trial is a tracked run. Rerun to continue.

    The best parameters are used by `bench run --task T --strategy S --params best`.
    """
    import json
    import signal

    from rich.console import Console

    from bench.dataset import DatasetError
    from bench.structures import TargetError
    from bench.tune import sanitise, storage_url, summary
    from bench.tune import tune as run_tune

    def _terminate(signum, frame):  # SIGTERM like Ctrl-C: the running trial queues its retry
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    console = Console(stderr=True)
    try:
        from bench.spec import RunSpec

        # every option before the study opens
        RunSpec(task, strategy, budget, seed, device, ft_size=ft_size, trial=trial, backbone=backbone)
        result = run_tune(task, strategy, trials, budget, storage, study, seed, device, tracking_uri, console,
                          backbone, ft_size=ft_size, trial=trial, space=space)
    except (DatasetError, TargetError, FileNotFoundError, ValueError, KeyError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        console.print(f"[bold red]error:[/] {message}", highlight=False)
        raise typer.Exit(2)
    info = summary(result)
    typer.echo(json.dumps(info, indent=2, default=str))
    url = sanitise(storage_url(storage))
    console.print(f"Watch it: `bench ui` (MLflow, experiment {task!r}, tag optuna.study = {result.study_name!r}) "
                  f"or `optuna-dashboard {url}`. Use it: `bench run --task {task} --strategy {strategy} "
                  f"--budget {budget}" + (f" --backbone {backbone}" if backbone != "alignn" else "")
                  + (f" --ft-size {ft_size} --trial {trial}" if ft_size is not None else "")
                  + (f" --study {result.study_name}" if ft_size is not None or space != "full" else "")
                  + " --params best`.", highlight=False)


def main() -> None:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(tune)
    app()


if __name__ == "__main__":
    main()
