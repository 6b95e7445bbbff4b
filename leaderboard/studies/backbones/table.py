"""Every backbone on the devi2024 targets at N=800 (2D: its full set), from the committed records (issue "backbones").

    python leaderboard/studies/backbones/table.py [RESULTS_DIR]

Mean test MAE (R²) over trials (n when not 3), seed 0; Δ: paired difference (same trials) to the same backbone's
scratch runs, and for CHGNet `all` also to CHGNet `new-head`; "k/n better": trials where the arm's MAE is lower.
Transfer arms are the main study's (941 pre-training structures per source). A second table sets every transfer
arm beside scratch wherever a backbone has an mpt run: which arm is that backbone's best. A third sets each
backbone's best run arm beside ALIGNN's best, paired on the same trials (same fine-tuning subset and test set).
"Best" is the lowest mean test MAE among the arms run, so it flatters every backbone alike.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from leaderboard.evidence import MAIN_PT_SIZE  # noqa: E402

TARGETS = ("devi2024-gv", "devi2024-ph", "devi2024-dc", "devi2024-ebg", "devi2024-pz", "devi2024-2d")
OTHERS = ("cgcnn", "schnet", "chgnet")  # set beside ALIGNN in the best-arm table


def load(results: Path) -> dict:
    rows: dict = defaultdict(dict)
    for f in results.glob("devi2024-*.json"):
        r = json.loads(f.read_text())
        c = r["config"]
        n = c["split"].get("ft_size") or "all"
        if c.get("seed", 0) != 0 or n not in (800, "all"):
            continue
        arm = c["strategy"]
        pt = (c.get("pretrain") or {}).get("pt_size")
        if arm != "scratch" and pt not in (None, MAIN_PT_SIZE):  # trunks of another PT size are not the main study's arms
            continue
        if arm == "ptft":
            mode = c.get("ft_mode", "all")
            arm = f"ptft-{c['pretrain']['source'].replace('devi2024-', '')}" + ("" if mode == "all" else f":{mode}")
        rows[(c["task"], c.get("backbone", "alignn"), arm)][c["split"].get("trial")] = (
            r["test_metrics"]["mae"], r["test_metrics"]["r2"])
    return rows


def cell(rows: dict, task: str, backbone: str, arm: str, ref: str | None = None) -> str:
    d = rows.get((task, backbone, arm))
    if not d:
        return "—"
    out = f"{np.mean([v[0] for v in d.values()]):.4f} ({np.mean([v[1] for v in d.values()]):.2f})"
    out += "" if len(d) == 3 else f" n={len(d)}"
    vs = delta(rows, (task, backbone, arm), (task, backbone, ref)) if ref else "—"
    return out if vs == "—" else f"{out}, {vs}"


def best_arm(rows: dict, task: str, backbone: str) -> str | None:
    """The arm (scratch included) with the lowest mean test MAE among ``backbone``'s runs on ``task``."""
    means = {arm: np.mean([v[0] for v in d.values()]) for (t, b, arm), d in rows.items()
             if t == task and b == backbone and d}
    return min(means, key=means.get) if means else None


def main(results: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "paper_study"))
    from r2_table import paper_best  # the paper's best mean R², computed from its shipped table

    best_r2 = paper_best()
    rows = load(results)
    print("| target | ALIGNN scratch / mpt | CGCNN scratch | CGCNN ptft FE | SchNet scratch | SchNet ptft FE | "
          "CHGNet scratch | CHGNet new-head | CHGNet all | CHGNet all vs new-head | composition-GBR | paper best R² |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for t in TARGETS:
        best = f"{best_r2[t][0]:.3f}"
        al = cell(rows, t, "alignn", "scratch")
        if rows.get((t, "alignn", "mpt")):
            al += " / mpt " + cell(rows, t, "alignn", "mpt", "scratch")
        cells = [cell(rows, t, "cgcnn", "scratch"), cell(rows, t, "cgcnn", "ptft-fe", "scratch"),
                 cell(rows, t, "schnet", "scratch"), cell(rows, t, "schnet", "ptft-fe", "scratch"),
                 cell(rows, t, "chgnet", "scratch"), cell(rows, t, "chgnet", "ptft-mptrj:new-head", "scratch"),
                 cell(rows, t, "chgnet", "ptft-mptrj", "scratch"),
                 delta(rows, (t, "chgnet", "ptft-mptrj"), (t, "chgnet", "ptft-mptrj:new-head")),
                 cell(rows, t, "composition-gbr", "scratch")]
        print(f"| {t.removeprefix('devi2024-').upper()} | {al} | {' | '.join(cells)} | {best} |")
    arms_table(rows)
    best_table(rows)


def delta(rows: dict, key: tuple, ref: tuple) -> str:
    """Paired mean difference of ``key``'s runs to ``ref``'s on their common trials, or "—"."""
    d, base = rows.get(key), rows.get(ref)
    common = sorted(set(d) & set(base)) if d and base else []
    if not common:
        return "—"
    diffs = [d[k][0] - base[k][0] for k in common]
    return f"Δ {np.mean(diffs):+.4f} ({sum(x < 0 for x in diffs)}/{len(diffs)} better)"


def arms_table(rows: dict) -> None:
    """Which transfer arm is each backbone's best: every arm beside scratch where a backbone has an mpt run."""
    arms = ("scratch", "ptft-fe", "ptft-bg", "mpt")
    print("\n| target | backbone | " + " | ".join(arms) + " |\n|---|---|" + "---|" * len(arms))
    for t in TARGETS:
        for b in ("alignn", "cgcnn", "schnet"):
            if rows.get((t, b, "mpt")):
                cells = [cell(rows, t, b, a, None if a == "scratch" else "scratch") for a in arms]
                print(f"| {t.removeprefix('devi2024-').upper()} | {b} | " + " | ".join(cells) + " |")


def best_table(rows: dict) -> None:
    """Does another backbone's best arm beat ALIGNN's best? Paired on the trials both ran."""
    print("\n| target | ALIGNN best | " + " | ".join(f"{b} best, Δ to ALIGNN's" for b in OTHERS) + " |\n|---|---|"
          + "---|" * len(OTHERS))
    for t in TARGETS:
        ref = best_arm(rows, t, "alignn")
        out = [f"{ref}: {cell(rows, t, 'alignn', ref)}" if ref else "—"]
        for b in OTHERS:
            arm = best_arm(rows, t, b)
            if arm is None:
                out.append("—")
                continue
            vs = delta(rows, (t, b, arm), (t, "alignn", ref)) if ref else "—"
            out.append(f"{arm}: {cell(rows, t, b, arm)}" + ("" if vs == "—" else f", {vs}"))
        print(f"| {t.removeprefix('devi2024-').upper()} | " + " | ".join(out) + " |")


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "leaderboard" / "results"
    if not folder.is_dir():  # a mistyped folder would print a table of dashes
        sys.exit(f"results folder {folder} does not exist")
    main(folder)
