"""The training-time estimate printed before a run against the time the run then took.

    python tests/benchmarks/estimate_check.py [NAME ...]      # all of CASES by default; a few minutes on 2 cores

Each case runs in a fresh BENCH_HOME (graph cache shared between cases). "Measured" is what the estimate
covers: ``Trainer.fit`` (every step, validation pass, checkpoint and per-epoch MLflow logging) plus the test
evaluation; "whole wall" adds data loading, the estimate itself and MLflow's start-up. The machine is shared:
timings are noisy.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

CASES = {
    "piezo-smoke": dict(task="piezo", budget="smoke"),
    "pz-ft100-quick-e3": dict(task="devi2024-pz", budget="quick", epochs=3, ft_size=100),
    "pz-ft800-quick-e3": dict(task="devi2024-pz", budget="quick", epochs=3, ft_size=800),
    "pz-ft100-quick": dict(task="devi2024-pz", budget="quick", ft_size=100),  # 40 epochs, early stopping
    "pretrain-fe-smoke": dict(pretrain="devi2024-fe", budget="smoke"),
}


def legacy_estimate(model, train_graphs, cfg, n_val) -> float:
    """The estimate before 2026-12-01 (one batch, three forward/backward passes, their minimum, fixed factors),
    kept here only to compare against."""
    import copy
    import math

    import torch

    from bench.train import batches, masked_loss

    state = copy.deepcopy(model.state_dict())
    sample = next(batches(train_graphs, cfg.batch_size)).to(cfg.device)
    model.train()
    times = []
    with torch.random.fork_rng(devices=[]):
        for _ in range(3):
            t0 = time.perf_counter()
            masked_loss(model(sample), torch.zeros_like(sample.y), cfg.loss).backward()
            times.append(time.perf_counter() - t0)
    step = min(times)
    model.zero_grad(set_to_none=True)
    model.load_state_dict(state)
    steps = math.ceil(len(train_graphs) / cfg.batch_size) * cfg.epochs
    return 1.15 * step * steps + 0.4 * step * (n_val / cfg.batch_size) * cfg.epochs


def run_case(name: str, spec: dict) -> dict:
    from rich.console import Console

    import bench.estimate
    import bench.run
    import bench.train

    seen = {"spans": []}
    original_estimate, original_fit, original_predict = (bench.estimate.estimate_seconds, bench.train.Trainer.fit,
                                                         bench.run.predict)

    def estimate(*args, **kwargs):
        seen["legacy"] = legacy_estimate(*args[:4])
        seen["estimate"] = original_estimate(*args, **kwargs)
        return seen["estimate"]

    def timed(fn):
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                result = fn(*args, **kwargs)
                if hasattr(result, "epoch"):  # Trainer.fit's LoopState
                    seen["epochs_run"] = result.epoch
                return result
            finally:
                seen["spans"].append(time.perf_counter() - t0)
        return wrapper

    console = Console(file=sys.stderr, width=200, highlight=False)
    # run.py imports estimate_seconds and predict by name; pretrain.py imports estimate_seconds when it trains.
    bench.run.estimate_seconds = bench.estimate.estimate_seconds = estimate
    bench.train.Trainer.fit = timed(original_fit)
    bench.run.predict = timed(original_predict)
    t0 = time.perf_counter()
    try:
        if "pretrain" in spec:
            from bench.pretrain import PretrainSpec, pretrained_model

            pretrained_model(PretrainSpec((spec["pretrain"],), 941, spec["budget"], 0, "alignn",
                                          bench.run.budget_backbone_config("alignn", spec["budget"])),
                             console)
        else:
            bench.run.run_benchmark(spec["task"], "scratch", spec["budget"], 0, "cpu", None, spec.get("epochs"),
                                    True, console, ft_size=spec.get("ft_size"))
    finally:
        bench.run.estimate_seconds = bench.estimate.estimate_seconds = original_estimate
        bench.train.Trainer.fit, bench.run.predict = original_fit, original_predict
    est = seen["estimate"]
    # early stopping cannot be foreseen; what the estimate says for the epochs that did run checks its arithmetic
    at_run = est.seconds - (est.shape.epochs - seen["epochs_run"]) * est.epoch_seconds
    return {"case": name, "legacy": seen["legacy"], "estimate": est.seconds, "at_run": at_run,
            "epochs": f"{seen['epochs_run']}/{est.shape.epochs}", "bound": est.upper_bound,
            "measured": sum(seen["spans"]),
            "wall": time.perf_counter() - t0, "load": os.getloadavg()[0]}


def main(names: list[str]) -> None:
    cache = Path(tempfile.mkdtemp(prefix="estimate-check-cache-"))
    rows = []
    for name in names or list(CASES):
        with tempfile.TemporaryDirectory(prefix="estimate-check-home-") as home:
            os.environ["BENCH_HOME"], os.environ["BENCH_CACHE_DIR"] = home, str(cache)
            rows.append(run_case(name, CASES[name]))
            print(f"RESULT {rows[-1]}", file=sys.stderr)
    print("\n| case | epochs run | estimate s | measured s | measured / estimate | estimate for the epochs run "
          "(measured / it) | old estimate s (measured / old) | whole wall s | load (1 min) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['epochs']} | {'≤ ' if r['bound'] else ''}{r['estimate']:.1f} | "
              f"{r['measured']:.1f} | "
              f"{r['measured'] / r['estimate']:.2f} | {r['at_run']:.1f} ({r['measured'] / r['at_run']:.2f}) | "
              f"{r['legacy']:.1f} ({r['measured'] / r['legacy']:.2f}) | {r['wall']:.1f} | {r['load']:.1f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
