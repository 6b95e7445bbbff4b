"""``bench data``: fetch task sources, show what is present, register your own data."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

data_app = typer.Typer(help="Download task sources or add your own dataset.", no_args_is_help=True)


def _fail(message: str, code: int = 2) -> None:
    from rich.console import Console

    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(code)


def _console():
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)  # paths in messages stay whole


@data_app.command()
def fetch(
    tasks: Optional[List[str]] = typer.Argument(None, help="Task names (see `bench data status`)."),
    all_: bool = typer.Option(False, "--all", help="Every task that declares a download source."),
    retries: int = typer.Option(3, "--retries", help="Retries after a connection error or server error."),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds without data before an attempt fails."),
    force: bool = typer.Option(False, "--force", help="Download even files already present and verified."),
) -> None:
    """Download the source files of tasks into the data directory ($BENCH_DATA_DIR), verified by sha256.

    Files already present with the right hash are skipped. $BENCH_DOWNLOAD_MIRROR replaces the scheme and host
    of every URL (a mirror).
    """
    from rich.markup import escape

    from bench.download import DownloadError, fetch_task
    from bench.paths import data_dir
    from tasks import all_tasks

    known = all_tasks()
    if all_:
        names = [n for n, t in known.items() if t.sources]
    elif tasks:
        names = list(dict.fromkeys(tasks))
    else:
        _fail("name the tasks to fetch, or give --all")
    unknown = [n for n in names if n not in known]
    if unknown:
        downloadable = sorted(n for n, t in known.items() if t.sources)
        _fail(f"unknown task {', '.join(map(repr, unknown))}; tasks with a download source: {', '.join(downloadable)}")
    root = data_dir()
    console = _console()
    console.print(f"data directory: {escape(str(root))}")
    for name in names:
        task = known[name]
        try:
            results = fetch_task(task, root, retries=retries, timeout=timeout, force=force,
                                 progress_factory=lambda s: _progress(console, s))
        except DownloadError as err:
            _fail(escape(f"{name}: {err}"), code=1)
        for r in results:
            note = f" ({r.detail})" if r.detail else ""
            console.print(escape(f"{name}: {r.action} {r.path}{note}"))


def _progress(console, source):
    """A progress printer: a line every 10 % (or every 50 MB when the size is unknown)."""
    from rich.markup import escape

    state = {"next": 0.1, "next_bytes": 50 << 20}
    console.print(escape(f"downloading {source.url} -> {source.relpath}"))

    def report(done: int, total: int | None) -> None:
        if total:
            if done / total >= state["next"]:
                console.print(f"  {done / total:4.0%} of {total / 1e6:.1f} MB")
                state["next"] = done / total + 0.1
        elif done >= state["next_bytes"]:
            console.print(f"  {done / 1e6:.0f} MB")
            state["next_bytes"] = done + (50 << 20)

    return report


@data_app.command()
def status(
    verify: bool = typer.Option(False, "--verify", help="Also check the sha256 of downloaded files (slow for big ones)."),
) -> None:
    """Every task and whether its files are present in the data directory."""
    from rich.console import Console
    from rich.table import Table

    from bench.download import check
    from bench.paths import data_dir
    from tasks import all_tasks

    root = data_dir()
    table = Table(title=f"Task data in {root}")
    table.add_column("task", no_wrap=True)  # an id to type: never split
    for col in ("files", "download"):
        table.add_column(col, overflow="fold")
    for name, task in all_tasks().items():
        paths = task.paths(root)
        present = sum(p.exists() for p in paths)
        files = "present" if present == len(paths) else f"missing {len(paths) - present} of {len(paths)}"
        if task.sources:
            states = [check(s, root, verify=verify) for s in task.sources]
            download = ", ".join(sorted({s.status for s in states})) + f" · `bench data fetch {name}`"
        else:
            download = "user data" if task.family == "user" else "local only"
        table.add_row(name, files, download)
    Console().print(table)


@data_app.command()
def add(
    name: str = typer.Argument(..., help="Name of the new task."),
    csv: Optional[Path] = typer.Option(None, "--csv", help="A table: one row per material (CSV, .gz allowed)."),
    structures: Optional[Path] = typer.Option(None, "--structures",
                                              help="Folder of structure files (CIF, POSCAR, JSON); with no --csv/"
                                                   "--json, an ALIGNN folder holding id_prop.csv."),
    json_file: Optional[Path] = typer.Option(None, "--json", help="ALIGNN-style JSON list [{jid, atoms, target}]."),
    target: Optional[str] = typer.Option(None, "--target", help="Target column (CSV) or key (JSON; default 'target')."),
    id_column: Optional[str] = typer.Option(None, "--id-column",
                                            help="Id column (CSV; default: the first other column) or key (JSON; "
                                                 "default 'jid')."),
    structure_column: Optional[str] = typer.Option(None, "--structure-column",
                                                   help="Column naming each row's structure file (relative to "
                                                        "--structures), or holding the structure itself; JSON: the "
                                                        "structure key (default 'atoms')."),
    units: str = typer.Option("", "--units", help="Units of the target, for the task card."),
    description: str = typer.Option("", "--description", help="One line describing the task."),
    pt_alias: Optional[List[str]] = typer.Option(None, "--pt-alias",
                                                 help="Property code this target shares with built-in tasks (e.g. "
                                                      "gv): keeps it out of its own multi-property pre-training."),
    mpt_sources: Optional[str] = typer.Option(None, "--mpt-sources",
                                              help="Default MPT sources, comma-separated (default: the paper's "
                                                   "seven pools)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing user task of this name."),
    allow_outside: bool = typer.Option(False, "--allow-outside",
                                       help="Read structure paths that leave the --structures folder (absolute "
                                            "paths, '..', links); refused by default."),
) -> None:
    """Register your own dataset as a task; every strategy accepts it (`bench run --task NAME`).

    The data is copied into the user data directory, so the task survives moving the original files. A
    dataset none of whose rows is usable is refused, with the reasons.
    """
    from rich.markup import escape

    from tasks.user import (UserDataError, check_name, register, rows_from_alignn_json, rows_from_csv,
                            rows_from_id_prop)

    console = _console()
    try:
        check_name(name, force)  # before reading anything
        if csv is not None and json_file is not None:
            raise UserDataError("give either --csv or --json, not both")
        if json_file is not None:
            rows = rows_from_alignn_json(json_file, target, id_column, structure_column)
            origin = {"kind": "alignn-json", "source": str(json_file.resolve())}
            target = target or "target"
        elif csv is not None and csv.name.lower() == "id_prop.csv":
            rows = rows_from_id_prop(structures or csv.parent, csv, allow_outside)
            origin = {"kind": "id_prop.csv", "source": str(csv.resolve())}
            target = target or "target"
        elif csv is not None:
            rows = rows_from_csv(csv, target, structures, id_column, structure_column, allow_outside)
            origin = {"kind": "csv", "source": str(csv.resolve()),
                      "structures": str(structures.resolve()) if structures else None,
                      "id_column": id_column, "structure_column": structure_column}
        elif structures is not None:
            rows = rows_from_id_prop(structures, allow_outside=allow_outside)
            origin = {"kind": "id_prop.csv", "source": str((structures / "id_prop.csv").resolve())}
            target = target or "target"
        else:
            raise UserDataError("give --csv FILE --structures DIR --target COLUMN, --json FILE, or --structures DIR "
                                "(an ALIGNN folder with id_prop.csv)")
        if allow_outside:
            origin["allow_outside"] = True
        task = register(name, rows, target, origin, units=units, description=description,
                        pt_aliases=tuple(pt_alias or ()),
                        mpt_sources=tuple(s.strip() for s in mpt_sources.split(",")) if mpt_sources else (),
                        force=force)
    except UserDataError as err:
        _fail(escape(str(err)))
    console.print(escape(f"added task {name!r}: {len(rows)} rows copied to {Path(task.files[0]).parent}"))
    if allow_outside:
        console.print("note: --allow-outside: structure paths leaving the structure folder were read")
    try:
        data = task.load(Path("/"))
    except Exception as err:  # the records are the user's: report any failure to read them, keep the task
        console.print(escape(f"warning: the task was added but cannot be loaded yet: {err}"))
        return
    console.print(escape(f"usable records: {len(data)} of {len(rows)}"))
    if data.dropped:
        from collections import Counter

        counts = Counter(reason.split(":", 1)[0] for _, reason in data.dropped)
        console.print(escape("dropped: " + ", ".join(f"{n} {c}" for c, n in counts.most_common())
                             + f" (details: `bench tasks show {name}`)"))
        for rid, reason in data.dropped[:5]:
            console.print(escape(f"  {rid}: {reason}"))
    if len(data) < 20:
        console.print(f"warning: only {len(data)} usable records; splits and metrics will be very noisy")
    console.print(escape(f"run it: bench run --task {name} --budget smoke"))


@data_app.command()
def remove(name: str = typer.Argument(..., help="A task added with `bench data add`.")) -> None:
    """Delete a user task and its copied data."""
    from rich.markup import escape

    from tasks.user import UserDataError, remove as remove_task

    try:
        remove_task(name)
    except UserDataError as err:
        _fail(escape(str(err)))
    _console().print(escape(f"removed user task {name!r}"))
