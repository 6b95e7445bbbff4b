"""The grid of strategies x FT sizes x trials (x pre-training sources and sizes) behind the paper's comparison,
and its summary: mean ± std per strategy and size and the paired difference against scratch on the same trial
subsets."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Cell:
    strategy: str
    label: str  # strategy with its source / PT size, e.g. "ptft:devi2024-fe:941"
    ft_size: int | None
    trial: int
    pretrain: dict = field(default_factory=dict)
    # per-cell backbone and CV fold (``bench compare`` mixes backbones and runs folds); None: the sweep's
    # backbone, and the FT subset ``ft_size``/``trial``
    backbone: str | None = None
    fold: int | None = None


def parse_trials(text: str) -> list[int]:
    """'1-5' or '1,3,5'."""
    out: list[int] = []
    try:
        for part in text.split(","):
            if "-" in part:
                a, b = part.split("-")
                out += list(range(int(a), int(b) + 1))
            elif part:
                out.append(int(part))
    except ValueError:
        raise ValueError(f"--trials takes a range or a list, e.g. 1-5 or 1,3; got {text!r}") from None
    if not out:
        raise ValueError(f"--trials {text!r} names no trial")
    return out


def grid(strategies: list[str], ft_sizes: list[int | None], trials: list[int], pt_sources: list[str],
         pt_sizes: list[int | str | None], mpt_sources: list[str] | None = None) -> list[Cell]:
    cells = []
    for strategy in strategies:
        if strategy == "scratch":
            variants = [("scratch", {})]
        elif strategy == "ptft":
            variants = [(f"ptft:{s}:{n}", {"source": s, "pt_size": n})
                        for s, n in itertools.product(pt_sources or ["fe"], pt_sizes or [None])]
        elif strategy == "mpt":
            variants = [(f"mpt:{n}", {"sources": mpt_sources, "pt_size": n}) for n in pt_sizes or [None]]
        else:
            raise KeyError(f"unknown strategy {strategy!r}")
        for (label, pretrain), ft_size, trial in itertools.product(variants, ft_sizes, trials):
            cells.append(Cell(strategy, label, ft_size, trial, pretrain))
    return cells


def summarise(rows: list[dict], metric: str = "mae") -> list[dict]:
    """Mean ± std per (label, ft_size), and the paired difference to scratch on the same trials."""
    out = []
    scratch = {(r["ft_size"], r["trial"]): r[metric] for r in rows if r["label"] == "scratch"}
    keys = sorted({(r["label"], r["ft_size"] or 0) for r in rows}, key=lambda x: (x[1], x[0] != "scratch", x[0]))
    for label, size in keys:
        sel = [r for r in rows if r["label"] == label and (r["ft_size"] or 0) == size]
        vals = np.array([r[metric] for r in sel])
        diffs = np.array([r[metric] - scratch[(r["ft_size"], r["trial"])] for r in sel
                          if (r["ft_size"], r["trial"]) in scratch]) if label != "scratch" else np.array([])
        out.append({"label": label, "ft_size": size or None, "n": len(vals), "mean": float(vals.mean()),
                    "std": float(vals.std(ddof=1)) if len(vals) > 1 else 0.0,
                    "paired_diff_mean": float(diffs.mean()) if len(diffs) else None,
                    "paired_diff_std": float(diffs.std(ddof=1)) if len(diffs) > 1 else None,
                    "n_paired": len(diffs)})
    return out
