"""The ridge start of a fresh head (bench.head_init) and where the run configuration asks for it."""

import numpy as np
import pytest
import torch
from torch import nn
from torch_geometric.data import Data

from backbones.heads import LinearHead, MLPHead
from bench.head_init import ridge_head
from bench.model import PropertyModel


class _Mean(nn.Module):
    """A stand-in trunk: each graph's mean node feature."""

    def forward(self, batch):
        from torch_geometric.nn import global_mean_pool

        return global_mean_pool(batch.x, batch.batch, size=batch.num_graphs)


def _graphs(n=60, width=5, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=width)
    graphs = []
    for _ in range(n):
        x = torch.tensor(rng.normal(size=(3, width)), dtype=torch.float32)
        y = float(x.mean(0).numpy() @ w) * 4.0 + 10.0
        graphs.append(Data(x=x, y=torch.tensor([[y]]), num_nodes=3))
    return graphs


def test_ridge_head_recovers_a_linear_target_in_the_models_units():
    graphs = _graphs()
    y = np.array([g.y.item() for g in graphs])
    model = PropertyModel(_Mean(), LinearHead(5, 1), "toy")
    model.set_target_scaling(torch.tensor([y.mean()]), torch.tensor([y.std()]))
    before = model.head.linear.weight.clone()
    fit = ridge_head(model, graphs, batch_size=16)
    assert not torch.equal(before, model.head.linear.weight)
    assert fit["train_r2"] > 0.999 and fit["alpha"] <= 1.0
    from torch_geometric.data import Batch

    with torch.no_grad():
        pred = model.predict(Batch.from_data_list(graphs)).numpy().ravel()
    assert np.abs(pred - y).max() < 0.05 * y.std()


def test_ridge_head_refuses_a_head_that_is_not_one_linear_layer():
    model = PropertyModel(_Mean(), MLPHead(5, 1), "toy")
    with pytest.raises(ValueError, match="one linear layer"):
        ridge_head(model, _graphs(10))


def test_only_a_shipped_foundation_trunk_gets_the_ridge_start_and_its_lr(monkeypatch):
    from bench.budgets import get_budget
    from bench.run import resolve_config

    alignn = resolve_config("devi2024-ph", "ptft", "quick", 0, "cpu", pretrain={"source": "fe"})
    assert "head_init" not in alignn  # ALIGNN run keys are unchanged
    assert alignn["train"]["lr"] == get_budget("quick").lr
    pytest.importorskip("chgnet")
    chgnet = resolve_config("devi2024-ph", "ptft", "quick", 0, "cpu", backbone="chgnet", pretrain={"source": "mptrj"})
    assert chgnet["head_init"] == "ridge"
    assert chgnet["train"]["lr"] == pytest.approx(get_budget("quick").lr * 0.1)
    scratch = resolve_config("devi2024-ph", "scratch", "quick", 0, "cpu", backbone="chgnet")
    assert "head_init" not in scratch and scratch["train"]["lr"] == get_budget("quick").lr
