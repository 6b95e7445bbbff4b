"""The tuned recipe against the budget's, per trial of one cell: validation first (the adoption rule), then test.

    python leaderboard/studies/tuning/compare.py [--task devi2024-dc] [--ft-size 800] [--strategy scratch|ptft|mpt]

Budget side: the committed records in ``leaderboard/results/`` (ALIGNN, seed 0, the budget's settings; ptft from
the default source, FE 941). Tuned side: the records in ``leaderboard/studies/tuning/results/`` of the same
strategy and trunk request (the best trial's parameters of its study, made by the ``bench sweep --params`` lines in
this folder's README). Adoption is decided on validation MAE only (a lower mean and
lower on every trial); test MAE and R² are printed after, for the reader, and decide nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from leaderboard.records import load_records  # noqa: E402


def cells(folder: Path, task: str, ft_size: int, tuned: bool, strategy: str = "scratch") -> dict[int, dict]:
    """Trial -> record of the ALIGNN seed-0 cells of ``strategy``; the budget's side is the run key a run without
    overrides has today (``plan_run``), so a record of any other recipe is never taken for the budget's. The tuned
    side asks for the same trunk (``config["pretrain"]``) as the budget's run."""
    from bench.run import plan_run

    out = {}
    for run in load_records(folder):
        if (run.task, run.strategy, run.backbone, run.ft_size, run.config["seed"]) != \
                (task, strategy, "alignn", ft_size, 0):
            continue
        plan = plan_run(task, strategy, "quick", 0, "cpu", ft_size=ft_size, trial=run.trial)
        if (tuned and run.config["pretrain"] == plan.config["pretrain"]) or run.record["run_key"] == plan.key:
            out[run.trial] = run.record
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="devi2024-dc")
    parser.add_argument("--ft-size", type=int, default=800)
    parser.add_argument("--strategy", default="scratch", choices=("scratch", "ptft", "mpt"))
    args = parser.parse_args(argv)
    base = cells(ROOT / "leaderboard/results", args.task, args.ft_size, tuned=False, strategy=args.strategy)
    tuned = cells(Path(__file__).parent / "results", args.task, args.ft_size, tuned=True, strategy=args.strategy)
    trials = sorted(set(base) & set(tuned))
    if not trials:
        sys.exit(f"no trial of {args.task} {args.strategy} N = {args.ft_size} has both sides: budget records for "
                 f"trials {sorted(base)}, tuned records for trials {sorted(tuned)}")
    print("| trial | val MAE budget | val MAE tuned | test MAE budget | test MAE tuned | test R² budget | test R² tuned |")
    print("|---|---|---|---|---|---|---|")
    for t in trials:
        b, u = base[t], tuned[t]
        print(f"| {t} | {b['best_val_mae']:.5f} | {u['best_val_mae']:.5f} | {b['test_metrics']['mae']:.5f} | "
              f"{u['test_metrics']['mae']:.5f} | {b['test_metrics']['r2']:.3f} | {u['test_metrics']['r2']:.3f} |")

    def mean(side, f):
        return statistics.fmean(f(side[t]) for t in trials)

    val_b, val_u = mean(base, lambda r: r["best_val_mae"]), mean(tuned, lambda r: r["best_val_mae"])
    print(f"| mean | {val_b:.5f} | {val_u:.5f} | {mean(base, lambda r: r['test_metrics']['mae']):.5f} | "
          f"{mean(tuned, lambda r: r['test_metrics']['mae']):.5f} | {mean(base, lambda r: r['test_metrics']['r2']):.3f} | "
          f"{mean(tuned, lambda r: r['test_metrics']['r2']):.3f} |")
    wins = sum(tuned[t]["best_val_mae"] < base[t]["best_val_mae"] for t in trials)
    print(f"\nValidation: tuned {100 * (val_u / val_b - 1):+.1f} % on the mean, lower on {wins} of {len(trials)} "
          f"trials -> {'wins' if val_u < val_b and wins == len(trials) else 'does not win'} on validation "
          "(the rule: lower mean and lower on every trial).")


if __name__ == "__main__":
    main()
