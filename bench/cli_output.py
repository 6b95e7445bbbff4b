"""What the ``bench`` commands print: consoles that follow the terminal's width, the test-metrics table with
units, and the MLflow UI's addresses. rich is imported inside functions so ``bench --help`` stays cheap."""

from __future__ import annotations

METRICS = ("mae", "rmse", "r2", "mad_mae")
# R² at or below this: the model explains (almost) none of the test variance
NO_BETTER_THAN_MEAN_R2 = 0.05


def out_console():
    """stdout, as wide as the terminal (rich detects it, or reads ``COLUMNS``; 80 for a pipe)."""
    from rich.console import Console

    return Console(highlight=False)


def log_console():
    """stderr for progress and log lines: a line is never broken by rich (``soft_wrap``), so a path or an ETA
    stays whole whatever the width; the terminal wraps what it must."""
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)


def print_path(label: str, path) -> None:
    """``label: path`` on one line of its own, unstyled, so the path can be copied into the next command."""
    print(f"{label}: {path}", flush=True)


def metrics_table(title: str, metrics: dict, units: str):
    """The test metrics of one run: MAE and RMSE in the task's units, R² and MAD:MAE unitless."""
    from rich.table import Table

    table = Table(title=title)
    short = units and len(units) <= 12  # a long unit ("min-max scaled to [-1, 1] ...") stays in the caption
    for name in METRICS:
        head = {"r2": "R²", "mad_mae": "MAD:MAE"}.get(name, name.upper())
        table.add_column(f"{head} ({units})" if short and name in ("mae", "rmse") else head, justify="right",
                         no_wrap=True)
    table.add_row(*(f"{metrics[k]:.4g}" for k in METRICS))
    return table


def units_line(units: str) -> str:
    """Printed under the table rather than as its caption, which would wrap to the table's narrow width."""
    return f"MAE and RMSE in {units}; R² and MAD:MAE are unitless" if units else "R² and MAD:MAE are unitless"


def metrics_verdict(metrics: dict) -> str | None:
    """One line when the model is no better than the training mean, else None."""
    r2 = metrics.get("r2")
    if r2 is not None and r2 < -NO_BETTER_THAN_MEAN_R2:  # clearly negative: "≈ 0" would understate it
        return (f"R² = {r2:.3g} < 0: this model predicts worse than the training mean would (a larger "
                f"squared error on the test set)")
    if r2 is not None and r2 <= NO_BETTER_THAN_MEAN_R2:
        return "R² ≈ 0: this model is no better than predicting the training mean (MAD:MAE ≈ 1)"
    return None


def print_run_result(task: str, title: str, result) -> None:
    from rich.markup import escape

    from tasks import get_task

    out = out_console()
    units = get_task(task).units
    out.print(metrics_table(escape(title), result.test_metrics, units))
    out.print(units_line(units), markup=False)
    verdict = metrics_verdict(result.test_metrics)
    if verdict:
        out.print(verdict, markup=False)
    out.print(f"MLflow run: {result.run_id} · wall time {result.wall_seconds:.1f} s", markup=False)
    model = result.workdir / "model.pt"
    if model.exists():
        print_path("model", model)
    else:  # a baseline keeps no model file (bench/baseline_run.py)
        print_path("record", result.workdir / "result.json")


# The MLflow 3 UI opens on its GenAI pages unless the URL asks for the model-training ones; its routes are
# hash routes (#/experiments, #/experiments/<id>/runs) and ``workflowType`` is read from the query string.
_ML = "workflowType=machine_learning"


def ui_urls(base: str, experiments: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(label, URL) of the experiments list and of each experiment's runs view; ``experiments`` is
    ``[(id, name)]``."""
    base = base.rstrip("/")
    return ([("experiments", f"{base}/#/experiments?{_ML}")]
            + [(name, f"{base}/#/experiments/{eid}/runs?{_ML}") for eid, name in experiments])


def store_experiments(uri: str) -> list[tuple[str, str]]:
    """``[(id, name)]`` of the store's active experiments with at least one run, Default last; [] when the
    store cannot be read (the UI then starts anyway and shows MLflow's own message)."""
    try:
        import mlflow

        client = mlflow.MlflowClient(tracking_uri=uri)
        found = [(e.experiment_id, e.name) for e in client.search_experiments()
                 if client.search_runs([e.experiment_id], max_results=1)]
    except Exception:  # an unreadable store is MLflow's to report, once the UI is up
        return []
    return sorted(found, key=lambda e: (e[1] == "Default", e[1]))
