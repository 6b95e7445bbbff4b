"""Every fine-tuning mode: after optimizer steps, frozen parameters (and frozen BatchNorm statistics) are
bit-identical and trainable ones changed."""

import pytest
import torch
from torch_geometric.data import Batch

from backbones import BACKBONES, build_backbone
from backbones.alignn import ALIGNN
from backbones.heads import LinearHead, MLPHead
from bench.finetune import MODES, apply_mode
from bench.graphs import build_graph
from bench.model import PropertyModel
from bench.train import param_groups

ALIGNN_TRAINABLE = {
    "all": lambda n: True,
    "last-layer": lambda n: n.startswith("head.linear."),
    "new-head": lambda n: n.startswith("head."),
    "2-body": lambda n: n.startswith(("head.", "backbone.gcn_layers.")) or ".node_update." in n,
    "3-body": lambda n: n.startswith("head.") or ".edge_update." in n,
    "all-but-embedding": lambda n: not n.startswith(("backbone.atom_embedding", "backbone.edge_embedding",
                                                     "backbone.angle_embedding")),
}
# atom-graph backbones: (embedding, message passing, readout) parameter prefixes; they have no 3-body part
ATOM_GRAPH_PARTS = {
    "cgcnn": ("backbone.embedding.", "backbone.convs.", "backbone.conv_to_fc."),
    "schnet": ("backbone.embedding.", "backbone.interactions.", "backbone.atomwise."),
}
TINY = {
    "alignn": dict(alignn_layers=2, gcn_layers=1, hidden_features=8, embedding_features=4),
    "cgcnn": dict(atom_features=8, conv_layers=2, hidden_features=8),
    "schnet": dict(hidden_features=8, num_filters=8, interactions=2, num_gaussians=10, readout_features=8),
}


def expected_trainable(backbone: str, mode: str, name: str) -> bool:
    if backbone == "alignn":
        return ALIGNN_TRAINABLE[mode](name)
    embedding, passing, readout = ATOM_GRAPH_PARTS[backbone]
    return {"all": True, "last-layer": name.startswith("head.linear."), "new-head": name.startswith("head."),
            "2-body": name.startswith(("head.", passing, readout)),
            "all-but-embedding": not name.startswith(embedding)}[mode]


def applicable(backbone: str) -> list[str]:
    return [m for m in MODES if not (backbone != "alignn" and m == "3-body")]


# backbones whose freezing is tested beside their own graph and weights
OWN_FREEZING_TESTS = {"chgnet": "tests/backbones/test_chgnet.py::test_mode_freezes_exactly_its_parameters"}


def test_every_registered_backbone_has_freezing_expectations():
    assert set(TINY) | set(OWN_FREEZING_TESTS) == set(BACKBONES)


@pytest.fixture(scope="module")
def batch(piezo_structures):
    graphs = [build_graph(s) for s in piezo_structures[:6]]
    for g in graphs:
        g.y = torch.randn(1, 1)
    return Batch.from_data_list(graphs)


@pytest.mark.parametrize("head_cls", [LinearHead, MLPHead])
@pytest.mark.parametrize(("backbone", "mode"), [(b, m) for b in TINY for m in applicable(b)])
def test_mode_freezes_exactly_its_parameters(backbone, mode, head_cls, batch):
    torch.manual_seed(0)
    trunk = build_backbone(backbone, **TINY[backbone])
    model = PropertyModel(trunk, head_cls(trunk.embedding_dim, 1), backbone)
    apply_mode(model, mode)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    # 2-body/3-body/all train parts that the final prediction reaches only through the unused last outputs;
    # the check below covers every parameter that receives a gradient.
    opt = torch.optim.AdamW(param_groups(model, 1e-2), lr=1e-2)
    model.train()
    for _ in range(3):
        opt.zero_grad()
        (model(batch) - batch.y).pow(2).mean().backward()
        opt.step()
    after = model.state_dict()
    names = dict(model.named_parameters())
    for name, p in names.items():
        should_train = expected_trainable(backbone, mode, name)
        assert p.requires_grad == should_train, name
        changed = not torch.equal(before[name], after[name])
        if not should_train:
            assert not changed, f"{mode}: frozen {name} changed"
        elif p.grad is not None and p.grad.abs().sum() > 0:
            assert changed, f"{mode}: trainable {name} did not change"
    # normalisation statistics of frozen modules are frozen too
    for name, buf in model.named_buffers():
        if name.endswith(("running_mean", "running_var")):
            owner = name.rsplit(".", 1)[0]
            frozen = not any(p.requires_grad for n, p in names.items() if n.startswith(owner + "."))
            if frozen:
                assert torch.equal(before[name], buf), f"{mode}: frozen statistics {name} changed"
    assert any(p.requires_grad for p in model.parameters())


def test_new_head_reinitialises_the_head():
    torch.manual_seed(0)
    model = PropertyModel(ALIGNN(alignn_layers=1, gcn_layers=1, hidden_features=8, embedding_features=4),
                          LinearHead(8))
    w = model.head.linear.weight.detach().clone()
    apply_mode(model, "new-head")
    assert not torch.equal(w, model.head.linear.weight)


def test_unknown_mode_lists_modes():
    model = PropertyModel(ALIGNN(alignn_layers=1, gcn_layers=1, hidden_features=8, embedding_features=4),
                          LinearHead(8))
    with pytest.raises(ValueError, match="known modes: all, last-layer"):
        apply_mode(model, "everything")


@pytest.mark.parametrize("backbone", ["cgcnn", "schnet"])
def test_three_body_mode_on_an_atom_graph_backbone_names_it(backbone):
    trunk = build_backbone(backbone, **TINY[backbone])
    model = PropertyModel(trunk, LinearHead(trunk.embedding_dim, 1), backbone)
    with pytest.raises(ValueError, match=f"fine-tuning mode 3-body .* backbone {backbone} has none"):
        apply_mode(model, "3-body")
