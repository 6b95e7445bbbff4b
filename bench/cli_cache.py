"""``bench cache``: build a task's graph cache in parallel; the 100k-structure scale check."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

cache_app = typer.Typer(help="Graph cache: parallel builds and the scale check.", no_args_is_help=True)


@cache_app.command("build")
def build(task: str = typer.Option(..., "--task", "-t"),
          workers: Optional[int] = typer.Option(None, "--workers", help="Processes (default: all cores).")) -> None:
    """Build the graphs of every structure of a task (all splits) into the cache, in parallel."""
    import time

    from bench import paths
    from bench.graphs.build import GraphParams
    from bench.graphs.parallel import build_parallel
    from tasks import get_task

    t = get_task(task)
    data = t.load(paths.data_dir())
    t0 = time.perf_counter()
    stats = build_parallel(((r.structure, r.fmt, f"{t.name}, entry {r.id}") for r in data.records.values()),
                           paths.cache_dir() / "graphs", GraphParams(), workers, make=_parse_item)
    typer.echo(f"{task}: {stats.structures} structures, {stats.built} built, {stats.hits} already cached, "
               f"{stats.failed} failed, in {time.perf_counter() - t0:.1f} s")


def _parse_item(item):
    from bench.structures import parse_structure

    return parse_structure(*item[:2], source=item[2])


@cache_app.command("scale")
def scale(n: int = typer.Option(100_000, "--n", help="Generated structures."),
          workers: Optional[int] = typer.Option(None, "--workers"),
          train_structures: int = typer.Option(5000, "--train-structures",
                                               help="Stream one training epoch over this many cached graphs."),
          root: Optional[Path] = typer.Option(None, "--root", help="Cache folder (default: a fresh temporary one)."),
          json_out: Optional[Path] = typer.Option(None, "--json")) -> None:
    """Build N generated structures' graphs in parallel with bounded memory; report time and peak RSS."""
    import json
    import shutil
    import tempfile

    from bench.scale import scale_check

    folder = root or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    try:
        result = scale_check(n, folder, workers, train_structures)
    finally:
        if root is None:
            shutil.rmtree(folder, ignore_errors=True)
    if json_out:
        json_out.write_text(json.dumps(result, indent=2))
