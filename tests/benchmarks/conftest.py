"""Shared inputs of the hot-path benchmarks: real piezo structures, their graphs, models of each budget."""

from __future__ import annotations

import pytest

N_STRUCTURES = 16


@pytest.fixture(scope="session")
def bench_structures(piezo_structures):
    return piezo_structures[:N_STRUCTURES]


@pytest.fixture(scope="session")
def bench_graphs(bench_structures):
    import torch

    from bench.graphs import build_graph

    graphs = [build_graph(s) for s in bench_structures]
    for k, g in enumerate(graphs):
        g.y = torch.tensor([[float(k)]])
    return graphs


@pytest.fixture(scope="session")
def budget_model():
    """``budget_model(name)``: a PropertyModel with that budget's backbone configuration, seeded."""
    return _budget_model


def _budget_model(budget: str):
    import torch

    from backbones import build_backbone
    from backbones.heads import LinearHead
    from bench.model import PropertyModel
    from bench.run import budget_backbone_config

    torch.manual_seed(0)
    backbone = build_backbone("alignn", **budget_backbone_config("alignn", budget))
    return PropertyModel(backbone, LinearHead(backbone.embedding_dim))


@pytest.fixture
def record(benchmark):
    """Attach the conditions of a measurement (threads, load) to the saved benchmark JSON."""
    import os

    import torch

    def _record(**info):
        benchmark.extra_info.update({"torch_threads": torch.get_num_threads(), "load_1min": os.getloadavg()[0],
                                     **info})
    return _record
