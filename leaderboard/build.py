"""Build the static leaderboard site from result records.

``build_site(results_dir, out_dir, reference_csv)`` reads every record under ``results_dir`` (see
``leaderboard.records``), groups them task → row (backbone × strategy label × budget) → FT size → trials, and
writes ``index.html`` (tasks, transfer heatmaps) and one page per task (a sortable table of mean ± std of the
task's main metric with the best cell per column highlighted, the paper's numbers as reference rows, each row's
run metadata, learning curves and parity plots). Figures are PNG files under ``img/``, referenced by relative
paths, so the site opens from ``file://`` without a server.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from leaderboard.leakage import (FOUNDATION_LABEL, TARGET_LABEL, TWIN_LABEL, TwinCheck, check_twins,
                                 saw_target_property, saw_test_structures)
from leaderboard.records import Run, load_records
from leaderboard.reference import CITATION, COLUMN_OF_METRIC, SHIPPED, TARGET_TASKS, PaperRow, load_reference

REPO = Path(__file__).resolve().parent.parent
DEFAULT_RESULTS = REPO / "leaderboard" / "results"
DEFAULT_OUT = REPO / "build" / "leaderboard"
DEFAULT_REFERENCE = SHIPPED  # the paper's per-run table, shipped with the project (leaderboard/reference.py)
MARKER = ".tl-bench-leaderboard"  # marks a folder this module wrote, so a rebuild may clear its old files

METRIC_LABELS = {"mae": "MAE", "rmse": "RMSE", "r2": "R²", "mad_mae": "MAD:MAE"}
STRATEGY_ORDER = {"scratch": 0, "ptft": 1, "mpt": 2}

def higher_is_better(metric: str) -> bool:
    from bench.metrics import METRICS

    return METRICS[metric].higher_is_better if metric in METRICS else False


def size_label(size: int | None) -> str:
    return "full" if size is None else str(size)


def size_order(size: int | None) -> float:
    return math.inf if size is None else size


def _mean_std(values: list[float]) -> tuple[float, float]:
    vals = [v for v in values if v is not None]
    if not vals:
        return math.nan, math.nan
    if any(not math.isfinite(v) for v in vals):
        return math.nan, math.nan
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else math.nan)


# --------------------------------------------------------------------------------------------- grouping


@dataclass
class Row:
    """One table row: a strategy (with backbone and budget) on a task, values per FT size."""

    label: str
    strategy: str
    backbone: str
    budget: str
    order: tuple
    description: str = ""
    source: str | None = None
    ft_mode: str = "all"
    paper: PaperRow | None = None
    runs: dict = field(default_factory=dict)  # size -> list[Run]
    values: dict = field(default_factory=dict)  # size -> list[float] (main metric)

    def stats(self, size) -> tuple[float, float, int]:
        vals = self.values.get(size) or []
        mean, std = _mean_std(vals)
        return mean, std, len(vals)

    @property
    def all_runs(self) -> list[Run]:
        return [r for runs in self.runs.values() for r in runs]


@dataclass
class TaskBoard:
    name: str
    target: str = ""
    units: str = ""
    main_metric: str = "mae"
    family: str = ""
    rows: list[Row] = field(default_factory=list)
    paper_rows: list[Row] = field(default_factory=list)

    @property
    def sizes(self) -> list:
        found = {s for r in self.rows + self.paper_rows for s in r.values}
        return sorted(found, key=size_order)

    @property
    def n_runs(self) -> int:
        return sum(len(r.all_runs) for r in self.rows)

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]", "_", self.name)

    def best(self, size) -> float | None:
        means = [m for m in (r.stats(size)[0] for r in self.rows) if math.isfinite(m)]
        if not means:
            return None
        return max(means) if higher_is_better(self.main_metric) else min(means)


def _row_identity(run: Run) -> tuple[tuple, str, str, str | None]:
    """(sort/group key, label, description, source) of the strategy a run belongs to."""
    pt = run.pretrain
    strategy, mode = run.strategy, run.ft_mode
    source = None
    if strategy == "ptft":
        source = pt.get("source")
        label = f"ptft ← {source} ({pt.get('pt_size') or 'default'})"
        desc = f"pre-trained on {source} ({pt.get('pt_size') or 'default'} structures), fine-tuned"
        if pt.get("trunk"):  # a shipped trunk (bench.foundation): pre-trained by its authors, not here
            label, desc = f"ptft ← {source} (shipped)", f"fine-tuned from the shipped {pt['trunk']} trunk"
    elif strategy == "mpt":
        sources = list(pt.get("sources") or [])
        short = "+".join(s.split("-", 1)[-1] if "-" in s else s for s in sources)
        label = f"mpt ← {short} ({pt.get('pt_size') or 'default'})"
        weighting = pt.get("weighting") or "equal"
        if weighting != "equal":
            label += f" · {weighting}"
        desc = (f"multi-property pre-training on {', '.join(sources)} ({pt.get('pt_size') or 'default'} "
                f"structures each, {weighting} weighting), fine-tuned")
        source = "mpt"
    else:
        label, desc = strategy, "trained from scratch" if strategy == "scratch" else strategy
    if mode != "all":
        label += f" · {mode}"
        desc += f" (mode {mode})"
    if strategy in ("ptft", "mpt") and saw_target_property(run):
        label += f" · {TARGET_LABEL}"
        desc += "; the trunk was pre-trained on a source of the target's own property (--allow-target-source)"
    if saw_test_structures(run):
        label += f" · ⚠ {FOUNDATION_LABEL}"
        desc += ("; the shipped trunk's pre-training (MPtrj: Materials Project) may hold this task's test "
                 "structures, labelled with energies, not the target")
    key = (STRATEGY_ORDER.get(strategy, 9), strategy, label, run.backbone, run.budget, settings_fingerprint(run))
    return key, label, desc, source


def settings_fingerprint(run: Run) -> str:
    """Hash of the settings beyond the strategy (backbone size, training recipe, data limits, graph rule):
    runs with other hyper-parameters (a tuned learning rate, ``--epochs``) are not averaged with the budget's."""
    c = run.config
    train = {k: v for k, v in (c.get("train") or {}).items() if k not in ("seed", "device", "checkpoint_every_s")}
    blob = json.dumps({"backbone": c.get("backbone_config"), "train": train, "limits": c.get("data_limits"),
                       "graph": c.get("graph")}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:6]


def group_runs(runs: list[Run]) -> dict[str, TaskBoard]:
    boards: dict[str, TaskBoard] = {}
    for run in runs:
        board = boards.setdefault(run.task, TaskBoard(run.task))
        key, label, desc, source = _row_identity(run)
        row = next((r for r in board.rows if r.order == key), None)
        if row is None:
            row = Row(label, run.strategy, run.backbone, run.budget, key, desc, source, run.ft_mode)
            board.rows.append(row)
        row.runs.setdefault(run.ft_size, []).append(run)
    for board in boards.values():
        runs_of_task = [r for row in board.rows for r in row.all_runs]
        # task info: the most common among the task's records (a task definition may have changed)
        info = Counter((r.record["task_info"]["main_metric"], r.record["task_info"]["target"],
                        r.record["task_info"]["units"], r.record["task_info"].get("family") or "")
                       for r in runs_of_task).most_common(1)[0][0]
        board.main_metric, board.target, board.units, board.family = info
        for row in board.rows:
            for size, rs in row.runs.items():
                rs.sort(key=lambda r: (r.trial, r.config["seed"]))
                row.values[size] = [float(r.metrics[board.main_metric]) if board.main_metric in r.metrics
                                    else math.nan for r in rs]
        board.rows.sort(key=lambda r: r.order)
        # the same strategy with different settings: tell the rows apart
        variants = Counter(r.order[:-1] for r in board.rows)
        for row in board.rows:
            if variants[row.order[:-1]] > 1:
                row.label += f" · settings {row.order[-1]}"
                t = row.all_runs[0].config.get("train") or {}
                row.description += (f"; settings {row.order[-1]}: {t.get('epochs')} epochs, batch "
                                    f"{t.get('batch_size')}, lr {t.get('lr')}, weight decay {t.get('weight_decay')}")
    return boards


def add_reference(boards: dict[str, TaskBoard], reference: dict[str, list[PaperRow]]) -> None:
    """Paper rows for every task the csv covers (pages for the devi2024 targets even without runs)."""
    for task in TARGET_TASKS:
        if task in reference and task not in boards:
            boards[task] = _board_from_registry(task)
    for task, board in boards.items():
        column = COLUMN_OF_METRIC.get(board.main_metric)
        if column is None:
            continue
        for prow in reference.get(task, []):
            row = Row(prow.label, prow.strategy, "ALIGNN", "paper", (prow.order,),
                      f"{CITATION}: study '{prow.study}', their recipe (ALIGNN 4+4 layers, hidden 256, "
                      f"500 epochs), pre-training size {prow.pt_size or '—'}", prow.source, paper=prow)
            row.values = {size: metrics[board.main_metric] for size, metrics in prow.values.items()
                          if board.main_metric in metrics}
            if row.values:
                board.paper_rows.append(row)


def _board_from_registry(task: str) -> TaskBoard:
    board = TaskBoard(task)
    try:
        from tasks import all_tasks

        t = all_tasks().get(task)
    except Exception:  # a task module being edited must not break the leaderboard
        t = None
    if t is not None:
        board.target, board.units, board.main_metric, board.family = t.target, t.units, t.main_metric, t.family
    else:
        board.units, board.family = "scaled units", "devi2024"
    return board


# --------------------------------------------------------------------------------------------- plots


def _colors(board: TaskBoard) -> dict[int, str]:
    """A colour per row; a paper row takes the colour of this suite's row of the same strategy and source."""
    from leaderboard.plots import PALETTE

    out: dict[int, str] = {}
    by_kind: dict[tuple, str] = {}
    for i, row in enumerate(board.rows):
        out[id(row)] = PALETTE[i % len(PALETTE)]
        by_kind.setdefault((row.strategy, row.source if row.strategy == "ptft" else None), out[id(row)])
    spare = iter(PALETTE[len(board.rows):] + PALETTE)
    for row in board.paper_rows:
        kind = (row.strategy, row.source if row.strategy == "ptft" else None)
        if kind not in by_kind:
            by_kind[kind] = next(spare)
        out[id(row)] = by_kind[kind]
    return out


def _plot_label(board: TaskBoard, row: Row) -> str:
    extra = []
    if len({r.backbone for r in board.rows}) > 1:
        extra.append(row.backbone)
    if len({r.budget for r in board.rows}) > 1:
        extra.append(row.budget)
    return row.label + (f" [{', '.join(extra)}]" if extra else "")


def _x_positions(board: TaskBoard) -> tuple[dict, dict[float, str]]:
    ints = [s for s in board.sizes if s is not None]
    pos: dict = {s: float(s) for s in ints}
    n_full = [r.n_train for row in board.rows for r in row.runs.get(None, []) if r.n_train]
    if None in board.sizes:
        if n_full:
            pos[None] = float(statistics.fmean(n_full))
        else:
            pos[None] = 10 ** math.ceil(math.log10(max(ints) * 1.5)) if ints else 1000.0
        if ints and pos[None] <= max(ints):
            pos[None] = max(ints) * 2.0
    ticks = {x: (f"full (n≈{x:.0f})" if s is None and n_full else size_label(s)) for s, x in pos.items()}
    return pos, ticks


def plot_learning_curves(board: TaskBoard, img_dir: Path) -> Path:
    from leaderboard.plots import Curve, learning_curves

    colors = _colors(board)
    pos, ticks = _x_positions(board)

    def curve(row: Row, label: str) -> Curve:
        return Curve(label, colors[id(row)], [(pos[s], *row.stats(s)[:2]) for s in row.values])

    ours = [curve(r, _plot_label(board, r)) for r in board.rows]
    paper = [curve(r, r.label.removeprefix("paper: ")) for r in board.paper_rows]
    metric = METRIC_LABELS.get(board.main_metric, board.main_metric)
    unit = f"; units: {board.units}" if board.main_metric in ("mae", "rmse") and board.units else ""
    # R² can be hugely negative for a few points (the paper's scratch at N = 10); keep the axis readable
    floor = -1.0 if board.main_metric == "r2" else None
    return learning_curves(img_dir / f"{board.slug}-learning-curves.png", ours, paper, f"test {metric}",
                           f"{board.name}: test {metric} vs fine-tuning set size (mean ± std over trials{unit})", ticks,
                           floor)


def best_size(board: TaskBoard, row: Row):
    """The FT size at which a row scores best (ties: the larger size)."""
    hib = higher_is_better(board.main_metric)
    scored = [(row.stats(s)[0], size_order(s), s) for s in row.values if math.isfinite(row.stats(s)[0])]
    if not scored:
        return None, False
    m, _, s = (max(scored, key=lambda t: (t[0], t[1])) if hib else
               min(scored, key=lambda t: (t[0], -t[1])))
    return s, True


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


# --------------------------------------------------------------------------------------------- HTML

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px auto;
       max-width: 1500px; padding: 0 20px; color: #1d2330; background: #fff; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
a { color: #1f5fbf; } code { background: #f2f4f7; padding: 0 3px; border-radius: 3px; }
p.meta, .caption { color: #556; font-size: 0.9em; }
table.board { border-collapse: collapse; font-size: 0.84em; margin: 10px 0; }
table.board th, table.board td { border: 1px solid #d8dde6; padding: 4px 6px; vertical-align: top; }
table.board td.label { min-width: 11em; }
table#tasks td:first-child { white-space: nowrap; }
table.board th { background: #eef1f6; cursor: pointer; user-select: none; white-space: nowrap; }
table.board th:hover { background: #dfe5ef; }
table.board th[aria-sort=ascending]::after { content: " ▲"; font-size: 0.8em; }
table.board th[aria-sort=descending]::after { content: " ▼"; font-size: 0.8em; }
table.board td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
table.board td.num .sd { display: block; font-size: 0.85em; color: #556; }
table.board td.num sup { color: #99a; margin-left: 2px; font-size: 0.72em; }
table.board td.best { background: #d4f2d9; font-weight: 700; }
table.board td.best::before { content: "★ "; color: #1b7f3b; font-weight: 400; }
table.board td .twin { color: #b3261e; font-weight: 700; }
p.leak { background: #fdecea; border-left: 4px solid #b3261e; padding: 6px 10px; }
table.board tbody.reference tr { background: #f7f7fa; color: #555; font-style: italic; }
table.board tbody.reference tr:first-child td { border-top: 3px double #99a; }
table.board tbody.reference td:first-child { border-left: 4px solid #b9bfcc; }
table.board td.empty { color: #bbb; text-align: center; }
details summary { cursor: pointer; color: #1f5fbf; white-space: nowrap; }
details dl { margin: 6px 0 0; display: grid; grid-template-columns: max-content 1fr; gap: 2px 10px;
             font-size: 0.92em; max-width: 560px; }
details dt { color: #667; } details dd { margin: 0; word-break: break-word; }
figure { margin: 12px 0 24px; } figure img { max-width: 100%; border: 1px solid #e3e6ec; }
figcaption { color: #556; font-size: 0.88em; margin-top: 4px; max-width: 1100px; }
.swatch { display: inline-block; width: 12px; height: 12px; border: 1px solid #aaa; vertical-align: middle; }
"""

SORT_JS = """
(function () {
  function key(cell) {
    if (!cell) return null;
    var v = cell.getAttribute('data-sort');
    if (v === null) v = cell.textContent.trim();
    if (v === '' || v === '—') return null;
    var n = parseFloat(v);
    return (!isNaN(n) && isFinite(n) && /^[-+]?[0-9.]/.test(v)) ? n : v.toLowerCase();
  }
  function compare(a, b) {
    if (a === null && b === null) return 0;
    if (a === null) return 1;
    if (b === null) return -1;
    if (typeof a === typeof b) return a < b ? -1 : a > b ? 1 : 0;
    return typeof a === 'number' ? -1 : 1;
  }
  var tables = document.querySelectorAll('table.sortable');
  Array.prototype.forEach.call(tables, function (table) {
    var headers = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(headers, function (th, idx) {
      th.title = th.title || 'click to sort';
      th.addEventListener('click', function () {
        var asc = th.getAttribute('aria-sort') !== 'ascending';
        Array.prototype.forEach.call(headers, function (h) { h.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
        Array.prototype.forEach.call(table.tBodies, function (tbody) {
          var rows = Array.prototype.slice.call(tbody.rows);
          rows.sort(function (r1, r2) {
            var a = key(r1.cells[idx]), b = key(r2.cells[idx]);
            if (a === null || b === null) return compare(a, b);
            return asc ? compare(a, b) : compare(b, a);
          });
          rows.forEach(function (r) { tbody.appendChild(r); });
        });
      });
    });
    table.setAttribute('data-sortable', 'ready');
    // a link can ask for a sorted view: page.html#sort=3 (column index), #sort=3-desc
    var m = /^#sort=(\d+)(-desc)?$/.exec(window.location.hash);
    if (m && headers[+m[1]]) {
      headers[+m[1]].click();
      if (m[2]) headers[+m[1]].click();
    }
  });
  window.addEventListener('load', function () {
    var imgs = document.querySelectorAll('img.plot');
    var ok = Array.prototype.filter.call(imgs, function (i) { return i.complete && i.naturalWidth > 0; });
    document.body.setAttribute('data-plots-rendered', ok.length + '/' + imgs.length);
  });
})();
"""


def esc(value) -> str:
    return html.escape(str(value), quote=True)


def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n"
            f"<script>{SORT_JS}</script>\n</body>\n</html>\n")


def _fmt(value: float, digits: int = 4) -> str:
    return "nan" if not math.isfinite(value) else f"{value:.{digits}g}"


def _fmt_seconds(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.1f} h"


def _cell(row: Row, size, best: float | None, twins: TwinCheck | None = None) -> str:
    vals = row.values.get(size)
    if not vals:
        return '<td class="num empty" data-sort="">—</td>'
    mean, std, n = row.stats(size)
    text = esc(_fmt(mean)) + (f' <span class="sd">± {esc(_fmt(std, 2))}<sup>n={n}</sup></span>'
                              if math.isfinite(std) else f'<span class="sd"><sup>n={n}</sup></span>')
    title = f"{n} trial{'s' * (n > 1)}: " + ", ".join(_fmt(v) for v in vals)
    leaked = [r for r in row.runs.get(size, []) if twins is not None and twins.is_flagged(r)]
    if leaked:
        pairs = sorted({f"{p} (pool) ~ {t} (test)" for r in leaked for p, t in twins.pairs(r)})
        text += f' <span class="twin" title="{esc(TWIN_LABEL)}">⚠ {len(leaked)}/{n}</span>'
        title += f"; {len(leaked)} of {n} {TWIN_LABEL} (trial {', '.join(str(r.trial) for r in leaked)}: " \
                 f"{', '.join(pairs)})"
    classes = "num"
    if best is not None and row.paper is None and math.isfinite(mean) and mean == best:
        classes += " best"
        title += " (best in column)"
    sort = repr(mean) if math.isfinite(mean) else ""
    return f'<td class="{classes}" data-sort="{sort}" title="{esc(title)}">{text}</td>'


def _distinct(values) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def _metadata(row: Row) -> str:
    if row.paper is not None:
        n = sorted({len(v) for m in row.paper.values.values() for v in m.values()})
        return (f'<td><details><summary>paper ({"/".join(map(str, n))} trial(s))</summary><dl>'
                f"<dt>source</dt><dd>{esc(row.description)}</dd>"
                f"<dt>units</dt><dd>MAE/RMSE in the paper's min-max scaled units ([-1, 1])</dd></dl>"
                f"</details></td>")
    runs = row.all_runs
    walls = [float(r.record["wall_seconds"]) for r in runs]
    trains = [float(r.record["train_seconds"]) for r in runs if isinstance(r.record.get("train_seconds"),
                                                                          (int, float))]
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
    commits = _distinct(r.record["git_commit"] for r in runs)
    seeds = _distinct(str(r.config["seed"]) for r in runs)
    mean_wall = statistics.fmean(walls)
    items = [("runs", f"{len(runs)} (seed{'s' * (len(seeds) > 1)} {', '.join(seeds)})"),
             ("strategy", row.description),
             ("hardware", "<br>".join(map(esc, hw))),
             ("budget", "<br>".join(map(esc, budgets))),
             ("wall time", f"mean {_fmt_seconds(mean_wall)} (min {_fmt_seconds(min(walls))}, max "
                           f"{_fmt_seconds(max(walls))})"
                           + (f"; training {_fmt_seconds(statistics.fmean(trains))} mean" if trains else "")),
             ("versions", "<br>".join(map(esc, versions))),
             ("git commit", "<br>".join(f"<code>{esc(c)}</code>" for c in commits)),
             ("records", "<br>".join(f"<code>{esc(r.path.name)}</code>" for r in runs))]
    body = "".join(f"<dt>{k}</dt><dd>{v if k in ('hardware', 'budget', 'versions', 'git commit', 'records') else esc(v)}"
                   f"</dd>" for k, v in items)
    gpu = any(r.record["hardware"].get("gpu") for r in runs)
    summary = f"{len(runs)} run{'s' * (len(runs) > 1)} · {_fmt_seconds(mean_wall)} · {'GPU' if gpu else 'CPU'}"
    return (f'<td data-sort="{mean_wall!r}"><details><summary>{esc(summary)}</summary><dl>{body}</dl>'
            f"</details></td>")


def _table(board: TaskBoard, table_id: str, twins: TwinCheck | None = None, sizes: list | None = None,
           paper_rows: list[Row] | None = None, empty: str = "") -> str:
    sizes = board.sizes if sizes is None else sizes
    paper_rows = board.paper_rows if paper_rows is None else paper_rows
    best = {s: board.best(s) for s in sizes}
    head = ["Backbone", "Strategy", "Budget"] + [f"N = {size_label(s)}" for s in sizes] + ["Runs &amp; metadata"]
    thead = "<thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead>"

    def tr(row: Row, cls: str) -> str:
        cells = [f"<td>{esc(row.backbone)}</td>", f'<td class="label" title="{esc(row.description)}">'
                 f"{esc(row.label)}</td>", f"<td>{esc(row.budget)}</td>"]
        cells += [_cell(row, s, best.get(s), twins) for s in sizes]
        cells.append(_metadata(row))
        return f'<tr class="{cls}">' + "".join(cells) + "</tr>"

    ours = "".join(tr(r, "run") for r in board.rows)
    if not board.rows:
        ours = (f'<tr class="run none"><td colspan="{len(head)}">' + (empty or
                f"No result records for this task yet (<code>bench sweep --task {esc(board.name)} --export</code> "
                f"adds them).") + "</td></tr>")
    ref = "".join(tr(r, "paper") for r in paper_rows)
    return (f'<table class="board sortable" id="{table_id}">{thead}<tbody class="ours">{ours}</tbody>'
            + (f'<tbody class="reference">{ref}</tbody>' if ref else "") + "</table>")


def _without_twins(board: TaskBoard, twins: TwinCheck) -> str:
    """The second table of a task page: the same rows without the runs trained on a test twin."""
    runs = [r for row in board.rows for r in row.all_runs]
    left_out = [r for r in runs if twins.is_flagged(r)]
    if not left_out:
        return ""
    kept = group_runs([r for r in runs if not twins.is_flagged(r)]).get(board.name) or TaskBoard(board.name)
    kept.main_metric = board.main_metric
    pairs = sorted({f"{p} (pool) ~ {t} (test)" for r in left_out for p, t in twins.pairs(r)})
    return (f'<h2 id="without-twins">Excluding runs {esc(TWIN_LABEL)}</h2>'
            f'<p class="leak">{len(left_out)} of {len(runs)} runs trained on a structure that is the same material '
            f"as one of their test structures ({esc(', '.join(pairs))}; see <code>bench tasks show "
            f"{esc(board.name)}</code>). They are marked ⚠ above and left out of this table; the split itself is "
            f"the source's, kept as published.</p>"
            + _table(kept, "leaderboard-without-twins", sizes=board.sizes, paper_rows=[],
                     empty="Every run of this task trained on a test twin."))


def render_task_page(board: TaskBoard, images: dict[str, str | None], twins: TwinCheck | None = None) -> str:
    metric = METRIC_LABELS.get(board.main_metric, board.main_metric)
    hib = higher_is_better(board.main_metric)
    table = _table(board, "leaderboard", twins)
    second = _without_twins(board, twins) if twins is not None else ""
    unit = f" (units: {esc(board.units)})" if board.main_metric in ("mae", "rmse") and board.units else ""
    notes = [f"Cells: mean ± standard deviation over trials of the test {esc(metric)}{unit} "
             f"({'higher' if hib else 'lower'} is better); hover a cell for the individual trials. "
             "★ marks the best of this suite's rows in each column. Click a header to sort."]
    if board.paper_rows:
        notes.append(f"Grey italic rows below the double line are the numbers reported by {esc(CITATION)}, recomputed from the "
                     "authors' per-run predictions (their recipe; MAE in their min-max scaled units, the units "
                     "of the devi2024 tasks); they are not ranked.")
    figs = []
    if images.get("curves"):
        figs.append(f'<h2>Learning curves</h2><figure><img src="{esc(images["curves"])}" '
                    f'alt="learning curves for {esc(board.name)}" class="plot curves"><figcaption>Test {esc(metric)} '
                    "against the number of fine-tuning structures; error bars: standard deviation over trials."
                    "</figcaption></figure>")
    if images.get("parity"):
        figs.append(f'<h2>Parity plots</h2><figure><img src="{esc(images["parity"])}" '
                    f'alt="parity plots for {esc(board.name)}" class="plot parity"><figcaption>Predicted against '
                    "true test values for each strategy at its best fine-tuning size, pooled over trials."
                    "</figcaption></figure>")
    info = " · ".join(x for x in [f"target <b>{esc(board.target)}</b>" if board.target else "",
                                  f"units {esc(board.units)}" if board.units else "",
                                  f"main metric <b>{esc(metric)}</b> ({'higher' if hib else 'lower'} is better)",
                                  f"family {esc(board.family)}" if board.family else "",
                                  f"{board.n_runs} run{'s' * (board.n_runs != 1)}"] if x)
    if twins is not None and board.name in twins.status:
        notes.append(f"Test-twin check: {esc(twins.status[board.name])}."
                     + (' ⚠ k/n: k of the cell\'s n runs trained on a test twin (<a href="#without-twins">table '
                        "without them</a>)." if second else ""))
    body = (f'<nav><a href="index.html">← all tasks</a></nav>\n<h1>{esc(board.name)}</h1>\n'
            f'<p class="meta">{info}</p>\n{table}\n'
            + "".join(f'<p class="caption">{n}</p>' for n in notes) + "\n" + second + "\n" + "\n".join(figs))
    return _page(f"{board.name} · tl-bench leaderboard", body)


def _shown_path(path: Path) -> str:
    """A path as the site shows it: relative to the repository when inside it, else its name only, so a built
    site never publishes the builder's home directory."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return path.name


def render_index(boards: dict[str, TaskBoard], n_records: int, results_dir: Path, reference_csv: Path | None,
                 heatmaps: list[tuple[str, str, str]], twins: TwinCheck | None = None) -> str:
    rows = []
    for name in sorted(boards):
        b = boards[name]
        metric = METRIC_LABELS.get(b.main_metric, b.main_metric)
        our_sizes = [s for s in b.sizes if any(s in r.values for r in b.rows)]
        best_txt, best_sort = "—", ""
        if our_sizes:
            size = max(our_sizes, key=size_order)
            target = b.best(size)
            winners = [r for r in b.rows if target is not None and r.stats(size)[0] == target]
            if winners:
                best_txt = f"{winners[0].label} ({winners[0].backbone}, {winners[0].budget}): " \
                           f"{_fmt(target)} at N = {size_label(size)}"
                best_sort = winners[0].label
        rows.append(f'<tr><td><a href="{esc(b.slug)}.html">{esc(name)}</a></td><td>{esc(b.target)}</td>'
                    f"<td>{esc(b.units)}</td><td>{esc(metric)} ({'↑' if higher_is_better(b.main_metric) else '↓'})"
                    f"</td><td data-sort=\"{b.n_runs}\">{b.n_runs}</td><td data-sort=\"{len(b.rows)}\">"
                    f"{len(b.rows)}</td><td>{'yes' if b.paper_rows else '—'}</td>"
                    f'<td data-sort="{esc(best_sort)}">{esc(best_txt)}</td></tr>')
    table = ('<table class="board sortable" id="tasks"><thead><tr><th>Task</th><th>Target</th><th>Units</th>'
             "<th>Main metric</th><th>Runs</th><th>Strategies</th><th>Paper rows</th>"
             "<th>Best at the largest FT size</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")
    if not boards:
        table = "<p>No result records and no reference numbers: nothing to show yet.</p>"
    figs = "".join(f'<h2>{esc(title)}</h2><figure><img src="{esc(src)}" alt="{esc(title)}" class="plot heatmap">'
                   f"<figcaption>{esc(caption)}</figcaption></figure>" for title, src, caption in heatmaps)
    if not any("this suite" in t for t, _, _ in heatmaps):
        figs = ('<h2>Transfer heatmap (this suite)</h2><p class="caption">No pre-trained runs with a matching '
                "scratch baseline yet.</p>") + figs
    ref = f"<code>{esc(_shown_path(reference_csv))}</code>" if reference_csv else "none"
    body = (f"<h1>tl-bench leaderboard</h1>\n<p class=\"meta\">Transfer learning of materials properties with "
            f"graph neural networks. Built from {n_records} result record{'s' * (n_records != 1)} in "
            f"<code>{esc(_shown_path(results_dir))}</code>; paper reference: {ref}.</p>\n"
            + (f'<p class="leak">{len(twins.flagged)} run{"s" * (len(twins.flagged) != 1)} {esc(TWIN_LABEL)} (a '
               "training structure that is the same material as one of its test structures): marked ⚠ on the task "
               "pages, each of which also shows its table without them.</p>\n" if twins and twins.flagged else "")
            + f"{table}\n{figs}")
    return _page("tl-bench leaderboard", body)


# --------------------------------------------------------------------------------------------- entry point


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
        if board.rows or board.paper_rows:
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
    combos = Counter((r.backbone, r.budget) for r in runs)
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
    index = out_dir / "index.html"
    index.write_text(render_index(boards, len(runs), results_dir, reference_csv, heatmaps, twins), encoding="utf-8")
    return BuildReport(index, pages, images, len(runs), sorted(boards))
