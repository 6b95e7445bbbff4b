"""A frozen trunk embedded once vs run in every step: the same `bench run`, timed in one process.

    python tests/benchmarks/frozen_trunk.py [--task devi2024-ph] [--backbone chgnet] [--ft-size 100] [--epochs 10]

Runs ``bench run --strategy ptft --ft-mode new-head`` twice through the engine (``run_benchmark``, ``--fresh``,
a throw-away MLflow store), first as the trainer does it (the frozen trunk's embeddings computed once, see
``bench.frozen_trunk``), then with the cache switched off (``bench.train.trunk_is_frozen`` patched to say
no), and prints both wall times, their ratio and both test metrics (which must agree: same function, same
losses). CHGNet's pre-training source is its shipped weights (``mptrj``); other backbones' is ``devi2024-fe``
(pre-trained first if not cached: not timed).
"""

from __future__ import annotations

import argparse
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="devi2024-ph")
    ap.add_argument("--backbone", default="chgnet")
    ap.add_argument("--ft-size", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=10)
    args = ap.parse_args()

    import bench.train as train_module
    from bench.run import run_benchmark

    source = "mptrj" if args.backbone == "chgnet" else "devi2024-fe"
    options = dict(task=args.task, strategy="ptft", backbone=args.backbone, ft_mode="new-head", ft_size=args.ft_size,
                   pretrain={"source": source}, overrides={"epochs": args.epochs, "patience": None}, fresh=True)
    real = train_module.trunk_is_frozen
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        run_benchmark(**options, tracking_uri=uri)  # warm: graphs cached, trunk pre-trained if it must be
        for name, frozen_check in (("embedded once", real), ("trunk every step", lambda model: False)):
            train_module.trunk_is_frozen = frozen_check
            t0 = time.perf_counter()
            result = run_benchmark(**options, tracking_uri=uri)
            results[name] = (time.perf_counter() - t0, result.test_metrics)
        train_module.trunk_is_frozen = real
    (t_once, m_once), (t_every, m_every) = results.values()
    print(f"{args.backbone} new-head, {args.task} N={args.ft_size}, {args.epochs} epochs")
    for name, (seconds, metrics) in results.items():
        print(f"  {name:17s} {seconds:7.1f} s   test MAE {metrics['mae']:.5f}  R² {metrics['r2']:.4f}")
    print(f"  speed-up {t_every / t_once:.1f}×; test MAE difference {abs(m_once['mae'] - m_every['mae']):.2e}")


if __name__ == "__main__":
    main()
