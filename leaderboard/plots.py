"""The leaderboard's figures, drawn with matplotlib's object API on the Agg canvas (no pyplot global state,
no display) and saved as PNG files next to the pages."""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#bcbd22", "#7f7f7f", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd"]
DPI = 110


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", metadata={"Software": None}, bbox_inches="tight", pad_inches=0.08)
    return path


@dataclass
class Curve:
    label: str
    color: str
    points: list[tuple[float, float, float]]  # (x, mean, std); std may be nan


def wants_log_y(curves: list[Curve]) -> bool:
    """A log y axis when the positive means span more than a factor of 10 (the paper's MAE at N = 10 is ~50×
    its MAE at N = 800: on a linear axis every curve at large N is one flat line)."""
    means = [p[1] for c in curves for p in c.points if math.isfinite(p[1])]
    return bool(means) and min(means) > 0 and max(means) / min(means) > 10


def dodge(curves: list[Curve], spread: float = 0.05) -> list[Curve]:
    """The curves with their x shifted apart (a few % on the log axis, symmetric about the true x), so strategies
    measured at the same FT size do not hide one another; the ticks stay at the true sizes."""
    k = len(curves)
    return [Curve(c.label, c.color, [(x * 10 ** ((i - (k - 1) / 2) * spread / max(k - 1, 1)), m, sd)
                                     for x, m, sd in c.points]) for i, c in enumerate(curves)]


LEGEND_INSIDE = 6  # curves a panel's legend may hold inside the axes


def learning_curves(path: Path, ours: list[Curve], paper: list[Curve], metric_label: str, title: str,
                    ticks: dict[float, str], floor: float | None = None, log_y: bool = False) -> Path:
    """Metric vs FT size (log x, error bars = std over trials, curves dodged apart); the paper's curves in a
    second panel with the same y axis. Means below ``floor`` are drawn on the floor as ▼ with their value
    written next to them."""
    panels = [("this suite", dodge(ours))] + ([("paper (Devi et al. 2024)", dodge(paper))] if paper else [])
    # a long legend goes below its panel, in two columns, and the figure grows to hold it: inside, it hid the curves
    below = max(len([c for c in curves if c.points]) for _, curves in panels) > LEGEND_INSIDE
    rows = max(math.ceil(len(curves) / 2) for _, curves in panels) if below else 0
    fig = _figure(6.2 * len(panels), 4.4 + 0.17 * rows)
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    for ax, (name, curves) in zip(axes, panels):
        clipped: list[str] = []
        for c in curves:
            pts = sorted(p for p in c.points if math.isfinite(p[1]))
            if not pts:
                continue
            x, y, s = (np.array(v, dtype=float) for v in zip(*pts))
            s = np.where(np.isfinite(s), s, 0.0)
            low = np.zeros_like(y, dtype=bool) if floor is None else y < floor
            shown = np.where(low, floor if floor is not None else y, y)
            ax.errorbar(x, shown, yerr=np.where(low, 0.0, s), color=c.color, marker="o", ms=4, capsize=3, lw=1.4,
                        label=c.label, linestyle="--" if name.startswith("paper") else "-")
            for xi, yi in zip(x[low], y[low]):
                ax.plot([xi], [floor], marker="v", ms=8, color=c.color)
                at = min(ticks, key=lambda t: abs(math.log(t / xi))) if ticks else None  # undo the dodge
                clipped.append(f"{c.label} at {ticks[at] if at else f'{xi:g}'}: {yi:.3g}")
        if clipped:
            ax.text(0.98, 0.03, f"▼ below {floor:g}, not to scale:\n" + "\n".join(clipped), transform=ax.transAxes,
                    ha="right", va="bottom", fontsize=6.5, color="#444",
                    bbox={"boxstyle": "round", "fc": "white", "ec": "#ccc", "alpha": 0.9})
        ax.set_xscale("log")
        if log_y:
            from matplotlib.ticker import LogLocator, NullFormatter, StrMethodFormatter

            ax.set_yscale("log")
            # plain numbers at 1, 2, 5 × 10^k: a reader compares values, not exponents
            ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(StrMethodFormatter("{x:.3g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
        if ticks:
            ax.set_xticks(list(ticks), [ticks[t] for t in ticks])
            ax.set_xlim(min(ticks) / 1.3, max(ticks) * 1.3)  # the same sizes on both panels, dodged points inside
            ax.minorticks_off()
        ax.set_xlabel("fine-tuning set size")
        ax.set_title(name, fontsize=10)
        ax.grid(True, alpha=0.3)
        if not curves:
            ax.text(0.5, 0.5, "no runs recorded yet", transform=ax.transAxes, ha="center", va="center",
                    color="#888")
        elif below:
            ax.legend(fontsize=6.5, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
        elif any(c.points for c in curves):
            ax.legend(fontsize=7, loc="upper left" if floor is not None else "best")
    axes[0].set_ylabel(metric_label)
    if floor is not None:
        top = max([p[1] + (p[2] if math.isfinite(p[2]) else 0) for c in ours + paper for p in c.points
                   if math.isfinite(p[1]) and p[1] >= floor] + [floor + 0.1])
        axes[0].set_ylim(floor - 0.05 * (top - floor), top + 0.05 * (top - floor))
    fig.suptitle(title, fontsize=11)
    return _save(fig, path)


@dataclass
class ParityPanel:
    label: str
    color: str
    y_true: list[float]
    y_pred: list[float]
    subtitle: str


def parity(path: Path, panels: list[ParityPanel], axis_label: str, title: str) -> Path:
    """y_pred vs y_true, one panel per strategy, same limits everywhere."""
    n = len(panels)
    cols = min(n, 4)
    rows = math.ceil(n / cols)
    fig = _figure(3.1 * cols + 0.4, 3.1 * rows + 0.5)
    axes = fig.subplots(rows, cols, squeeze=False)
    allv = np.concatenate([np.r_[p.y_true, p.y_pred] for p in panels]).astype(float)
    allv = allv[np.isfinite(allv)]
    lo, hi = (float(allv.min()), float(allv.max())) if allv.size else (0.0, 1.0)
    pad = 0.04 * (hi - lo or 1.0)
    lo, hi = lo - pad, hi + pad
    for ax, p in zip(axes.flat, panels):
        ax.plot([lo, hi], [lo, hi], color="#555", lw=0.8, ls="--", zorder=1)
        ax.scatter(p.y_true, p.y_pred, s=9, alpha=0.55, color=p.color, edgecolors="none", zorder=2)
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal")
        ax.set_title(f"{p.label}\n{p.subtitle}", fontsize=8)
        ax.set_xlabel(f"true {axis_label}", fontsize=8)
        ax.set_ylabel(f"predicted {axis_label}", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.25)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    width = int(fig.get_figwidth() * 11)
    fig.suptitle("\n".join(textwrap.fill(line, width) for line in title.splitlines()), fontsize=10)
    return _save(fig, path)


def heatmap(path: Path, values: np.ndarray, row_labels: list[str], col_labels: list[str],
            notes: list[list[str]], title: str, colorbar_label: str) -> Path:
    """Diverging heatmap centred on zero (green = better than scratch), each cell annotated."""
    from matplotlib import colormaps
    from matplotlib.colors import TwoSlopeNorm

    nrows, ncols = values.shape
    fig = _figure(max(5.0, 1.15 * ncols + 3.2), max(3.0, 0.55 * nrows + 1.8))
    ax = fig.add_subplot()
    finite = values[np.isfinite(values)]
    span = float(np.max(np.abs(finite))) if finite.size else 1.0
    span = span or 1.0
    image = ax.imshow(np.ma.masked_invalid(values), cmap=colormaps["RdYlGn"].with_extremes(bad="#eeeeee"),
                      aspect="auto", norm=TwoSlopeNorm(vcenter=0.0, vmin=-span, vmax=span))
    ax.set_xticks(range(ncols), col_labels, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(nrows), row_labels, fontsize=8)
    ax.set_xlabel("target task")
    ax.set_ylabel("pre-training source")
    for i in range(nrows):
        for j in range(ncols):
            if notes[i][j]:
                ax.text(j, i, notes[i][j], ha="center", va="center", fontsize=7,
                        color="black" if not np.isfinite(values[i, j]) or abs(values[i, j]) < 0.6 * span
                        else "white")
    fig.colorbar(image, ax=ax, label=colorbar_label, shrink=0.9)
    ax.set_title(title, fontsize=10)
    return _save(fig, path)
