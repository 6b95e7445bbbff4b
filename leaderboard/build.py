"""Build the static leaderboard site from result records.

``build_site(results_dir, out_dir, reference_csv)`` reads every record under ``results_dir`` (see
``leaderboard.records``), groups them task → row (backbone × strategy label × budget) → FT size → trials
(``leaderboard.boards``), and writes ``index.html`` (tasks, transfer heatmaps) and one page per task (a sortable
table of mean ± std of the task's main metric with the best cell per column highlighted, the paper's numbers as
reference rows, each row's run metadata, learning curves and parity plots). Figures (``leaderboard.figures``)
are PNG files under ``img/``, referenced by relative paths, so the site opens from ``file://`` without a server;
the HTML comes from Jinja2 templates (``leaderboard.pages``).

The names other modules use (``group_runs``, ``Row``, ``TaskBoard``, ``plot_learning_curves``, ``plot_parity``,
``render_task_page``, …) stay importable from here.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from leaderboard.boards import (METRIC_LABELS, Row, TaskBoard, add_reference, best_size, group_runs,
                                higher_is_better, is_baseline, settings_fingerprint, size_label, size_order)
from leaderboard.figures import (paper_transfer_matrix, plot_heatmap, plot_learning_curves,
                                 plot_parity, transfer_matrix)
from leaderboard.leakage import check_twins
from leaderboard.pages import REPO, render_index, render_replication, render_task_page
from leaderboard.records import load_records
from leaderboard.replication import evaluate as evaluate_claims
from leaderboard.reference import CITATION, SHIPPED, load_reference

DEFAULT_RESULTS = REPO / "leaderboard" / "results"
DEFAULT_OUT = REPO / "build" / "leaderboard"
DEFAULT_REFERENCE = SHIPPED  # the paper's per-run table, shipped with the project (leaderboard/reference.py)
MARKER = ".tl-bench-leaderboard"  # marks a folder this module wrote, so a rebuild may clear its old files
# what other modules (bench compare, the CLI, tests) import from here; defined in boards / figures / pages
__all__ = ["BuildReport", "DEFAULT_OUT", "DEFAULT_REFERENCE", "DEFAULT_RESULTS", "METRIC_LABELS", "Row", "TaskBoard",
           "add_reference", "best_size", "build_site", "group_runs", "higher_is_better", "paper_transfer_matrix",
           "plot_heatmap", "plot_learning_curves", "plot_parity", "render_index", "render_replication",
           "render_task_page", "settings_fingerprint", "size_label", "size_order", "transfer_matrix"]


@dataclass
class BuildReport:
    index: Path
    pages: list[Path]
    images: list[Path]
    n_records: int
    tasks: list[str]


def _prepare_out(out_dir: Path) -> None:
    if (out_dir / MARKER).exists():  # a previous build: clear its pages and figures only
        for old in list(out_dir.glob("*.html")) + list((out_dir / "img").glob("*.png")):
            old.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MARKER).write_text("written by `bench leaderboard build`; a rebuild replaces *.html and img/\n")


def build_site(results_dir: Path = DEFAULT_RESULTS, out_dir: Path = DEFAULT_OUT,
               reference_csv: Path | None = None) -> BuildReport:
    """Read and validate every record, then write the site. Raises ``RecordError`` (naming each malformed
    file) before anything is written."""
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    runs = load_records(results_dir)
    twins = check_twins(runs)
    boards = group_runs(runs)
    reference = load_reference(reference_csv) if reference_csv else {}
    add_reference(boards, reference)
    _prepare_out(out_dir)
    img_dir = out_dir / "img"
    images: list[Path] = []
    pages: list[Path] = []
    for board in boards.values():
        refs: dict[str, str | None] = {"curves": None, "parity": None}
        if board.rows or board.baseline_rows or board.paper_rows:
            path = plot_learning_curves(board, img_dir)
            images.append(path)
            refs["curves"] = f"img/{path.name}"
        path = plot_parity(board, img_dir)
        if path:
            images.append(path)
            refs["parity"] = f"img/{path.name}"
        page = out_dir / f"{board.slug}.html"
        page.write_text(render_task_page(board, refs, twins), encoding="utf-8")
        pages.append(page)
    heatmaps = []
    combos = Counter((r.backbone, r.budget) for r in runs if not is_baseline(r.backbone))
    for backbone, budget in sorted(combos, key=lambda c: -combos[c]):
        cells = transfer_matrix(boards, backbone, budget)
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"transfer-{backbone}-{budget}.png")
        path = plot_heatmap(cells, img_dir / name,
                            f"This suite ({backbone}, {budget} budget): MAE reduction vs scratch")
        if path:
            images.append(path)
            heatmaps.append((f"Transfer heatmap (this suite: {backbone}, {budget})", f"img/{path.name}",
                             "Rows: pre-training source (ptft; pre-training size in brackets) or multi-property "
                             "pre-training; columns: target task. Each cell: relative reduction of the mean test "
                             "MAE against training from scratch (same backbone and budget) at the largest "
                             "fine-tuning size both have; positive (green) = transfer helps."))
    paper_cells = paper_transfer_matrix(reference)
    path = plot_heatmap(paper_cells, img_dir / "transfer-paper.png",
                        "Devi et al. 2024: MAE reduction vs scratch (N = 800; 2D: full set)")
    if path:
        images.append(path)
        heatmaps.append(("Transfer heatmap (paper reference)", f"img/{path.name}",
                         f"{CITATION}: relative reduction of the mean test MAE (5 trials) against scratch at "
                         "800 fine-tuning structures (main study, PT-941 → FT, fine-tuning all layers), and on the "
                         "full 2D band-gap training set (one run each; pre-trained on the full source sets)."))
    replication = out_dir / "replication.html"
    replication.write_text(render_replication(evaluate_claims(runs, reference_csv), len(runs), reference_csv),
                           encoding="utf-8")
    pages.append(replication)
    index = out_dir / "index.html"
    index.write_text(render_index(boards, len(runs), results_dir, reference_csv, heatmaps, twins), encoding="utf-8")
    return BuildReport(index, pages, images, len(runs), sorted(boards))
