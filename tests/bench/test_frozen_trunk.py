"""A frozen trunk is embedded once: the same training as running it in every step, and only when it is frozen."""

import numpy as np
import pytest
import torch

import bench.train as train_module
from backbones.alignn import ALIGNN
from backbones.heads import LinearHead, MLPHead
from bench.dataset import LabelledGraphs
from bench.finetune import apply_mode
from bench.frozen_trunk import embed_once, trunk_is_frozen
from bench.graphs import build_graph
from bench.model import PropertyModel
from bench.train import TrainConfig, Trainer, batches


@pytest.fixture(scope="module")
def tiny_data(piezo_structures):
    graphs = [build_graph(s) for s in piezo_structures[:20]]
    for k, g in enumerate(graphs):
        g.y = torch.tensor([[float(len(piezo_structures[k])) / 10]])
    ys = np.array([float(g.y) for g in graphs])
    return (LabelledGraphs([str(i) for i in range(14)], graphs[:14], ys[:14]),
            LabelledGraphs([str(i) for i in range(14, 20)], graphs[14:], ys[14:]))


def _model(head=LinearHead):
    torch.manual_seed(0)
    # BatchNorm in the trunk: in training mode it would give other embeddings than in eval mode
    return PropertyModel(ALIGNN(alignn_layers=1, gcn_layers=1, hidden_features=8, embedding_features=4),
                         head(8) if head is LinearHead else head(8, hidden=6))


def _fit(tmp_path, name, tiny_data, mode, head, cache: bool, monkeypatch):
    model = _model(head)
    apply_mode(model, mode)
    model.set_target_scaling(torch.tensor([0.5]), torch.tensor([0.3]))
    if not cache:
        monkeypatch.setattr(train_module, "trunk_is_frozen", lambda model: False)
    trainer = Trainer(model, TrainConfig(epochs=3, batch_size=4, lr=1e-2, seed=1), tmp_path / name)
    state = trainer.fit(*tiny_data)
    monkeypatch.undo()
    return model, state, trainer


@pytest.mark.parametrize("mode,head", [("new-head", LinearHead), ("last-layer", MLPHead)])
def test_embedding_once_trains_the_same_head(tmp_path, tiny_data, mode, head, monkeypatch):
    cached, st_cached, tr_cached = _fit(tmp_path, "cached", tiny_data, mode, head, True, monkeypatch)
    plain, st_plain, tr_plain = _fit(tmp_path, "plain", tiny_data, mode, head, False, monkeypatch)
    assert tr_cached.embedded_once and not tr_plain.embedded_once
    assert [h["train_loss"] for h in st_cached.history] == pytest.approx(
        [h["train_loss"] for h in st_plain.history], rel=1e-5)
    assert st_cached.best_epoch == st_plain.best_epoch
    for (name, a), b in zip(cached.state_dict().items(), plain.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-5), name
    # the saved model is the whole model: it predicts from graphs, trunk included
    test = next(batches(tiny_data[1].graphs, 6))
    assert torch.allclose(cached.predict(test), plain.predict(test), atol=1e-5)


@pytest.mark.parametrize("mode", ["all", "2-body", "3-body", "all-but-embedding"])
def test_a_trunk_that_trains_is_run_every_step(mode):
    model = _model()
    apply_mode(model, mode)
    assert not trunk_is_frozen(model)


def test_a_model_never_fine_tuned_is_not_frozen():
    assert not trunk_is_frozen(_model())  # scratch: everything trains


def test_frozen_parameters_alone_are_not_enough():
    """Parameters frozen by hand but the trunk left in training mode (its BatchNorm uses batch statistics):
    the embedding depends on the batch, so it must not be cached."""
    model = _model()
    for p in model.backbone.parameters():
        p.requires_grad_(False)
    assert not trunk_is_frozen(model)


def test_a_non_finite_embedding_names_the_structure(tiny_data):
    model = _model()
    apply_mode(model, "new-head")
    graphs = tiny_data[0].graphs[:5]
    real = model.backbone.forward

    def poisoned(batch):
        h = real(batch)
        h[2, 0] = float("nan")
        return h

    model.backbone.forward = poisoned
    with pytest.raises(ValueError, match="structure #2 is not finite"):
        embed_once(model, graphs, batch_size=5)
