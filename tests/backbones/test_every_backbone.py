"""What every registered backbone must do: layer groups in the shared vocabulary covering every parameter
once, the group kinds it declares, invariance to atom order and periodic image, batching, gradients."""

import pytest
import torch
from torch_geometric.data import Batch

from backbones import BACKBONES, build_backbone, get_backbone_class
from backbones.heads import LinearHead, MLPHead
from bench.graphs import build_graph
from bench.model import PropertyModel
from bench.dataset import RuleGraphs
from bench.run import budget_backbone_config

VOCABULARY = ("embedding", "2body", "3body", "gcn", "readout")


def tiny(name: str):
    torch.manual_seed(0)
    return build_backbone(name, **budget_backbone_config(name, "smoke"))


def builder(name: str):
    """How ``name``'s input graph of one structure is made: the shared ALIGNN graph, or its own rule (CHGNet)."""
    rule = get_backbone_class(name).graph_rule
    return build_graph if isinstance(rule, str) else RuleGraphs(rule).get


@pytest.fixture(scope="module")
def graphs(piezo_structures):
    return lambda name: [builder(name)(s) for s in piezo_structures[:4]]


@pytest.mark.parametrize("name", list(BACKBONES))
def test_layer_groups_cover_every_parameter_once_in_the_vocabulary(name):
    backbone = tiny(name)
    groups = backbone.layer_groups()
    ids = [id(p) for g in groups.values() for p in g.parameters()]
    assert len(ids) == len(set(ids)) == len(list(backbone.parameters()))
    kinds = {g.split(".", 1)[0] for g in groups}
    assert kinds <= set(VOCABULARY), kinds
    assert kinds == set(get_backbone_class(name).group_kinds)  # what option checks rely on
    assert backbone.name == name


@pytest.mark.parametrize("name", list(BACKBONES))
def test_invariant_to_atom_order_and_periodic_image(name, piezo_structures):
    model = PropertyModel(tiny(name), LinearHead(tiny(name).embedding_dim), name).eval()
    build_graph = builder(name)
    s = max(piezo_structures, key=len).copy()
    ref = model(Batch.from_data_list([build_graph(s)]))
    # one atom moved to another periodic image, then all atoms by a lattice vector: the same crystal
    moved = s.copy()
    moved.translate_sites([0], [1.0, 0.0, -1.0], frac_coords=True, to_unit_cell=False)
    moved.translate_sites(list(range(len(s))), [0.0, 1.0, 0.0], frac_coords=True, to_unit_cell=False)
    assert not torch.allclose(torch.tensor(moved.frac_coords), torch.tensor(s.frac_coords))
    out = model(Batch.from_data_list([build_graph(moved)]))
    assert torch.allclose(ref, out, atol=1e-5)
    perm = torch.randperm(len(s), generator=torch.Generator().manual_seed(1)).tolist()
    assert perm != list(range(len(s)))
    shuffled = type(s).from_sites([s[i] for i in perm])
    assert torch.allclose(ref, model(Batch.from_data_list([build_graph(shuffled)])), atol=1e-5)
    # and a different structure does give a different output: the checks above can fail
    other = model(Batch.from_data_list([build_graph(piezo_structures[0])]))
    assert not torch.allclose(ref, other, atol=1e-5)


@pytest.mark.parametrize("name", list(BACKBONES))
def test_batched_equals_single_and_backward_reaches_the_trunk(name, graphs):
    graphs = graphs(name)
    backbone = tiny(name)
    model = PropertyModel(backbone, MLPHead(backbone.embedding_dim, 2, hidden=4), name).eval()
    batched = model(Batch.from_data_list(graphs))
    single = torch.cat([model(Batch.from_data_list([g])) for g in graphs])
    assert batched.shape == (len(graphs), 2)
    assert torch.allclose(batched, single, atol=1e-5)
    model.train()
    model(Batch.from_data_list(graphs)).sum().backward()
    unused = set(getattr(backbone, "unused_groups", ()))  # declared dead: checked to be so
    for group, module in backbone.layer_groups().items():
        grads = [p.grad for p in module.parameters()]
        if group in unused:
            assert all(g is None or g.abs().sum() == 0 for g in grads), f"{group} is declared unused"
            continue
        assert any(g is not None and g.abs().sum() > 0 for g in grads), f"{group} gets no gradient"
        assert all(g is None or torch.isfinite(g).all() for g in grads), group


@pytest.mark.parametrize("name", list(BACKBONES))
def test_architecture_roundtrip(name):
    model = PropertyModel(tiny(name), LinearHead(tiny(name).embedding_dim), name)
    clone = PropertyModel.from_architecture(model.architecture())
    clone.load_state_dict(model.state_dict())
    assert type(clone.backbone) is type(model.backbone) and clone.backbone.config() == model.backbone.config()
