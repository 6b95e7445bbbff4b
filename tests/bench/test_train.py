"""The training loop: exact resume (mid-epoch too), optimizer groups, masked loss."""

import pytest
import torch

from backbones.alignn import ALIGNN
from backbones.heads import LinearHead
from bench.dataset import LabelledGraphs
from bench.graphs import build_graph
from bench.model import PropertyModel
from bench.train import TrainConfig, Trainer, masked_loss, param_groups


@pytest.fixture(scope="module")
def tiny_data(piezo_structures):
    graphs = [build_graph(s) for s in piezo_structures[:24]]
    for k, g in enumerate(graphs):
        g.y = torch.tensor([[float(len(piezo_structures[k])) / 10]])
    ys = [float(g.y) for g in graphs]
    import numpy as np

    return (LabelledGraphs([str(i) for i in range(16)], graphs[:16], np.array(ys[:16])),
            LabelledGraphs([str(i) for i in range(16, 24)], graphs[16:], np.array(ys[16:])))


def _model():
    torch.manual_seed(0)
    return PropertyModel(ALIGNN(alignn_layers=1, gcn_layers=1, hidden_features=8, embedding_features=4),
                         LinearHead(8))


class Crash(RuntimeError):
    pass


class CrashAfter:
    """A progress hook that kills training after ``n`` optimizer steps, like a kill -9 would."""

    def __init__(self, n):
        self.n = n

    def start(self, *a):
        pass

    def step(self, loss):
        self.n -= 1
        if self.n == 0:
            raise Crash

    def epoch_end(self, *a):
        pass

    def stop(self):
        pass


@pytest.mark.parametrize("crash_step", [5, 8])  # mid-epoch (4 steps per epoch) and at an epoch boundary
def test_resume_is_exact(tmp_path, tiny_data, crash_step):
    train, val = tiny_data
    cfg = TrainConfig(epochs=4, batch_size=4, lr=1e-2, seed=3, select="last", checkpoint_every_s=0.0)
    reference = _model()
    Trainer(reference, cfg, tmp_path / "ref").fit(train, val)

    crashed = _model()
    with pytest.raises(Crash):
        Trainer(crashed, cfg, tmp_path / "run", progress=CrashAfter(crash_step)).fit(train, val)
    resumed = _model()  # a new process: fresh weights, state comes from the checkpoint
    state = Trainer(resumed, cfg, tmp_path / "run").fit(train, val)
    assert state.epoch == 4 and len(state.history) == 4
    for (name, a), b in zip(reference.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_best_checkpoint_is_selected(tmp_path, tiny_data):
    train, val = tiny_data
    model = _model()
    state = Trainer(model, TrainConfig(epochs=3, batch_size=8, lr=1e-2, select="best"), tmp_path).fit(train, val)
    best = torch.load(tmp_path / "best.pt", weights_only=True)
    assert best["epoch"] == state.best_epoch
    assert all(torch.equal(a, b) for a, b in zip(best["model"].values(), model.state_dict().values()))


def test_early_stopping(tmp_path, tiny_data):
    train, val = tiny_data
    state = Trainer(_model(), TrainConfig(epochs=50, batch_size=8, lr=1e-6, patience=2), tmp_path).fit(train, val)
    assert state.stopped_early and state.epoch < 50


def test_no_weight_decay_on_biases_and_norms():
    decay, no_decay = param_groups(_model(), 1e-5)
    assert decay["weight_decay"] == 1e-5 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim == 2 for p in decay["params"]) and all(p.ndim == 1 for p in no_decay["params"])


def test_missing_labels_contribute_nothing():
    pred = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    target = torch.tensor([[0.0, float("nan")], [1.0, float("nan")]])
    loss = masked_loss(pred, target, "mse")
    loss.backward()
    assert loss.item() == pytest.approx((1 + 4) / 2)
    assert pred.grad[:, 1].abs().sum() == 0
