"""Benchmarks of our own hot paths, for comparing a change against a saved baseline (PERFORMANCE.md).

Deselected by default (marker ``bench_perf``); ``pytest -m bench_perf tests/benchmarks`` runs them. Each
benchmark measures one thing on real piezo structures; the training steps use a tiny batch so that the
paper-size step stays a few seconds on 2 CPU cores.
"""

from __future__ import annotations

import itertools
import subprocess
import sys

import pytest

pytestmark = pytest.mark.bench_perf

STEP_BATCH = 4  # structures per training step: small enough for the paper model on 2 cores


def test_graph_build_per_structure(benchmark, bench_structures, record):
    from bench.graphs import build_graph

    cycle = itertools.cycle(bench_structures)
    record(unit="one structure (cycling through 16 piezo structures)")
    graph = benchmark(lambda: build_graph(next(cycle)))
    assert graph.num_edges > 0


def test_collate_batch_of_16(benchmark, bench_graphs, record):
    from bench.train import batches

    record(unit="one batch of 16 graphs (Batch.from_data_list)")
    batch = benchmark(lambda: next(batches(bench_graphs, 16)))
    assert batch.num_graphs == 16


def _train_step(model, batch):
    import torch

    from bench.train import masked_loss, param_groups

    optimizer = torch.optim.AdamW(param_groups(model, 1e-5), lr=1e-3)

    def step():
        loss = masked_loss(model(batch), batch.y, "mse")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item()
    return step


@pytest.mark.parametrize("budget, rounds", [("quick", 10), ("paper", 3)])
def test_train_step(benchmark, bench_graphs, budget_model, record, budget, rounds):
    from bench.train import batches

    model = budget_model(budget).train()
    batch = next(batches(bench_graphs, STEP_BATCH))
    record(unit=f"forward + backward + AdamW, {budget} backbone, batch of {STEP_BATCH}",
           parameters=sum(p.numel() for p in model.parameters()))
    loss = benchmark.pedantic(_train_step(model, batch), rounds=rounds, iterations=1, warmup_rounds=1)
    assert loss == loss  # finite, not NaN


def test_inference_16_structures(benchmark, bench_graphs, budget_model, record):
    from bench.train import predict

    model = budget_model("quick")
    record(unit="bench.train.predict on 16 structures, quick backbone")
    pred = benchmark.pedantic(lambda: predict(model, bench_graphs), rounds=10, iterations=1, warmup_rounds=1)
    assert pred.shape == (16, 1)


def test_graph_cache_read(benchmark, bench_structures, tmp_path, record):
    from bench.graphs.cache import GraphCache

    cache = GraphCache(tmp_path / "graphs")
    for s in bench_structures:
        cache.get(s)  # written once
    cycle = itertools.cycle(bench_structures)
    record(unit="one cached graph: fingerprint + read + checksum + torch.load (cycling through 16)")
    graph = benchmark(lambda: cache.get(next(cycle)))
    assert cache.misses == len(bench_structures) and cache.hits > 0 and graph.num_edges > 0


@pytest.mark.parametrize("command", [["-m", "bench", "--help"], ["-c", "pass"]], ids=["bench-help", "python-bare"])
def test_startup(benchmark, record, command):
    """``bench --help`` in a fresh interpreter; ``python -c pass`` beside it, to subtract the interpreter."""
    record(unit=f"python {' '.join(command)} (subprocess)")
    run = lambda: subprocess.run([sys.executable, *command], capture_output=True, check=True)  # noqa: E731
    proc = benchmark.pedantic(run, rounds=10, iterations=1, warmup_rounds=1)
    assert proc.returncode == 0
