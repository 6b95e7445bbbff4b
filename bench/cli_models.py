"""``bench models``: the model zoo — shipped pre-trained trunks with their cards (engine: ``bench.zoo``)."""

from __future__ import annotations

import json
from typing import List, Optional

import typer

models_app = typer.Typer(help="The model zoo: shipped pre-trained trunks and their cards.",
                         invoke_without_command=True)


def _errors():
    from bench.cli import _user_errors

    return _user_errors(resume_hint=False)


@models_app.callback()
def models(ctx: typer.Context) -> None:
    """List the shipped trunks: name, the commands they serve, data, validation MAE, size, sha256."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.console import Console
    from rich.table import Table

    from bench import zoo

    with _errors():
        listed = zoo.entries()
    table = Table(title=f"Model zoo ({zoo.zoo_dir()}): a `bench run` whose pre-training request has a trunk's "
                        f"key loads it (no pre-training)")
    for col in ("name", "serves", "pre-training data", "val MAE", "size", "sha256", "status"):
        table.add_column(col, overflow="fold")
    for e in listed:
        card = _card(e)
        data = card.get("data") or {}
        metrics = card.get("metrics") or {}
        spec = card.get("spec") or {}
        what = (f"{', '.join(spec.get('sources') or [])}: {data.get('n_structures', '?')} structures, "
                f"{spec.get('budget', '?')} budget, {metrics.get('epochs_run', '?')} epochs, "
                f"{(card.get('wall_seconds') or 0) / 60:.0f} min") if card else "—"
        mae = f"{metrics['best_val_mae']:.4g}" if "best_val_mae" in metrics else "—"
        size = e.files.get("model.pt", {}).get("size", 0) / 1e6
        table.add_row(e.name, "\n".join(e.commands()), what, mae, f"{size:.2f} MB",
                      e.files.get("model.pt", {}).get("sha256", "")[:12], _status(e))
    Console().print(table)
    if not listed:
        typer.echo("No shipped trunks.")


def _card(entry) -> dict:
    path = entry.folder() / "card.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _status(entry) -> str:
    if not entry.shipped:
        return "fetch with `bench models fetch`"
    if not (entry.folder() / "model.pt").exists():
        return "files missing"
    return "shipped"


@models_app.command("show")
def show(name: str = typer.Argument(..., help="A trunk's name (`bench models`).")) -> None:
    """Print a trunk's card (data, sizes, exclusions, validation metrics, wall time, versions) and verify it."""
    from bench import zoo

    with _errors():
        entry = zoo.get(name)
        card = _card(entry)
        typer.echo(json.dumps({"name": entry.name, "key": entry.key, "serves": entry.commands(),
                               "files": entry.files, "card": card}, indent=2, default=str))
        zoo.load(entry)
    typer.echo(f"{name}: verified (sha256 of each file, content hash and cache key {entry.key})")


@models_app.command("verify")
def verify(names: Optional[List[str]] = typer.Argument(None, help="Trunk names; default: every shipped one.")) -> None:
    """Verify shipped trunks: sha256 against the manifest, then content hash and cache key. Exit 1 if any fails."""
    from bench import zoo
    from bench.artifacts import ArtifactError

    with _errors():
        chosen = [zoo.get(n) for n in names] if names else [e for e in zoo.entries() if e.shipped]
    failed = 0
    for e in chosen:
        try:
            zoo.load(e)
            typer.echo(f"{e.name}: ok")
        except ArtifactError as err:
            failed += 1
            typer.echo(f"{e.name}: FAILED: {err}", err=True)
    raise typer.Exit(1 if failed else 0)


@models_app.command("fetch")
def fetch(name: str = typer.Argument(...),
          url: Optional[str] = typer.Option(None, "--url", help="Base address serving NAME/model.pt and "
                                                                 "NAME/card.json (default: $BENCH_ZOO_URL, the "
                                                                 "manifest's base_url).")) -> None:
    """Download a trunk by name into the user cache (sha256-checked); `bench run` then finds it there."""
    from bench import zoo
    from bench.download import DownloadError

    with _errors():
        try:
            folder = zoo.fetch(name, url)
        except DownloadError as err:
            raise ValueError(str(err)) from None
    typer.echo(f"{name}: in {folder}")


@models_app.command("add")
def add(name: str = typer.Argument(...),
        serves: List[str] = typer.Option(..., "--serves", help='bench run options as JSON, e.g. \'{"task": '
                                                               '"piezo", "strategy": "mpt"}\'; repeat for each '
                                                               'command that requests the same trunk.'),
        summary: str = typer.Option("", "--summary")) -> None:
    """(Maintainers) copy a pre-trained trunk from the cache into the zoo and record it in the manifest."""
    from bench import zoo

    with _errors():
        options = []
        for text in serves:
            try:
                options.append(json.loads(text))
            except ValueError as err:
                raise ValueError(f"--serves {text!r} is not JSON ({err})") from None
        entry = zoo.add(name, options, summary)
    typer.echo(f"{entry.name}: key {entry.key}, {entry.files['model.pt']['size'] / 1e6:.2f} MB, "
               f"serves {'; '.join(entry.commands())}")
