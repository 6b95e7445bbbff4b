"""What a `bench tune` study found, against the budget's own settings on the same validation data.

    python leaderboard/studies/tuning/report.py STORAGE [--study NAME] [--top 5] [--snapshot DIR]

STORAGE is the study's Optuna storage (a sqlite file, or a URL). Trial 0 of a study made by `bench tune` is the
budget's own settings (user attribute ``budget_settings``): every number here is read against it. Only validation
MAE is shown; `bench tune` never looks at test data. ``--snapshot DIR`` copies a sqlite storage there with
sqlite's backup API (consistent while workers still write), so the study can be committed and continued elsewhere
with `bench tune ... --storage DIR/<file>`.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))


def snapshot(storage: str, folder: Path) -> Path:
    """A consistent copy of a sqlite storage in ``folder`` (same file name)."""
    source = Path(storage.removeprefix("sqlite:///"))
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / source.name
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return target


def _fmt(params: dict) -> str:
    return ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in sorted(params.items()))


def report(study, top: int = 5) -> str:
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    own = next((t for t in done if t.user_attrs.get("budget_settings")), None)
    counts = {s.name.lower(): sum(t.state == s for t in trials) for s in TrialState}
    attrs = study.user_attrs
    subset = f"N = {attrs['ft_size']}, trial {attrs['trial']}" if attrs.get("ft_size") else "the default split"
    lines = [f"## Study `{study.study_name}`", "",
             f"{attrs.get('task')} · {attrs.get('strategy')} · {attrs.get('budget')} budget · "
             f"{attrs.get('backbone', 'alignn')} · {subset} · seed {attrs.get('seed')}. Trials: "
             + ", ".join(f"{n} {k}" for k, n in counts.items() if n) + ".", ""]
    if own is None:
        lines.append("No complete trial of the budget's own settings: nothing to compare with.")
        return "\n".join(lines)
    better = [t for t in done if t.value < own.value]
    best = min(done, key=lambda t: t.value)
    lines += [f"- Budget's own settings (trial {own.number}): validation MAE **{own.value:.5f}**.",
              f"- Best (trial {best.number}): **{best.value:.5f}**, {100 * (best.value / own.value - 1):+.1f} % "
              f"against the budget; {len(better)} of {len(done) - 1} other complete trials beat the budget.",
              f"- Best parameters: {_fmt(best.params)}.", "",
              "| trial | validation MAE | vs budget | epochs | parameters |", "|---|---|---|---|---|"]
    shown = sorted(done, key=lambda t: t.value)[:top]
    for t in shown + ([] if own in shown else [own]):
        lines.append(f"| {t.number}{' (budget)' if t is own else ''} | {t.value:.5f} | "
                     f"{100 * (t.value / own.value - 1):+.1f} % | {t.params.get('epochs', '')} | {_fmt(t.params)} |")
    lines += ["", "One validation set decides this ranking (the subset's 10 %): a gain of a few per cent is within "
              "what another subset would move. Test MAE is not shown here by design."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("storage")
    parser.add_argument("--study", default=None, help="default: the storage's only study")
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument("--snapshot", type=Path, default=None)
    args = parser.parse_args(argv)
    import optuna

    from bench.tune import load_study, storage_url

    url = storage_url(args.storage)
    name = args.study or optuna.get_all_study_names(url)[0]
    print(report(load_study(name, url), args.top))
    if args.snapshot:
        print(f"\nsnapshot: {snapshot(url, args.snapshot)}", file=sys.stderr)


if __name__ == "__main__":
    main()
