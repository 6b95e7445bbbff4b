"""Performance benchmark (``bench perf``): ours against upstream alignn, and the levers we measured.

- :mod:`bench.perf.runner`: the comparison (graph build + edge parity, training, inference, peak RSS, FLOP floor).
- :mod:`bench.perf.levers`: allocator, torch.compile and model variants, each against the baseline on one batch.
- :mod:`bench.perf.peer`: upstream alignn's separate environment; :mod:`bench.perf.worker_peer` runs in it.
- :mod:`bench.perf.flops`: analytic FLOP count. See PERFORMANCE.md for results and how to reproduce them.
"""
