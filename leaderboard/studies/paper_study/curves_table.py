"""ALIGNN's mean test MAE per target, FT size and strategy beside the paper's, from the committed records.

    python leaderboard/studies/paper_study/curves_table.py [--results DIR]

Ours: quick budget, seed 0 (on the 2D full pool, where the seed is the replicate, every seed), all layers
fine-tuned, trunks at the main study's PT size; the lowest of our four strategies in bold, n when not 3 runs. The paper's: the mean over its trials of the same strategy (ptft from the
same source) on the same cell, from ``load_reference``. The learning curves of ``bench leaderboard build`` draw
the same numbers; the paired evidence is on the replication page.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from leaderboard.evidence import MAIN_PT_SIZE  # noqa: E402
from leaderboard.records import load_records  # noqa: E402
from leaderboard.reference import SHIPPED, load_reference  # noqa: E402

TARGETS = ("devi2024-gv", "devi2024-ph", "devi2024-dc", "devi2024-pz", "devi2024-ebg", "devi2024-2d")
ARMS = ("scratch", "ptft ← devi2024-fe", "ptft ← devi2024-bg", "mpt")


def _arm(strategy: str, source: str | None) -> str:
    return f"ptft ← {source}" if strategy == "ptft" else strategy


def ours(results: Path) -> dict[tuple, list[float]]:
    out: dict[tuple, list[float]] = defaultdict(list)
    for run in load_records(results):
        if (run.task not in TARGETS or run.backbone != "alignn" or run.budget != "quick" or run.ft_mode != "all"
                or (run.seed != 0 and not run.full_pool)):
            continue
        if run.strategy != "scratch" and run.pretrain.get("pt_size") not in (None, MAIN_PT_SIZE):
            continue
        out[(run.task, run.ft_size, _arm(run.strategy, run.pretrain.get("source")))].append(run.metrics["mae"])
    return out


def paper(csv_path: Path = SHIPPED) -> dict[tuple, float]:
    return {(task, size, _arm(row.strategy, row.source)): statistics.fmean(m["mae"])
            for task, rows in load_reference(csv_path).items() for row in rows
            for size, m in row.values.items() if m.get("mae")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", type=Path, default=ROOT / "leaderboard" / "results")
    args = ap.parse_args(argv)
    mine, theirs = ours(args.results), paper()
    print("| target | N | " + " | ".join(ARMS) + " | paper: " + " | paper: ".join(ARMS) + " |")
    print("|---|---|" + "---|" * 2 * len(ARMS))
    lowest = cells = 0
    for task in TARGETS:
        sizes = sorted({k[1] for k in mine if k[0] == task}, key=lambda n: n or 10**9)
        for n in sizes:
            means = {a: statistics.fmean(mine[(task, n, a)]) for a in ARMS if mine.get((task, n, a))}
            best = min(means, key=means.get)
            if task != "devi2024-2d" and len(means) == len(ARMS):
                cells, lowest = cells + 1, lowest + (best == "mpt")
            row = [("—" if a not in means else (f"**{means[a]:.4f}**" if a == best else f"{means[a]:.4f}")
                    + ("" if len(mine.get((task, n, a), [])) in (0, 3) else f" n={len(mine[(task, n, a)])}"))
                   for a in ARMS]
            row += [f"{theirs[(task, n, a)]:.4f}" if (task, n, a) in theirs else "—" for a in ARMS]
            print(f"| {task.removeprefix('devi2024-').upper()} | {n or 'full'} | " + " | ".join(row) + " |")
    print(f"\nmpt has the lowest mean MAE in {lowest} of {cells} in-domain cells with all four strategies.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
