"""The paper's study (issue "study", items 1-3) and the backbones' results (issue "backbones", item 5) as sweep
blocks: which cells the committed records already hold, and the ``bench sweep`` command that runs the rest.

    python leaderboard/studies/paper_study/grid.py [--results DIR] [--block NAME ...] [--missing]

A cell counts as done when a record in the results folder has its run key (or its configuration and data hash),
which is exactly what ``bench sweep`` skips, so the printed commands resume the study on any machine that has the
repository. Nothing is trained here.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
TARGETS = ("gv", "ph", "dc", "pz", "ebg")  # the devi2024 in-domain targets; "2d" is the out-of-domain one


@dataclass(frozen=True)
class Block:
    """One ``bench sweep`` per task, with these options."""

    name: str
    tasks: tuple[str, ...]  # devi2024 codes
    strategies: str
    ft_sizes: str
    trials: str = "1-3"
    pt_sources: str = "fe,bg"
    ft_mode: str = "all"
    backbone: str = "alignn"
    seeds: tuple[int, ...] = (0,)
    pt_sizes: str = ""  # the PT-size study's --pt-sizes; empty: each source's default (941)

    def command(self, task: str, seed: int) -> str:
        parts = [f"bench sweep --task devi2024-{task}", f"--strategies {self.strategies}"]
        if self.strategies != "scratch":
            parts.append(f"--pt-sources {self.pt_sources}")
        parts += [f"--pt-sizes {self.pt_sizes}"] if self.pt_sizes else []
        parts += [f"--ft-sizes {self.ft_sizes}", f"--trials {self.trials}"]
        parts += [f"--ft-mode {self.ft_mode}"] if self.ft_mode != "all" else []
        parts += [f"--backbone {self.backbone}"] if self.backbone != "alignn" else []
        parts += [f"--seed {seed}"] if seed else []
        return " ".join(parts + ["--export"])


FT_MODES = ("last-layer", "new-head", "2-body", "3-body", "all-but-embedding")
BLOCKS: list[Block] = [
    # study item 1: learning curves, four strategies (mpt: leave-target-out, default PT size)
    Block("main", TARGETS, "scratch,ptft,mpt", "10,100,200,500,800"),
    # item 2: the 2D set, on its full training set (3 seeds: "all" has one subset) and on 100/800 subsets
    Block("2d-full", ("2d",), "scratch,ptft,mpt", "all", trials="1", seeds=(0, 1, 2)),
    Block("2d-subsets", ("2d",), "scratch,ptft,mpt", "100,800"),
    # item 3: fine-tuning modes from the FE trunk (mode "all" and scratch are in "main")
    *[Block(f"mode-{m}", ("dc", "ph"), "ptft", "100,800", pt_sources="fe", ft_mode=m) for m in FT_MODES],
    # item 4: pre-training size (941 is in "main")
    Block("pt-size", ("dc", "ph", "pz"), "ptft", "800", pt_sizes="2500,5000"),
    # backbones item 5: scratch and the transfer arm per backbone at N = 800 (2D: its full set, once)
    *[Block(f"{b}-{arm}", TARGETS, arm, "800", pt_sources="fe", backbone=b)
      for b in ("cgcnn", "schnet") for arm in ("scratch", "ptft")],
    *[Block(f"{b}-{arm}-2d", ("2d",), arm, "all", trials="1", pt_sources="fe", backbone=b)
      for b in ("cgcnn", "schnet") for arm in ("scratch", "ptft")],
    Block("cgcnn-dc-arms", ("dc",), "ptft,mpt", "800", backbone="cgcnn"),  # which transfer arm is CGCNN's best
    Block("schnet-dc-arms", ("dc",), "ptft,mpt", "800", backbone="schnet"),
    *[Block(f"chgnet-{name}", TARGETS, arm, "800", pt_sources="mptrj", ft_mode=mode, backbone="chgnet")
      for name, arm, mode in (("scratch", "scratch", "all"), ("new-head", "ptft", "new-head"), ("all", "ptft", "all"))],
    *[Block(f"chgnet-{name}-2d", ("2d",), arm, "all", trials="1", pt_sources="mptrj", ft_mode=mode, backbone="chgnet")
      for name, arm, mode in (("scratch", "scratch", "all"), ("new-head", "ptft", "new-head"), ("all", "ptft", "all"))],
]


def cells(block: Block, task: str, seed: int):
    """(cell label, ft size, trial, run plan) of one sweep, as ``bench sweep`` would plan them."""
    from bench.run import plan_run
    from bench.sweep.grid import grid, parse_trials

    sizes = [None if s == "all" else int(s) for s in block.ft_sizes.split(",")]
    pt_sizes = [int(n) for n in block.pt_sizes.split(",")] if block.pt_sizes else []
    for c in grid(block.strategies.split(","), sizes, parse_trials(block.trials), block.pt_sources.split(","),
                  pt_sizes):
        mode = block.ft_mode if c.strategy != "scratch" else "all"
        plan = plan_run(f"devi2024-{task}", c.strategy, "quick", seed, "cpu", None, c.ft_size, c.trial, None,
                        c.pretrain, mode, backbone=block.backbone)
        yield c.label, c.ft_size, c.trial, plan


def status(block: Block, results: Path) -> list[dict]:
    """One row per (task, seed): cells done, cells in all, the missing cells and the command that runs them."""
    from bench.sweep.resume import CommittedRecords

    committed = CommittedRecords(results)
    rows = []
    for task in block.tasks:
        for seed in block.seeds:
            planned = list(cells(block, task, seed))
            missing = [f"{label} n={n or 'all'} t{t}" for label, n, t, p in planned
                       if committed.find(p.key, p.config, p.data_hash) is None]
            rows.append({"block": block.name, "task": task, "seed": seed, "done": len(planned) - len(missing),
                         "cells": len(planned), "missing": missing, "command": block.command(task, seed)})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", type=Path, default=ROOT / "leaderboard" / "results")
    ap.add_argument("--block", action="append", help="only these blocks (default: all)")
    ap.add_argument("--missing", action="store_true", help="list each missing cell")
    args = ap.parse_args(argv)
    if not args.results.is_dir():  # a mistyped folder would report every cell as missing
        print(f"results folder {args.results} does not exist", file=sys.stderr)
        return 2
    known = {b.name: b for b in BLOCKS}
    unknown = sorted(set(args.block or ()) - set(known))
    if unknown:
        print(f"unknown block(s) {', '.join(unknown)}; known: {', '.join(known)}", file=sys.stderr)
        return 2
    total = done = 0
    print("| block | task | seed | done | command for the rest |\n|---|---|---|---|---|")
    for block in (known[n] for n in args.block) if args.block else BLOCKS:
        for r in status(block, args.results):
            total, done = total + r["cells"], done + r["done"]
            rest = "—" if not r["missing"] else f"`{r['command']}`"
            print(f"| {r['block']} | {r['task']} | {r['seed']} | {r['done']}/{r['cells']} | {rest} |")
            if args.missing and r["missing"]:
                print("|  |  |  | missing: " + ", ".join(r["missing"]) + " |  |")
    print(f"\n{done} of {total} cells have a committed record.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
