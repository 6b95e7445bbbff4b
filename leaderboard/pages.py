"""The site's HTML: Jinja2 templates (``leaderboard/templates``, autoescaping on) fed with plain view data.

Formatting decisions (number formats, which cell is best, what a tooltip says) are made here in Python so the
templates only lay them out; every value reaches the page through the template's escaping, never as raw HTML.
"""

from __future__ import annotations

import math
import statistics
from functools import lru_cache
from pathlib import Path

from leaderboard.boards import METRIC_LABELS, Row, TaskBoard, group_runs, higher_is_better, size_label, size_order
from leaderboard.leakage import TWIN_LABEL, TwinCheck
from leaderboard.reference import CITATION

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


@lru_cache(maxsize=1)
def environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
    from markupsafe import Markup

    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["j2", "html"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    # the stylesheet and script are static files, inlined so a page opens from file:// on its own
    env.globals["site_css"] = Markup((HERE / "static" / "site.css").read_text(encoding="utf-8"))
    env.globals["site_js"] = Markup((HERE / "static" / "site.js").read_text(encoding="utf-8"))
    env.globals["CITATION"] = CITATION
    env.globals["TWIN_LABEL"] = TWIN_LABEL
    return env


def render(template: str, **context) -> str:
    return environment().get_template(template).render(**context)


def fmt(value: float, digits: int = 4) -> str:
    return "nan" if not math.isfinite(value) else f"{value:.{digits}g}"


def fmt_seconds(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.1f} h"


def _distinct(values) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


# --------------------------------------------------------------------------------------------- table views


def cell_view(row: Row, size, best: float | None, twins: TwinCheck | None = None, rank: bool = True) -> dict:
    """One table cell: mean, std, trial count, tooltip, sort key, best/twin marks."""
    vals = row.values.get(size)
    if not vals:
        return {"empty": True}
    mean, std, n = row.stats(size)
    title = f"{n} trial{'s' * (n > 1)}: " + ", ".join(fmt(v) for v in vals)
    twin = None
    leaked = [r for r in row.runs.get(size, []) if twins is not None and twins.is_flagged(r)]
    if leaked:
        pairs = sorted({f"{p} (pool) ~ {t} (test)" for r in leaked for p, t in twins.pairs(r)})
        twin = f"⚠ {len(leaked)}/{n}"
        title += f"; {len(leaked)} of {n} {TWIN_LABEL} (trial {', '.join(str(r.trial) for r in leaked)}: " \
                 f"{', '.join(pairs)})"
    classes = "num"
    if rank and best is not None and row.paper is None and math.isfinite(mean) and mean == best:
        classes += " best"
        title += " (best in column)"
    return {"empty": False, "classes": classes, "sort": repr(mean) if math.isfinite(mean) else "", "title": title,
            "mean": fmt(mean), "sd": fmt(std, 2) if math.isfinite(std) else None, "n": n, "twin": twin}


def metadata_view(row: Row) -> dict:
    """The last column: how the row's runs were made (hardware, budget, versions, commits, record files)."""
    if row.paper is not None:
        n = sorted({len(v) for m in row.paper.values.values() for v in m.values()})
        return {"paper": True, "trials": "/".join(map(str, n)), "description": row.description}
    runs = row.all_runs
    walls = [float(r.record["wall_seconds"]) for r in runs]
    trains = [float(r.record["train_seconds"]) for r in runs
              if isinstance(r.record.get("train_seconds"), (int, float))]
    hw = _distinct(
        f"{r.record['hardware'].get('cpu', '?')} ×{r.record['hardware'].get('cpu_count', '?')}"
        f" (torch threads {r.record['hardware'].get('torch_threads', '?')}, "
        f"{r.record['hardware'].get('allocator', '?')})"
        + (f"; GPU {r.record['hardware']['gpu']}" if r.record["hardware"].get("gpu") else "; no GPU")
        for r in runs)
    budgets = _distinct(
        f"{r.budget}: {r.config.get('train', {}).get('epochs', '?')} epochs, "
        f"batch {r.config.get('train', {}).get('batch_size', '?')}, lr {r.config.get('train', {}).get('lr', '?')}"
        + (f", device {r.config['train']['device']}" if r.config.get("train", {}).get("device") else "")
        + (f"; {r.record['n_parameters']:,} parameters" if isinstance(r.record.get("n_parameters"), int) else "")
        for r in runs)
    versions = _distinct(", ".join(f"{k} {v}" for k, v in sorted(r.record["versions"].items())) for r in runs)
    seeds = _distinct(str(r.config["seed"]) for r in runs)
    mean_wall = statistics.fmean(walls)
    wall = (f"mean {fmt_seconds(mean_wall)} (min {fmt_seconds(min(walls))}, max {fmt_seconds(max(walls))})"
            + (f"; training {fmt_seconds(statistics.fmean(trains))} mean" if trains else ""))
    # (name, lines, shown as code)
    items = [("runs", [f"{len(runs)} (seed{'s' * (len(seeds) > 1)} {', '.join(seeds)})"], False),
             ("strategy", [row.description], False), ("hardware", hw, False), ("budget", budgets, False),
             ("wall time", [wall], False), ("versions", versions, False),
             ("git commit", _distinct(r.record["git_commit"] for r in runs), True),
             ("records", [r.path.name for r in runs], True)]
    back = [r for r in runs if isinstance(r.record.get("test_metrics_untransformed"), dict)]
    if back:  # a log10 target: its errors in the property's own units too, per FT size
        units = back[0].record["task_info"].get("untransformed_units", "")
        by_size: dict = {}
        for r in back:
            by_size.setdefault(r.ft_size, []).append(float(r.record["test_metrics_untransformed"]["mae"]))
        items.insert(2, ("test MAE back-transformed", [
            f"N = {size_label(size)}: {fmt(statistics.fmean(v))} {units} (n={len(v)})"
            for size, v in sorted(by_size.items(), key=lambda kv: size_order(kv[0]))], False))
    gpu = any(r.record["hardware"].get("gpu") for r in runs)
    return {"paper": False, "sort": repr(mean_wall), "items": items,
            "summary": f"{len(runs)} run{'s' * (len(runs) > 1)} · {fmt_seconds(mean_wall)} · "
                       f"{'GPU' if gpu else 'CPU'}"}


def row_view(row: Row, cls: str, sizes: list, best: dict, twins: TwinCheck | None, rank: bool = True) -> dict:
    return {"cls": cls, "backbone": row.backbone, "label": row.label, "description": row.description,
            "budget": row.budget, "cells": [cell_view(row, s, best.get(s), twins, rank) for s in sizes],
            "meta": metadata_view(row)}


def table_view(board: TaskBoard, table_id: str, twins: TwinCheck | None = None, sizes: list | None = None,
               paper_rows: list[Row] | None = None, empty: str = "") -> dict:
    sizes = board.sizes if sizes is None else sizes
    paper_rows = board.paper_rows if paper_rows is None else paper_rows
    best = {s: board.best(s) for s in sizes}
    if not board.rows and board.baseline_rows and not empty:
        empty = "Only baseline models have records for this task so far."
    return {"id": table_id, "task": board.name, "sizes": [size_label(s) for s in sizes], "empty": empty,
            "higher": higher_is_better(board.main_metric),
            "rows": [row_view(r, "run", sizes, best, twins) for r in board.rows],
            "baselines": [row_view(r, "baseline", sizes, best, twins, rank=False) for r in board.baseline_rows],
            "reference": [row_view(r, "paper", sizes, best, twins) for r in paper_rows]}


def without_twins_view(board: TaskBoard, twins: TwinCheck) -> dict | None:
    """The second table of a task page: the same rows without the runs trained on a test twin."""
    runs = [r for row in board.rows for r in row.all_runs]
    left_out = [r for r in runs if twins.is_flagged(r)]
    if not left_out:
        return None
    kept = group_runs([r for r in runs if not twins.is_flagged(r)]).get(board.name) or TaskBoard(board.name)
    kept.main_metric = board.main_metric
    return {"n_left_out": len(left_out), "n_runs": len(runs),
            "pairs": ", ".join(sorted({f"{p} (pool) ~ {t} (test)" for r in left_out for p, t in twins.pairs(r)})),
            "table": table_view(kept, "leaderboard-without-twins", sizes=board.sizes, paper_rows=[],
                                empty="Every run of this task trained on a test twin.")}


# --------------------------------------------------------------------------------------------- pages


def backbones(board: TaskBoard) -> list[str]:
    """The backbones of this suite's rows, for the page's filter (the paper's rows are reference, not filtered)."""
    return sorted({r.backbone for r in board.rows}, key=str.lower)


def render_task_page(board: TaskBoard, images: dict[str, str | None], twins: TwinCheck | None = None) -> str:
    metric = METRIC_LABELS.get(board.main_metric, board.main_metric)
    return render("task.html.j2", board=board, metric=metric, higher=higher_is_better(board.main_metric),
                  table=table_view(board, "leaderboard", twins), backbones=backbones(board),
                  second=without_twins_view(board, twins) if twins is not None else None,
                  twin_status=twins.status.get(board.name) if twins is not None else None,
                  units=board.units if board.main_metric in ("mae", "rmse") and board.units else "",
                  images=images)


def shown_path(path: Path) -> str:
    """A path as the site shows it: relative to the repository when inside it, else its name only, so a built
    site never publishes the builder's home directory."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return path.name


def _index_row(b: TaskBoard) -> dict:
    our_sizes = [s for s in b.sizes if any(s in r.values for r in b.rows)]
    best_txt, best_sort = "—", ""
    if our_sizes:
        size = max(our_sizes, key=size_order)
        target = b.best(size)
        winners = [r for r in b.rows if target is not None and r.stats(size)[0] == target]
        if winners:
            best_txt = f"{winners[0].label} ({winners[0].backbone}, {winners[0].budget}): " \
                       f"{fmt(target)} at N = {size_label(size)}"
            best_sort = winners[0].label
    return {"slug": b.slug, "name": b.name, "target": b.target, "units": b.units,
            "metric": METRIC_LABELS.get(b.main_metric, b.main_metric),
            "arrow": "↑" if higher_is_better(b.main_metric) else "↓", "n_runs": b.n_runs, "n_rows": len(b.rows),
            "paper": bool(b.paper_rows), "best": best_txt, "best_sort": best_sort}


def render_index(boards: dict[str, TaskBoard], n_records: int, results_dir: Path, reference_csv: Path | None,
                 heatmaps: list[tuple[str, str, str]], twins: TwinCheck | None = None) -> str:
    return render("index.html.j2", rows=[_index_row(boards[name]) for name in sorted(boards)],
                  n_records=n_records, results=shown_path(results_dir),
                  reference=shown_path(reference_csv) if reference_csv else None, heatmaps=heatmaps,
                  ours_heatmap=any("this suite" in t for t, _, _ in heatmaps),
                  n_flagged=len(twins.flagged) if twins else 0)


def render_replication(results: list, n_records: int, reference_csv: Path | None) -> str:
    """``replication.html``: the paper's claims, each with our evidence, the paper's numbers and a verdict
    (computed in ``leaderboard.replication``)."""
    from leaderboard.replication import comparison_rows

    return render("replication.html.j2", results=results, n_records=n_records,
                  reference=shown_path(reference_csv) if reference_csv else None,
                  rows={r.key: comparison_rows([r]) for r in results})
