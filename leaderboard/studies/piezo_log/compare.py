"""piezo vs piezo-log on the same test structures, from the committed records (issue "study", item 7).

    python leaderboard/studies/piezo_log/compare.py [RESULTS_DIR]

Per strategy and target: R² in log10 space (raw-target predictions clipped at 1e-8 C/m² to be logged, and the
share of them ≤ 0), test MAE and R² in C/m² (piezo-log: its records' ``test_metrics_untransformed``), the median
absolute error in C/m², and for piezo-log the Pearson correlation in log space. Means over the records found.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]


def main(results: Path) -> None:
    rows = defaultdict(list)
    for f in sorted(results.glob("piezo*.json")):
        r = json.loads(f.read_text())
        c = r["config"]
        arm = c["strategy"] + (f" ← {c['pretrain']['source']}" if c["strategy"] == "ptft" else "")
        yt, yp = np.array(r["test_predictions"]["y_true"]), np.array(r["test_predictions"]["y_pred"])
        if c["task"] == "piezo-log":
            back = r["test_metrics_untransformed"]
            rows[(arm, "piezo-log")].append((r["test_metrics"]["r2"], back["mae"], back["r2"],
                                             np.median(np.abs(10 ** yt - 10 ** yp)), np.corrcoef(yt, yp)[0, 1]))
        elif c["task"] == "piezo":
            lt, lp = np.log10(np.clip(yt, 1e-8, None)), np.log10(np.clip(yp, 1e-8, None))
            r2_log = 1 - ((lt - lp) ** 2).sum() / ((lt - lt.mean()) ** 2).sum()
            rows[(arm, "piezo")].append((r2_log, r["test_metrics"]["mae"], r["test_metrics"]["r2"],
                                         np.median(np.abs(yt - yp)), (yp <= 0).mean()))
    print("| strategy | task | runs | R² log10 space | MAE C/m² | R² C/m² | median AE C/m² | piezo: share ≤ 0; piezo-log: r (log) |")
    print("|---|---|---|---|---|---|---|---|")
    for (arm, task), v in sorted(rows.items()):
        m = np.mean(v, axis=0)
        print(f"| {arm} | {task} | {len(v)} | {m[0]:.3f} | {m[1]:.4f} | {m[2]:.3f} | {m[3]:.4f} | {m[4]:.3f} |")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "leaderboard" / "results")
