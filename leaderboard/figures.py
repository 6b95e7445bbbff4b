"""The figures of the site, drawn from task boards: learning curves, parity plots, transfer heatmaps (the
drawing itself is in ``leaderboard.plots``)."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import numpy as np

from leaderboard.boards import (METRIC_LABELS, PaperRow, Row, TaskBoard, _mean_std, best_size,
                                size_label, size_order)


BASELINE_COLORS = ["#555555", "#999999", "#777733"]  # reference models: greys, apart from the strategies' hues


def _colors(board: TaskBoard) -> dict[int, str]:
    """A colour per row; a paper row takes the colour of this suite's row of the same strategy and source."""
    from leaderboard.plots import PALETTE

    out: dict[int, str] = {}
    by_kind: dict[tuple, str] = {}
    for i, row in enumerate(board.rows):
        out[id(row)] = PALETTE[i % len(PALETTE)]
        by_kind.setdefault((row.strategy, row.source if row.strategy == "ptft" else None), out[id(row)])
    greys = iter(BASELINE_COLORS * (1 + len(board.baseline_rows)))
    for row in board.baseline_rows:
        out[id(row)] = next(greys)
    spare = iter(PALETTE[len(board.rows):] + PALETTE)
    for row in board.paper_rows:
        kind = (row.strategy, row.source if row.strategy == "ptft" else None)
        if kind not in by_kind:
            by_kind[kind] = next(spare)
        out[id(row)] = by_kind[kind]
    return out


def _plot_label(board: TaskBoard, row: Row) -> str:
    extra = []
    if len({r.backbone for r in board.rows}) > 1 and row not in board.baseline_rows:  # a baseline's label names it
        extra.append(row.backbone)
    if len({r.budget for r in board.rows}) > 1:
        extra.append(row.budget)
    return row.label + (f" [{', '.join(extra)}]" if extra else "")


def _x_positions(board: TaskBoard) -> tuple[dict, dict[float, str]]:
    ints = [s for s in board.sizes if s is not None]
    pos: dict = {s: float(s) for s in ints}
    n_full = [r.n_train for row in board.rows + board.baseline_rows for r in row.runs.get(None, []) if r.n_train]
    if None in board.sizes:
        if n_full:
            pos[None] = float(statistics.fmean(n_full))
        else:
            pos[None] = 10 ** math.ceil(math.log10(max(ints) * 1.5)) if ints else 1000.0
        if ints and pos[None] <= max(ints):
            pos[None] = max(ints) * 2.0
    ticks = {x: (f"full (n≈{x:.0f})" if s is None and n_full else size_label(s)) for s, x in pos.items()}
    return pos, ticks


def learning_curve_data(board: TaskBoard):
    """(ours, paper, ticks): one curve per row of this suite (baselines included) and per paper row, with a
    point at every FT size the row has."""
    from leaderboard.plots import Curve

    colors = _colors(board)
    pos, ticks = _x_positions(board)

    def curve(row: Row, label: str) -> Curve:
        return Curve(label, colors[id(row)], [(pos[s], *row.stats(s)[:2]) for s in row.values])

    ours = [curve(r, _plot_label(board, r)) for r in board.rows + board.baseline_rows]
    paper = [curve(r, r.label.removeprefix("paper: ")) for r in board.paper_rows]
    return ours, paper, ticks


def plot_learning_curves(board: TaskBoard, img_dir: Path) -> Path:
    from leaderboard.plots import learning_curves, wants_log_y

    ours, paper, ticks = learning_curve_data(board)
    metric = METRIC_LABELS.get(board.main_metric, board.main_metric)
    unit = f"; units: {board.units}" if board.main_metric in ("mae", "rmse") and board.units else ""
    # R² can be hugely negative for a few points (the paper's scratch at N = 10); keep the axis readable
    floor = -1.0 if board.main_metric == "r2" else None
    log_y = board.main_metric in ("mae", "rmse") and wants_log_y(ours + paper)
    return learning_curves(img_dir / f"{board.slug}-learning-curves.png", ours, paper, f"test {metric}",
                           f"{board.name}: test {metric} vs fine-tuning set size (mean ± std over trials{unit})", ticks,
                           floor, log_y=log_y)


def plot_parity(board: TaskBoard, img_dir: Path, max_panels: int = 16) -> Path | None:
    from leaderboard.plots import ParityPanel, parity

    colors = _colors(board)
    panels = []
    metric = METRIC_LABELS.get(board.main_metric, board.main_metric)
    for row in board.rows:
        size, ok = best_size(board, row)
        if not ok:
            continue
        runs = [r for r in row.runs[size] if r.predictions]
        if not runs:
            continue
        y_true = [v for r in runs for v in r.predictions[0]]
        y_pred = [v for r in runs for v in r.predictions[1]]
        mean = row.stats(size)[0]
        panels.append(ParityPanel(_plot_label(board, row), colors[id(row)], y_true, y_pred,
                                  f"N={size_label(size)} · {len(runs)} trial{'s' * (len(runs) > 1)} pooled · "
                                  f"{metric} {mean:.3g}"))
    if not panels:
        return None
    what = board.target + (f" ({board.units})" if board.units else "")
    return parity(img_dir / f"{board.slug}-parity.png", panels[:max_panels], "value",
                  f"{board.name}: test-set parity, best FT size per strategy\n{what}")


def transfer_matrix(boards: dict[str, TaskBoard], backbone: str, budget: str):
    """MAE reduction vs scratch (%) of every ptft/mpt row against scratch of the same backbone and budget, at
    the largest FT size both have; rows = pre-training source, columns = target task."""
    cells: dict[tuple[str, str], tuple[float, object]] = {}
    for task, board in boards.items():
        for row in board.rows:
            if row.strategy not in ("ptft", "mpt") or row.ft_mode != "all" or row.backbone != backbone \
                    or row.budget != budget:
                continue
            scratch = next((r for r in board.rows if r.strategy == "scratch" and r.backbone == backbone
                            and r.budget == budget and r.order[-1] == row.order[-1]), None)
            if scratch is None:
                continue
            common = [s for s in row.runs if s in scratch.runs]
            if not common:
                continue
            size = max(common, key=size_order)
            mae_s, _ = _mean_std([r.metrics.get("mae", math.nan) for r in scratch.runs[size]])
            mae_t, _ = _mean_std([r.metrics.get("mae", math.nan) for r in row.runs[size]])
            if not (math.isfinite(mae_s) and math.isfinite(mae_t)) or mae_s == 0:
                continue
            # mpt's source set differs per target (leave-target-out): one row for all of them
            pt_size = row.all_runs[0].pretrain.get("pt_size") or "default"
            src = row.label.removeprefix("ptft ← ") if row.strategy == "ptft" else f"mpt ({pt_size})"
            cells[(src, task)] = (100.0 * (mae_s - mae_t) / mae_s, size)
    return cells


def plot_heatmap(cells: dict, path: Path, title: str) -> Path | None:
    from leaderboard.plots import heatmap

    if not cells:
        return None
    sources = sorted({s for s, _ in cells}, key=lambda s: (s.startswith("mpt"), s))
    targets = sorted({t for _, t in cells})
    values = np.full((len(sources), len(targets)), np.nan)
    notes = [["" for _ in targets] for _ in sources]
    for (s, t), (v, size) in cells.items():
        i, j = sources.index(s), targets.index(t)
        values[i, j] = v
        notes[i][j] = f"{v:+.0f}%\nN={size_label(size)}"
    return heatmap(path, values, sources, targets, notes, title, "MAE reduction vs scratch (%)")


def paper_transfer_matrix(reference: dict[str, list[PaperRow]], size: int = 800) -> dict:
    """The paper's MAE reduction vs scratch (%) at N=800 (the main study) and on the full 2D set (ood_2d)."""
    cells = {}
    for task, prows in reference.items():
        scratch = next((p for p in prows if p.strategy == "scratch"), None)
        if scratch is None:
            continue
        at = size if size in scratch.values else None
        if at not in scratch.values or "mae" not in scratch.values[at]:
            continue
        base = statistics.fmean(scratch.values[at]["mae"])
        for p in prows:
            if p.strategy == "scratch" or at not in p.values or "mae" not in p.values[at]:
                continue
            src = p.source if p.strategy == "ptft" else "mpt (other six)"
            cells[(src, task)] = (100.0 * (base - statistics.fmean(p.values[at]["mae"])) / base, at)
    return cells

