"""``bench leaderboard``: build the static leaderboard site from result records; export records from MLflow.

Heavy libraries (matplotlib, mlflow) are imported inside the commands so ``bench --help`` stays instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

leaderboard_app = typer.Typer(help="Build the static leaderboard site; export result records from MLflow.",
                              no_args_is_help=True)


def _fail(message: str, code: int = 2) -> None:
    from rich.console import Console

    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(code)


@leaderboard_app.command("build")
def build(
    results: Optional[Path] = typer.Option(None, "--results", help="Folder of result records "
                                           "(default: leaderboard/results/ of this checkout)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default: build/leaderboard/)."),
    reference: Optional[Path] = typer.Option(None, "--reference", help="The paper's per-run metrics csv "
                                             "(default: the copy shipped in leaderboard/paper/)."),
    no_reference: bool = typer.Option(False, "--no-reference", help="Leave out the paper's reference rows."),
) -> None:
    """Read the committed result records and write the static site (index.html, one page per task, PNG plots)."""
    from rich.markup import escape

    from leaderboard.build import DEFAULT_OUT, DEFAULT_REFERENCE, DEFAULT_RESULTS, build_site
    from leaderboard.records import RecordError

    results = results or DEFAULT_RESULTS
    out = out or DEFAULT_OUT
    if no_reference:
        reference = None
    elif reference is None:
        reference = DEFAULT_REFERENCE if DEFAULT_REFERENCE.exists() else None
    elif not reference.exists():
        _fail(f"reference csv {escape(str(reference))} not found")
    try:
        report = build_site(results, out, reference)
    except RecordError as err:
        _fail(escape(str(err)))
    except (FileNotFoundError, ValueError) as err:
        _fail(escape(str(err)))
    typer.echo(f"Leaderboard: {report.n_records} record(s), {len(report.tasks)} task page(s), "
               f"{len(report.images)} plot(s)" + ("" if reference else "; no paper reference rows"))
    typer.echo(f"Open {report.index.resolve().as_uri()}")


@leaderboard_app.command("compare")
def compare(
    task: Optional[List[str]] = typer.Option(None, "--task", "-t", help="Only these tasks (repeatable)."),
    ft_size: Optional[List[int]] = typer.Option(None, "--ft-size", help="Only these FT sizes (repeatable)."),
    results: Optional[Path] = typer.Option(None, "--results", help="Folder of result records."),
    reference: Optional[Path] = typer.Option(None, "--reference", help="The paper's per-run metrics csv."),
    markdown: bool = typer.Option(False, "--markdown", help="Print a Markdown table (for notes and docs)."),
) -> None:
    """Our committed runs beside the paper's on the same targets, FT sizes and trials (MAE and R²)."""
    from rich.markup import escape

    from leaderboard.build import DEFAULT_REFERENCE, DEFAULT_RESULTS
    from leaderboard.compare import compare as compare_cells
    from leaderboard.records import RecordError, load_records

    reference = reference or DEFAULT_REFERENCE
    if not reference.exists():
        _fail(f"reference csv {escape(str(reference))} not found; pass --reference")
    try:
        cells = compare_cells(load_records(results or DEFAULT_RESULTS), reference, task or None, ft_size or None)
    except (RecordError, FileNotFoundError, ValueError) as err:
        _fail(escape(str(err)))
    if not cells:
        _fail("no result records match")

    def ms(v, digits=4):
        return "—" if v is None else f"{v[0]:.{digits}f} ± {v[1]:.{digits}f}"

    head = ["task", "FT", "strategy", "budget", "trials", "MAE ours", "MAE paper (same trials)", "MAE paper (all)",
            "ΔMAE paired", "R² ours", "R² paper (same trials)"]
    lines = []
    for c in cells:
        mae, r2 = c.stats("mae"), c.stats("r2")
        lines.append([c.task, str(c.ft_size or "all"), c.label, c.budget, ",".join(map(str, mae["trials"])),
                      ms(mae["ours"]), ms(mae["paper_same_trials"]),
                      ms(mae["paper_all"]) + (f" (n={mae['n_paper_all']})" if mae["paper_all"] else ""),
                      ms(mae["paired_diff"]), ms(r2["ours"], 3), ms(r2["paper_same_trials"], 3)])
    if markdown:
        typer.echo("| " + " | ".join(head) + " |")
        typer.echo("|" + "---|" * len(head))
        for line in lines:
            typer.echo("| " + " | ".join(line) + " |")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="ours vs Devi et al. 2024 (MAE in the paper's scaled units; paired by trial)")
    for h in head:
        table.add_column(h, no_wrap=h == "task")  # the task is an id to type: never split
    for line in lines:
        table.add_row(*line)
    Console().print(table)


@leaderboard_app.command("replication")
def replication(
    results: Optional[Path] = typer.Option(None, "--results", help="Folder of result records "
                                           "(default: leaderboard/results/)."),
    reference: Optional[Path] = typer.Option(None, "--reference", help="The paper's per-run metrics csv "
                                             "(default: the copy shipped in leaderboard/paper/)."),
    markdown: bool = typer.Option(False, "--markdown", help="Print Markdown tables (for notes and docs)."),
) -> None:
    """The paper's claims checked against the records: verdict, our evidence, the paper's (replication.html)."""
    from rich.markup import escape

    from leaderboard.build import DEFAULT_REFERENCE, DEFAULT_RESULTS
    from leaderboard.records import RecordError, load_records
    from leaderboard.replication import comparison_rows, evaluate

    reference = reference or DEFAULT_REFERENCE
    if not reference.exists():
        _fail(f"reference csv {escape(str(reference))} not found; pass --reference")
    try:
        claims = evaluate(load_records(results or DEFAULT_RESULTS), reference)
    except (RecordError, FileNotFoundError, ValueError) as err:
        _fail(escape(str(err)))
    tables = [("claims (verdict: ALIGNN, the paper's architecture)",
               ["claim", "verdict", "our evidence", "other backbones", "same rule on the paper's runs"],
               [[f"({c.key}) {c.claim}", c.verdict, c.summary,
                 "; ".join(f"{b}: {v}" for b, v, _ in c.other_backbones) or "—",
                 f"{c.paper_verdict}: {c.paper_summary}"] for c in claims]),
              ("evidence: MAE differences, 95 % t-intervals over paired trials (the paper's scaled units)",
               ["claim", "setting", "target", "N", "comparison", "ours", "outcome", "paper, same cell"],
               [list(row.values()) for row in comparison_rows(claims)])]
    if markdown:
        for _, head, lines in tables:
            typer.echo("| " + " | ".join(head) + " |")
            typer.echo("|" + "---|" * len(head))
            for line in lines:
                typer.echo("| " + " | ".join(x.replace("|", "\\|") for x in line) + " |")
            typer.echo("")
        return
    from rich.console import Console
    from rich.table import Table

    for title, head, lines in tables:
        table = Table(title=title)
        for h in head:
            table.add_column(h, no_wrap=h in ("target", "N"))
        for line in lines:
            table.add_row(*map(escape, line))
        Console().print(table)


@leaderboard_app.command("export")
def export(
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", envvar="MLFLOW_TRACKING_URI",
                                               help="MLflow store (default: sqlite in the user data dir)."),
    experiment: Optional[str] = typer.Option(None, "--experiment", help="Only this task's experiment."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for the records (default: leaderboard/results/)."),
    matbench: bool = typer.Option(False, "--matbench", help="Instead: write a Matbench results file (what "
                                  "matbench's MatbenchBenchmark.from_file loads) from --fold records (docs/matbench.md)."),
    task: Optional[List[str]] = typer.Option(None, "--task", "-t", help="--matbench: only these tasks (repeatable; "
                                             "default: every Matbench task with fold records)."),
    output: Path = typer.Option(Path("results.json.gz"), "--output", "-o", help="--matbench: the file to write."),
    results: Optional[Path] = typer.Option(None, "--results", help="--matbench: folder of result records (default: "
                                           "leaderboard/results/)."),
    from_mlflow: bool = typer.Option(False, "--from-mlflow", help="--matbench: read the records of the MLflow "
                                     "store (--tracking-uri, --experiment) instead of a folder."),
    strategy: Optional[str] = typer.Option(None, "--strategy", help="--matbench: only this strategy (scratch, mpt, "
                                           "ptft or ptft-SOURCE)."),
    budget: Optional[str] = typer.Option(None, "--budget", help="--matbench: only this budget."),
    seed: Optional[int] = typer.Option(None, "--seed", help="--matbench: only this seed."),
) -> None:
    """Write a result record for every FINISHED MLflow run that logged one (artifact ``record.json``); with
    --matbench, a Matbench results file from the fold records."""
    from rich.markup import escape

    from bench.records import RESULTS_DIR

    if matbench:
        from leaderboard.matbench import ExportSpec

        spec = ExportSpec(tuple(task) if task else None, strategy, budget, seed)
        _export_matbench(spec, output, results or RESULTS_DIR,
                         (tracking_uri, experiment) if from_mlflow else None)
        return
    if task or results or from_mlflow or strategy or budget or seed is not None:
        _fail("--task, --results, --from-mlflow, --strategy, --budget and --seed go with --matbench")
    try:
        written, skipped = export_records(tracking_uri, experiment, out or RESULTS_DIR)
    except (KeyError, ValueError) as err:
        _fail(escape(str(err)))
    for why in skipped:
        if "no record.json" not in why and "tuning trial" not in why:  # expected, not worth a line each
            typer.echo(f"skipped: {why}", err=True)
    typer.echo(f"Exported {len(written)} record(s) to {out or RESULTS_DIR}" +
               (f"; skipped {len(skipped)} run(s)" if skipped else ""))


def _export_matbench(spec, output: Path, results_dir: Path, mlflow: tuple | None) -> None:
    import tempfile

    from rich.markup import escape

    from leaderboard.matbench import MatbenchExportError, write_results
    from leaderboard.records import RecordError, load_records

    try:
        with tempfile.TemporaryDirectory() as tmp:
            if mlflow is not None:
                results_dir = Path(tmp)
                _, skipped = export_records(*mlflow, results_dir)
                for why in skipped:
                    if "malformed" in why or "not valid JSON" in why:
                        typer.echo(f"skipped: {why}", err=True)
            report = write_results(load_records(results_dir), spec, output)
    except MatbenchExportError as err:
        where = "the MLflow store" if mlflow is not None else str(results_dir)
        _fail(escape(str(err).replace(" record(s)", f" record(s) in {where}", 1)))
    except (RecordError, FileNotFoundError, KeyError, ValueError) as err:
        _fail(escape(str(err)))
    for why in report.left_out:
        typer.echo(f"left out {why}", err=True)
    for name, algo in report.tasks.items():
        typer.echo(f"{name}: 5 folds, {algo}")
    typer.echo(f"Wrote {output} (Matbench matbench_v0.1, {len(report.tasks)} task(s)); check it with "
               f"MatbenchBenchmark.from_file (docs/matbench.md)")


def export_records(tracking_uri: str | None, experiment: str | None, out_dir: Path) -> tuple[list[Path], list[str]]:
    """(files written, reasons for runs skipped). Records are validated before they are written."""
    import json
    import os
    import tempfile

    from bench.records import record_name
    from bench.tracking import Tracker
    from leaderboard.records import validate_record

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    tracker = Tracker(tracking_uri)
    client = tracker.client
    if experiment:
        exp = client.get_experiment_by_name(experiment)
        if exp is None:
            names = sorted(e.name for e in client.search_experiments())
            raise KeyError(f"no MLflow experiment {experiment!r} in {tracker.uri}; experiments: "
                           f"{', '.join(names) or 'none'}")
        experiment_ids = [exp.experiment_id]
    else:
        experiment_ids = [e.experiment_id for e in client.search_experiments()]
    written: list[Path] = []
    skipped: list[str] = []
    if not experiment_ids:
        return written, skipped
    runs = []
    token = None
    while True:
        page = client.search_runs(experiment_ids, filter_string="attributes.status = 'FINISHED'",
                                  max_results=1000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            break
    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory() as tmp:
        for run in runs:
            run_id = run.info.run_id
            if any(k.startswith("optuna.") for k in run.data.tags):
                skipped.append(f"run {run_id} is a hyper-parameter tuning trial")
                continue
            if "record.json" not in {a.path for a in client.list_artifacts(run_id)}:
                skipped.append(f"run {run_id} has no record.json artifact")
                continue
            path = tracker.download(run_id, "record.json", Path(tmp) / run_id)
            try:
                record = json.loads(path.read_text())
            except json.JSONDecodeError as err:
                skipped.append(f"run {run_id}: record.json is not valid JSON ({err})")
                continue
            problems = validate_record(record)
            if problems:
                skipped.append(f"run {run_id}: record.json is malformed ({'; '.join(problems)})")
                continue
            out_dir.mkdir(parents=True, exist_ok=True)
            dest = out_dir / record_name(record)
            dest.write_text(path.read_text())
            written.append(dest)
    return written, skipped
